package tusext_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/carcosa-dev/carcosa/internal/tusext"
)

// A PATCH handler verifies the chunk before the tus handler writes any of it.
func ExampleSpool() {
	verify := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Upload-Checksum")
			if h == "" {
				next.ServeHTTP(w, r)
				return
			}
			sum, err := tusext.ParseChecksum(h)
			if err != nil {
				http.Error(w, "bad Upload-Checksum", http.StatusBadRequest)
				return
			}
			body, err := tusext.Spool(r.Context(), r.Body, sum, os.TempDir(), 1<<20)
			switch {
			case errors.Is(err, tusext.ErrMismatch):
				http.Error(w, "checksum mismatch", tusext.StatusMismatch)
				return
			case errors.Is(err, tusext.ErrTooLarge):
				http.Error(w, "chunk too large", http.StatusRequestEntityTooLarge)
				return
			case err != nil: // the client went away, or the disk failed
				http.Error(w, "chunk not stored", http.StatusInternalServerError)
				return
			}
			defer body.Close()
			r.Body, r.ContentLength = body, body.Size()
			next.ServeHTTP(w, r)
		})
	}
	tus := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("stored %q\n", b)
		w.WriteHeader(http.StatusNoContent)
	})
	h := verify(tus)

	for _, header := range []string{
		"sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=", // sha1("hello")
		"sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	} {
		req := httptest.NewRequest(http.MethodPatch, "/files/1", strings.NewReader("hello"))
		req.Header.Set("Upload-Checksum", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// stored "hello"
	// 204
	// 460
}
