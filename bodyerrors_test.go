package carcosa_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// A checksum spool that cannot be written (here DataDir/tmp is a file, as
// a full disk would fail it) is the server's fault: 503, not a malformed
// request.
func TestTusSpoolFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(5000)
	loc := tb.tusStart(t, len(data))
	tmp := filepath.Join(tb.dataDir, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, body := tb.tusPatch(t, loc, "alice", 0, data, map[string]string{"Upload-Checksum": uploadChecksum("sha256", data)})
	e := wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	if strings.Contains(e.Error.Message, "multipart") || strings.Contains(e.Error.Message, "tmp") {
		t.Errorf("message %q", e.Error.Message)
	}
	// Once the disk is back, the same request goes through.
	os.Remove(tmp)
	os.Mkdir(tmp, 0o700)
	resp, body = tb.tusPatch(t, loc, "alice", 0, data, map[string]string{"Upload-Checksum": uploadChecksum("sha256", data)})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH after the disk came back: %d %s", resp.StatusCode, body)
	}
	tb.wantReady(t, tusID(loc), data)
}

// A fetched file whose body breaks off is a fetch failure, in the error
// and in the record; nothing speaks of a multipart body.
func TestUploadFromURLBodyBreaksOff(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/cut.txt", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "100000")
		w.Write(bytes.Repeat([]byte("some text\n"), 5000))
		panic(http.ErrAbortHandler) // the connection drops
	}))
	src := newFromURLSource(t, mux)
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Fetch = safefetch.Options{
			AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			AllowedPorts: []int{src.port},
		}
	})
	_, err := tb.router.UploadFromURL(t.Context(), "docs", src.URL+"/cut.txt", carcosa.FromURL{Owner: "alice"})
	var e *carcosa.Error
	if !errors.Is(err, carcosa.ErrURLFetch) || !errors.As(err, &e) {
		t.Fatalf("UploadFromURL of a body that breaks off: %v, want ErrURLFetch", err)
	}
	recs, err := tb.store.List(t.Context(), store.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].State != store.Rejected && recs[0].State != store.Failed {
		t.Fatalf("records: %+v", recs)
	}
	if recs[0].ErrorCode != e.Code || strings.Contains(recs[0].ErrorMessage, "multipart") {
		t.Fatalf("record's error %s %q, the call's %s", recs[0].ErrorCode, recs[0].ErrorMessage, e.Code)
	}
	wantNothingStored(t, tb, "alice")
}
