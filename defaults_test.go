package carcosa_test

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/transform"
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

// TestDataDirModes: what a Router keeps under DataDir (the database and its
// journal, stored files and their attributes, staged uploads, cached
// transforms) is readable by its own user only: files 0600, directories 0700.
func TestDataDirModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	r, err := carcosa.New(carcosa.Config{BasePath: base, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mw := func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
		return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
	}
	carcosa.Handle(r, "files", carcosa.Route[struct{}, struct{}]{Accept: []string{"any"}, MaxFileSize: 1 << 20, Middleware: mw})
	carcosa.Handle(r, "gallery", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 1 << 20, Public: true, Middleware: mw,
		Presets: map[string]transform.Spec{"small": {Width: 32}},
	})
	mux := http.NewServeMux()
	mux.Handle(base+"/", r)
	srv := httptest.NewServer(mux)
	defer func() { srv.Close(); r.Close() }()
	tb := &testBundle{router: r, server: srv}

	if _, resp, body := tb.tusUpload(t, "alice", "files", "a.bin", randomBytes(1000), 400); resp.StatusCode != 204 {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	// An upload left half done keeps its staged files.
	resp, body := tb.tusCreate(t, "alice", 100, tusMetadata("route", "files", "filename", "b.bin"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("tus create: %d %s", resp.StatusCode, body)
	}
	tb.tusPatch(t, resp.Header.Get("Location"), "alice", 0, randomBytes(50), nil)
	resp, body = tb.multipartUpload(t, "gallery", "p.png", pngBytes(t, 100))
	if resp.StatusCode != 201 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	tb.fetch(t, tb.record(t, uploadedID(t, body), "alice").URL+"?preset=small")

	seen := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		seen++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v", strings.TrimPrefix(path, dir), fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 10 {
		t.Fatalf("only %d entries under DataDir", seen)
	}
}
