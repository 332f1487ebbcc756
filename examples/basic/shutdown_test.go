package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/sqlite"
)

// A signal (ctx done) while an upload is in flight drains the server: the
// upload's request finishes, its file is ready in the store, and run
// returns without error. -access-log logs the request, by path and
// upload ID.
func TestShutdownFinishesUploadInFlight(t *testing.T) {
	t.Parallel()
	data := testenv.RandomBytes(256 << 10)
	o := options{Addr: "127.0.0.1:0", Data: t.TempDir(), AccessLog: true}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, log, o, ready) }()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-errc:
		t.Fatalf("the server did not start: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not start within 30s\n%s", logs.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()

	req, _ := http.NewRequest(http.MethodPost, base+"/api/uploads/tus/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(data)))
	req.Header.Set("Upload-Metadata", "route "+b64("files")+",filename "+b64("a.bin"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("creation: %s", resp.Status)
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]

	// The PATCH sends half its body, the server is told to stop, then
	// the rest follows.
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	pr, pw := io.Pipe()
	req, _ = http.NewRequest(http.MethodPatch, loc, pr)
	req.ContentLength = int64(len(data))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	patched := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("PATCH: %v", err)
			patched <- nil
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		patched <- resp
	}()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	// Stopped once the server is reading the body: a connection whose
	// request has not begun is closed by Shutdown, as idle.
	deadline := time.Now().Add(10 * time.Second)
	for staged(o.Data, id) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the PATCH's bytes did not reach the staging area within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "draining") {
		if time.Now().After(deadline) {
			t.Fatal("the server did not start draining within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // Shutdown is under way
	if _, err := pw.Write(data[len(data)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	resp = <-patched
	if resp == nil {
		t.FailNow()
	}
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("PATCH during shutdown: %s, Upload-State %q", resp.Status, resp.Header.Get("Upload-State"))
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the server did not stop within 40s")
	}

	st, err := sqlite.Open(filepath.Join(o.Data, "carcosa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if rec.State != store.Ready || rec.SHA256 != hex.EncodeToString(sum[:]) || rec.Size != int64(len(data)) {
		t.Fatalf("record %+v; want ready with the data's SHA-256", rec)
	}
	if _, err := os.Stat(filepath.Join(o.Data, "files", filepath.FromSlash(rec.Key))); err != nil {
		t.Fatalf("the file is not in the bucket: %v", err)
	}
	want := "msg=request method=PATCH path=/api/uploads/tus/" + id + " status=204"
	if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "upload_id="+id) {
		t.Errorf("the log has no access line %q with upload_id=%s", want, id)
	}
}

// staged is how many bytes of upload id the local staging area under
// dataDir holds.
func staged(dataDir, id string) int64 {
	var n int64
	filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) == id {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
