package carcosa_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// s3Bucket returns the URL of a new bucket on the test S3 endpoint,
// removed when the test ends.
func s3Bucket(t *testing.T) string {
	t.Helper()
	endpoint := testenv.S3Endpoint(t)
	return testenv.S3URL(endpoint, testenv.TempS3Bucket(t, endpoint), "")
}

type presignBundle struct {
	r    *carcosa.Router
	srv  *httptest.Server
	st   storage.Storage
	db   *memstore.Store
	user string // X-User of post; "alice" by default
}

func newPresignBundle(t *testing.T, bucketURL string, configure ...func(*carcosa.Config)) *presignBundle {
	t.Helper()
	st, err := storage.Open(t.Context(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	db := memstore.New()
	cfg := carcosa.Config{DataDir: t.TempDir(), Storage: st, Store: db, Logger: slog.New(slog.DiscardHandler)}
	for _, c := range configure {
		c(&cfg)
	}
	r, err := carcosa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	carcosa.Handle(r, "images", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 1 << 20, MaxFiles: 3,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			u := req.HTTP.Header.Get("X-User")
			if u == "" {
				return carcosa.Grant[struct{}]{}, carcosa.Unauthorized("send X-User")
			}
			o, tenant, _ := strings.Cut(u, "@")
			return carcosa.Grant[struct{}]{Owner: o, Tenant: tenant}, nil
		},
	})
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.Close()
		r.Close()
		st.Close()
	})
	return &presignBundle{r: r, srv: srv, st: st, db: db}
}

func (pb *presignBundle) post(t *testing.T, path string, body any) (*http.Response, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", pb.srv.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User", cmp.Or(pb.user, "alice"))
	resp, err := pb.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

type presigned struct {
	ID      string            `json:"id"`
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
}

func (pb *presignBundle) presign(t *testing.T, files ...map[string]any) []presigned {
	t.Helper()
	resp, body := pb.post(t, "/routes/images/presign", map[string]any{"files": files})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("presign: %d %s", resp.StatusCode, body)
	}
	var out struct{ Uploads []presigned }
	if err := json.Unmarshal(body, &out); err != nil || len(out.Uploads) != len(files) {
		t.Fatalf("presign answer %s: %v", body, err)
	}
	return out.Uploads
}

func put(t *testing.T, p presigned, data []byte) {
	t.Helper()
	req, _ := http.NewRequest(p.Method, p.URL, bytes.NewReader(data))
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT to the bucket: %d %s", resp.StatusCode, b)
	}
}

// A presigned upload: the client PUTs straight into the bucket, the server
// verifies on completion. Files that differ from their declaration end
// rejected with their object removed.
func TestPresignedUploads(t *testing.T) {
	pb := newPresignBundle(t, s3Bucket(t))
	img := pngBytes(t, 32)
	junk := make([]byte, 2000)
	rand.Read(junk)

	ups := pb.presign(t,
		map[string]any{"name": "a.png", "size": len(img), "type": "image/png"},
		map[string]any{"name": "b.png", "size": len(img), "type": "image/png"},
		map[string]any{"name": "c.png", "size": len(junk), "type": "image/png"},
	)
	// Completing before the PUT is refused, and changes nothing.
	resp, body := pb.post(t, "/uploads/"+ups[0].ID+"/complete", nil)
	wantError(t, resp, body, http.StatusConflict, "not_uploaded")

	put(t, ups[0], img)
	put(t, ups[1], append(img, 1, 2, 3)) // not the declared size
	put(t, ups[2], junk)                 // not the declared type

	resp, body = pb.post(t, "/uploads/"+ups[0].ID+"/complete", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}
	var rec struct{ State, SHA256, URL, Type string }
	json.Unmarshal(body, &rec)
	if rec.State != "ready" || rec.SHA256 != sha(img) || rec.Type != "image/png" {
		t.Fatalf("record %s", body)
	}
	got, err := http.Get(pb.srv.URL + rec.URL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(served, img) {
		t.Fatalf("served %d bytes, want the %d uploaded", len(served), len(img))
	}
	// Completing again answers the same record.
	if resp, body := pb.post(t, "/uploads/"+ups[0].ID+"/complete", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("second complete: %d %s", resp.StatusCode, body)
	}

	resp, body = pb.post(t, "/uploads/"+ups[1].ID+"/complete", nil)
	wantError(t, resp, body, http.StatusUnprocessableEntity, "size_mismatch")
	resp, body = pb.post(t, "/uploads/"+ups[2].ID+"/complete", nil)
	wantError(t, resp, body, http.StatusUnsupportedMediaType, "type_not_allowed")
	for _, p := range ups[1:] {
		rec, err := pb.db.Get(t.Context(), p.ID)
		if err != nil || rec.State != store.Rejected {
			t.Errorf("upload %s: %v, state %v; want rejected", p.ID, err, rec)
		}
		if _, err := pb.st.Open(t.Context(), rec.Key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the refused object %s is still stored: %v", rec.Key, err)
		}
	}
}

func TestPresignRefusals(t *testing.T) {
	pb := newPresignBundle(t, s3Bucket(t))
	for _, tc := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"files": []map[string]any{{"name": "a.png", "size": 2 << 20, "type": "image/png"}}}, 413, "too_large"},
		{map[string]any{"files": []map[string]any{{"name": "a.zip", "size": 10, "type": "application/zip"}}}, 415, "type_not_allowed"},
		{map[string]any{"files": []map[string]any{{"name": "a.png", "size": 0, "type": "image/png"}}}, 400, "bad_request"},
		{map[string]any{"files": []map[string]any{}}, 400, "too_few_files"},
		{map[string]any{"files": make([]map[string]any, 4)}, 400, "too_many_files"},
		{map[string]any{"files": []map[string]any{}, "extra": 1}, 400, "bad_request"},
	} {
		resp, body := pb.post(t, "/routes/images/presign", tc.body)
		wantError(t, resp, body, tc.status, tc.code)
	}
	if recs, _ := pb.db.List(t.Context(), store.Query{State: store.Uploading}); len(recs) != 0 {
		t.Errorf("refused presigns left %d records", len(recs))
	}
}

// Buckets that cannot sign URLs say so; presigned uploads never completed
// are removed once their URL has expired.
func TestPresignUnsupportedAndExpiry(t *testing.T) {
	pb := newPresignBundle(t, "mem://")
	resp, body := pb.post(t, "/routes/images/presign", map[string]any{"files": []map[string]any{{"name": "a.png", "size": 10, "type": "image/png"}}})
	wantError(t, resp, body, http.StatusNotImplemented, "presign_unsupported")

	ctx := t.Context()
	old := time.Now().Add(-3 * time.Hour)
	for i, at := range []time.Time{old, time.Now()} {
		id := fmt.Sprintf("%032d", i+1)
		key := "images/" + id + ".png"
		if err := pb.db.Create(ctx, &store.Upload{ID: id, Route: "images", Owner: "alice", Via: "presign",
			Name: "a.png", ClaimedType: "image/png", Size: 3, Key: key, State: store.Uploading, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := pb.st.Put(ctx, key, strings.NewReader("abc"), nil); err != nil {
			t.Fatal(err)
		}
	}
	// The sweep runs on the first request; Recover runs it now.
	r := pb.srv.Config.Handler.(*carcosa.Router)
	if err := r.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	expired, _ := pb.db.Get(ctx, fmt.Sprintf("%032d", 1))
	if expired.State != store.Rejected || expired.ErrorCode != "upload_expired" {
		t.Errorf("expired upload: %s %s", expired.State, expired.ErrorCode)
	}
	if _, err := pb.st.Open(ctx, expired.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the expired upload's object is still stored: %v", err)
	}
	fresh, _ := pb.db.Get(ctx, fmt.Sprintf("%032d", 2))
	if fresh.State != store.Uploading {
		t.Errorf("a fresh presigned upload was touched: %s", fresh.State)
	}
}

// TestCompleteRacesDelete: a presigned upload's completion and its Delete
// at the same moment. Whichever runs second finds what the first left: the
// completion answers the ready record or 404, never nothing, and the
// upload ends deleted.
func TestCompleteRacesDelete(t *testing.T) {
	pb := newPresignBundle(t, "mem://")
	r := pb.srv.Config.Handler.(*carcosa.Router)
	ctx := t.Context()
	img := pngBytes(t, 8)
	for i := range 40 {
		id := fmt.Sprintf("%032d", i+1)
		key := "images/" + id + ".png"
		if err := pb.db.Create(ctx, &store.Upload{ID: id, Route: "images", Owner: "alice", Via: "presign",
			Name: "a.png", ClaimedType: "image/png", Size: int64(len(img)), Key: key, State: store.Uploading}); err != nil {
			t.Fatal(err)
		}
		if err := pb.st.Put(ctx, key, bytes.NewReader(img), nil); err != nil {
			t.Fatal(err)
		}
		var (
			wg        sync.WaitGroup
			start     = make(chan struct{})
			resp      *http.Response
			body      []byte
			postErr   error
			deleteErr error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", pb.srv.URL+"/uploads/"+id+"/complete", nil)
			req.Header.Set("X-User", "alice")
			<-start
			if resp, postErr = pb.srv.Client().Do(req); postErr == nil {
				body, postErr = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			deleteErr = r.Delete(ctx, id)
		}()
		close(start)
		wg.Wait()
		if postErr != nil {
			t.Fatalf("complete: %v", postErr)
		}
		if deleteErr != nil {
			t.Fatalf("Delete: %v", deleteErr)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if !strings.Contains(string(body), `"state":"ready"`) {
				t.Fatalf("complete: %s", body)
			}
		case http.StatusNotFound:
		default:
			t.Fatalf("complete: %d %s", resp.StatusCode, body)
		}
		if _, err := pb.db.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("record after Delete: %v", err)
		}
		if _, err := pb.st.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("object after Delete: %v", err)
		}
	}
}
