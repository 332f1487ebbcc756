package uploadthing_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/compat/uploadthing"
)

// An UploadThing endpoint beside the Router: UploadThing's React client,
// given url "/api/uploadthing", reads the route configs, then uploads to
// the route named by its slug.
func Example() {
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	router, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()
	carcosa.Handle(router, "avatars", carcosa.Route[struct{}, struct{}]{
		Accept:      []string{"image"},
		MaxFileSize: 4 << 20,
		OnComplete: func(ctx context.Context, _ struct{}, f carcosa.File) (any, error) {
			return map[string]string{"id": f.ID}, nil // the client's serverData
		},
	})
	ut, err := uploadthing.New(router, nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/uploads/", router)
	mux.Handle("/api/uploadthing", ut)
	mux.Handle("/api/uploadthing/", ut)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/uploadthing")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	// Output:
	// [{"slug":"avatars","config":{"image":{"maxFileSize":"4MB","maxFileCount":1,"minFileCount":1,"contentDisposition":"inline"}}}]
}
