package carcosa_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// faultyClient is a client that retries what Carcosa says is retryable,
// and checks that nothing else goes wrong.
type faultyClient struct {
	t       *testing.T
	c       *http.Client
	base    string
	mu      sync.Mutex
	retries int
}

// send does a request, retrying while the answer is 503 unavailable (with
// Retry-After) or the connection breaks. Any other error status fails the
// test.
func (fc *faultyClient) send(newReq func() *http.Request, want ...int) (*http.Response, []byte) {
	fc.t.Helper()
	for range 100 {
		resp, err := fc.c.Do(newReq())
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			// A broken response: a read from storage failed after the
			// status was sent.
			fc.retried()
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			json.Unmarshal(body, &e)
			if resp.Request.Method == http.MethodHead {
				e.Error.Code = "unavailable" // a HEAD answer has no body
			}
			if e.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
				fc.t.Fatalf("503 with code %q, Retry-After %q", e.Error.Code, resp.Header.Get("Retry-After"))
			}
			fc.retried()
			continue
		}
		for _, w := range want {
			if resp.StatusCode == w {
				return resp, body
			}
		}
		fc.t.Fatalf("%s: %d %s", newReq().Method, resp.StatusCode, body)
	}
	fc.t.Fatal("still failing after 100 tries")
	return nil, nil
}

func (fc *faultyClient) retried() {
	fc.mu.Lock()
	fc.retries++
	fc.mu.Unlock()
}

func (fc *faultyClient) tus(data []byte, name string) string {
	fc.t.Helper()
	resp, _ := fc.send(func() *http.Request {
		req, _ := http.NewRequest("POST", fc.base+"/tus/", nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("X-User", "alice")
		req.Header.Set("Upload-Length", fmt.Sprint(len(data)))
		req.Header.Set("Upload-Metadata", tusMetadata("route", "files", "filename", name))
		return req
	}, http.StatusCreated)
	loc := resp.Header.Get("Location")
	offset := 0
	for range 100 {
		req, _ := http.NewRequest("PATCH", loc, bytes.NewReader(data[offset:]))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("X-User", "alice")
		req.Header.Set("Upload-Offset", fmt.Sprint(offset))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := fc.c.Do(req)
		if err != nil {
			fc.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent && resp.Header.Get("Upload-State") == "ready" {
			return loc[strings.LastIndexByte(loc, '/')+1:]
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			fc.t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
		}
		fc.retried()
		// As tus-js-client does: ask where the upload stands, then go on.
		resp, _ = fc.send(func() *http.Request {
			req, _ := http.NewRequest("HEAD", loc, nil)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("X-User", "alice")
			return req
		}, http.StatusOK)
		if resp.Header.Get("Upload-State") == "ready" {
			return loc[strings.LastIndexByte(loc, '/')+1:]
		}
		fmt.Sscan(resp.Header.Get("Upload-Offset"), &offset)
	}
	fc.t.Fatal("tus upload still failing after 100 tries")
	return ""
}

func (fc *faultyClient) multipart(data []byte, name string) string {
	fc.t.Helper()
	var ctype string
	var raw []byte
	{
		body, ct := multipartBody(fc.t, part{field: "file", name: name, data: data})
		raw, _ = io.ReadAll(body)
		ctype = ct
	}
	_, body := fc.send(func() *http.Request {
		req, _ := http.NewRequest("POST", fc.base+"/routes/files", bytes.NewReader(raw))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-User", "alice")
		return req
	}, http.StatusCreated)
	var out struct {
		Uploads []struct{ ID string } `json:"uploads"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Uploads) != 1 {
		fc.t.Fatalf("multipart answer %s: %v", body, err)
	}
	return out.Uploads[0].ID
}

// TestChaosFaultyStorage runs uploads and downloads against a storage that
// fails one operation in ten, reads breaking midway included. Clients see
// only retryable errors, their retries succeed, and no partial file is ever
// ready or served.
func TestChaosFaultyStorage(t *testing.T) {
	dir := t.TempDir()
	inner, err := storage.Open(context.Background(), "file://"+filepath.ToSlash(filepath.Join(dir, "files")))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	faulty := storagetest.Faulty(inner, 0.1, time.Now().UnixNano())
	st := memstore.New()
	r, err := carcosa.New(carcosa.Config{DataDir: dir, Store: st, Storage: faulty, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	carcosa.Handle(r, "files", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"any"}, MaxFileSize: 8 << 20,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	fc := &faultyClient{t: t, c: srv.Client(), base: srv.URL}

	const n = 30
	files := make([][]byte, 2*n)
	ids := make([]string, 2*n)
	var wg sync.WaitGroup
	for i := range files {
		files[i] = testenv.RandomBytes(256<<10 + i*4096)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				ids[i] = fc.tus(files[i], fmt.Sprintf("t%d.bin", i))
			} else {
				ids[i] = fc.multipart(files[i], fmt.Sprintf("m%d.bin", i))
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Every file downloads whole, with the right bytes, however many tries
	// it takes; a broken read is never a short success.
	for i, id := range ids {
		_, body := fc.send(func() *http.Request {
			req, _ := http.NewRequest("GET", srv.URL+"/uploads/"+id, nil)
			req.Header.Set("X-User", "alice")
			return req
		}, http.StatusOK)
		var rec struct{ State, URL, SHA256 string }
		json.Unmarshal(body, &rec)
		want := sha256.Sum256(files[i])
		if rec.State != "ready" || rec.SHA256 != hex.EncodeToString(want[:]) {
			t.Fatalf("upload %d: %s %s, want ready %x", i, rec.State, rec.SHA256, want)
		}
		_, got := fc.send(func() *http.Request {
			req, _ := http.NewRequest("GET", srv.URL+rec.URL, nil)
			return req
		}, http.StatusOK)
		if !bytes.Equal(got, files[i]) {
			t.Fatalf("upload %d: served %d bytes that differ from the %d sent", i, len(got), len(files[i]))
		}
	}
	if faulty.Injected() == 0 {
		t.Fatal("no fault was injected")
	}
	t.Logf("%d faults injected, %d retries", faulty.Injected(), fc.retries)

	// Storage holds exactly the ready files' bytes: no partial object, none
	// left behind by a failed attempt.
	ready := map[string]string{}
	for _, s := range []store.State{store.Uploading, store.Processing, store.Ready, store.Failed, store.Rejected} {
		recs, err := st.List(context.Background(), store.Query{State: s, Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			switch s {
			case store.Ready:
				ready[rec.Key] = rec.SHA256
			case store.Uploading, store.Processing:
				t.Errorf("upload %s is still %s", rec.ID, s)
			}
		}
	}
	if len(ready) != 2*n {
		t.Errorf("%d ready uploads, want %d", len(ready), 2*n)
	}
	it := inner.Blob().List(&blob.ListOptions{})
	seen := 0
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want, ok := ready[obj.Key]
		if !ok {
			t.Errorf("storage holds %s, which is no ready upload's", obj.Key)
			continue
		}
		seen++
		b, err := inner.Blob().ReadAll(context.Background(), obj.Key)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s: stored bytes differ from the record's SHA-256", obj.Key)
		}
	}
	if seen != len(ready) {
		t.Errorf("storage holds %d of the %d ready files", seen, len(ready))
	}
}
