package carcosa_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
)

// TestEmbeddedDefaults runs a tus upload on the defaults a Router opens by
// itself: SQLite and the file system under DataDir. The finished file is
// moved, not copied, out of the staging area, and records survive a restart.
func TestEmbeddedDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func() (*carcosa.Router, *httptest.Server) {
		r, err := carcosa.New(carcosa.Config{BasePath: base, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		carcosa.Handle(r, "files", carcosa.Route[struct{}, struct{}]{
			Accept:      []string{"any"},
			MaxFileSize: 8 << 20,
			Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
				return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
			},
		})
		mux := http.NewServeMux()
		mux.Handle(base+"/", r)
		return r, httptest.NewServer(mux)
	}
	r, srv := start()
	tb := &testBundle{router: r, server: srv}
	data := randomBytes(5<<20 + 1)
	id, resp, body := tb.tusUpload(t, "alice", "files", "big.bin", data, 2<<20)
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.record(t, id, "alice")
	if rec.State != "ready" || rec.SHA256 != sha(data) {
		t.Fatalf("record = %+v", rec)
	}
	obj := filepath.Join(dir, "files", filepath.FromSlash(rec.Key))
	if b, err := os.ReadFile(obj); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("stored object: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "tus", id+"*"))
	if len(left) != 0 {
		t.Fatalf("staging keeps %v", left)
	}
	srv.Close()
	r.Close()

	r, srv = start()
	defer func() { srv.Close(); r.Close() }()
	tb = &testBundle{router: r, server: srv}
	rec2 := tb.record(t, id, "alice")
	if rec2.SHA256 != rec.SHA256 || rec2.Key != rec.Key {
		t.Fatalf("after restart: %+v", rec2)
	}
	if !bytes.Equal(tb.fetch(t, rec2.URL), data) {
		t.Fatal("served bytes differ after restart")
	}
	if !strings.HasPrefix(rec2.Key, "files/"+id) {
		t.Fatalf("key %q", rec2.Key)
	}
}
