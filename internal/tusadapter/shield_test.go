package tusadapter

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// isShielded reports whether a tus request holds upload id's lock
// shielded.
func (s *shieldedLocker) isShielded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.held {
		if k.id == id && l.shielded.Load() {
			return true
		}
	}
	return false
}

// holding is how many locks tus requests hold.
func (s *shieldedLocker) holding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// fakeHost admits every caller as alice on route "files" and finishes an
// upload by marking it processing, noting whether its lock was shielded then.
type fakeHost struct {
	h     *Handler
	store store.Store

	mu       sync.Mutex
	shielded map[string]bool // upload → shielded while it was finished
}

func (f *fakeHost) MaxFileSize(route string) (int64, bool) { return 1 << 20, route == "files" }

func (f *fakeHost) Admit(_ context.Context, _ *http.Request, route string, _ []byte, _ File) (Grant, error) {
	if route != "files" {
		return Grant{}, errors.New("no such route")
	}
	return Grant{Owner: "alice"}, nil
}

func (f *fakeHost) Authorize(req *http.Request, id string) (*store.Upload, error) {
	return f.store.Get(req.Context(), id)
}

func (f *fakeHost) LimitOwner(context.Context, Grant) error                     { return nil }
func (f *fakeHost) Reserve(context.Context, string, int64, Grant, string) error { return nil }
func (f *fakeHost) ReleaseQuota(context.Context, string)                        {}

func (f *fakeHost) Create(ctx context.Context, rec *store.Upload, _ string) error {
	return f.store.Create(ctx, rec)
}

func (f *fakeHost) InBackground(string, int64) bool { return false }

func (f *fakeHost) Finish(ctx context.Context, id string) (*store.Upload, error) {
	f.mu.Lock()
	f.shielded[id] = f.h.locks.isShielded(id)
	f.mu.Unlock()
	return f.store.Update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		return nil
	})
}

func (f *fakeHost) FinishLocked(ctx context.Context, id string) (*store.Upload, error) {
	unlock, err := f.h.LockUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return f.Finish(ctx, id)
}

func (f *fakeHost) ProcessLater(ctx context.Context, id string) (*store.Upload, error) {
	return f.Finish(ctx, id)
}

func (f *fakeHost) ProcessContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}

func (f *fakeHost) Fail(context.Context, *store.Upload, error) {}

func (f *fakeHost) RemoveStaged(ctx context.Context, id string) { f.h.staging.Remove(ctx, id) }

func (f *fakeHost) DropRecord(ctx context.Context, id string) error { return f.store.Delete(ctx, id) }

func (f *fakeHost) Expires(created time.Time, _ bool) time.Time { return created.Add(time.Hour) }

func (f *fakeHost) Expired(context.Context, *store.Upload, time.Time) bool { return false }

func (f *fakeHost) Expire(context.Context, *store.Upload) error { return nil }

func (f *fakeHost) Progress(*store.Upload, int64, float64) {}

func newTestHandler(t *testing.T) (*fakeHost, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	f := &fakeHost{store: memstore.New(), shielded: make(map[string]bool)}
	h, err := New(Options{
		BasePath:    "/",
		IdleTimeout: time.Minute,
		DataDir:     dir,
		TmpDir:      dir,
		Store:       f.store,
		Log:         slog.New(slog.DiscardHandler),
		Host:        f,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return f, srv
}

// tusDo sends a tus request and returns its response, whose body it has
// read.
func tusDo(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// create creates an upload of body's length, sending body with the
// creation unless it is empty, and returns the upload's ID.
func create(t *testing.T, srv *httptest.Server, body string, hdr map[string]string) string {
	t.Helper()
	h := map[string]string{
		"Upload-Length":   strconv.Itoa(len(body)),
		"Upload-Metadata": "route " + base64.StdEncoding.EncodeToString([]byte("files")),
	}
	if body != "" {
		h["Content-Type"] = "application/offset+octet-stream"
	}
	for k, v := range hdr {
		h[k] = v
	}
	resp := tusDo(t, srv, http.MethodPost, "/tus/", h, body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creation: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	return loc[strings.LastIndex(loc, "/")+1:]
}

// A request that finishes an upload shields the lock it holds while it
// finishes it, and leaves nothing behind: not after a PATCH, a creation
// with upload or a final concatenation (which holds no lock of the final
// upload, and shields none).
func TestFinishShieldsOnlyItsOwnLockAndLeavesNone(t *testing.T) {
	f, srv := newTestHandler(t)

	patched := create(t, srv, "", map[string]string{"Upload-Length": "5"})
	resp := tusDo(t, srv, http.MethodPatch, "/tus/"+patched, map[string]string{
		"Content-Type":  "application/offset+octet-stream",
		"Upload-Offset": "0",
	}, "hello")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}

	withUpload := create(t, srv, "hello", nil)

	partial := map[string]string{"Upload-Concat": "partial"}
	p1 := create(t, srv, "hel", partial)
	p2 := create(t, srv, "lo", partial)
	resp = tusDo(t, srv, http.MethodPost, "/tus/", map[string]string{
		"Upload-Concat":   "final;/tus/" + p1 + " /tus/" + p2,
		"Upload-Metadata": "route " + base64.StdEncoding.EncodeToString([]byte("files")),
	}, "")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("concatenation: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	final := loc[strings.LastIndex(loc, "/")+1:]

	f.mu.Lock()
	defer f.mu.Unlock()
	for id, want := range map[string]bool{patched: true, withUpload: true, final: false} {
		got, finished := f.shielded[id]
		if !finished {
			t.Errorf("upload %s was not finished", id)
		} else if got != want {
			t.Errorf("upload %s: shielded while finishing = %v, want %v", id, got, want)
		}
		if f.h.locks.isShielded(id) {
			t.Errorf("upload %s is still shielded", id)
		}
	}
	if n := f.h.locks.holding(); n != 0 {
		t.Errorf("%d locks are still held by requests", n)
	}
}

// A shielded holder is not asked to let go; once it unlocks, the waiter
// has the lock, and the next holder is asked again.
func TestShieldedLockIgnoresWaitersUntilUnlocked(t *testing.T) {
	s := newShieldedLocker(memorylocker.New())
	req := httptest.NewRequest(http.MethodPatch, "/tus/x", nil)
	ctx := context.WithValue(context.Background(), ctxKey{}, req)

	holder, _ := s.NewLock("x")
	asked := make(chan struct{}, 4)
	if err := holder.Lock(ctx, func() { asked <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if s.shield(httptest.NewRequest(http.MethodPatch, "/tus/x", nil), "x") {
		t.Fatal("another request's shield found this request's lock")
	}
	if !s.shield(req, "x") {
		t.Fatal("the request's own lock was not found")
	}

	waiter, _ := s.NewLock("x")
	wctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := waiter.Lock(wctx, func() {})
	cancel()
	if !errors.Is(err, tusd.ErrLockTimeout) {
		t.Fatalf("waiting for a shielded lock: %v", err)
	}
	if len(asked) != 0 {
		t.Fatal("the shielded holder was asked to let go")
	}
	if err := holder.Unlock(); err != nil {
		t.Fatal(err)
	}
	if s.holding() != 0 || s.isShielded("x") {
		t.Fatal("an unlocked lock is still known")
	}

	// The same request locks again: its new lock is not shielded.
	again, _ := s.NewLock("x")
	if err := again.Lock(ctx, func() { asked <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		w, _ := s.NewLock("x")
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := w.Lock(wctx, func() {})
		if err == nil {
			err = w.Unlock()
		}
		done <- err
	}()
	<-asked
	if err := again.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiter did not get the lock: %v", err)
	}
}
