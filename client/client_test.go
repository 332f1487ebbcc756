package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

func TestUploadSmall(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t, "alice", nil)
	data := []byte("eggs\nmilk\nflour\n")
	u, err := c.Upload(t.Context(), "notes", "list.txt", bytes.NewReader(data), int64(len(data)), &UploadOptions{
		Input: map[string]string{"topic": "groceries"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.State != StateReady || u.Name != "list.txt" || u.Size != int64(len(data)) || u.SHA256 != sha256Hex(data) || u.Type != "text/plain" {
		t.Fatalf("record %+v", u)
	}
	if string(u.Result) != `{"topic":"groceries"}` {
		t.Errorf("result %s", u.Result)
	}
	// The input reached OnComplete.
	done := tb.completions()
	if len(done) != 1 || done[0].meta.Topic != "groceries" || done[0].file.ID != u.ID {
		t.Fatalf("completions %+v", done)
	}
	if !strings.HasPrefix(u.URL, tb.server.URL+base+"/files/") {
		t.Fatalf("URL %q is not absolute under the base", u.URL)
	}
	if sum, n := fetchSHA256(t, u.URL, "alice"); sum != u.SHA256 || n != int64(len(data)) {
		t.Errorf("served %d bytes, SHA-256 %s", n, sum)
	}
}

func TestUploadFileChunks(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t, "alice", &Options{ChunkSize: 64 << 10})
	data := make([]byte, 1<<20+123)
	io.ReadFull(newSeededReader(1, int64(len(data))), data)
	path := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var last, calls atomic.Int64
	var backwards atomic.Bool
	var created string
	u, err := c.UploadFile(t.Context(), "files", path, &UploadOptions{
		OnProgress: func(sent, total int64) {
			if total != int64(len(data)) {
				t.Errorf("progress total %d", total)
			}
			if sent < last.Swap(sent) {
				backwards.Store(true)
			}
			calls.Add(1)
		},
		OnCreate: func(url string) { created = url },
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.State != StateReady || u.Name != "blob.bin" || u.SHA256 != sha256Hex(data) {
		t.Fatalf("record %+v", u)
	}
	if last.Load() != int64(len(data)) || backwards.Load() || calls.Load() < 17 {
		t.Errorf("progress ended at %d after %d calls (backwards: %v)", last.Load(), calls.Load(), backwards.Load())
	}
	if !strings.HasSuffix(created, "/tus/"+u.ID) {
		t.Errorf("OnCreate got %q for %s", created, u.ID)
	}
	if n := tb.requestCounts()[http.MethodPatch]; n != 17 {
		t.Errorf("%d PATCHes for 17 chunks", n)
	}
	if sum, n := fetchSHA256(t, u.URL, "alice"); sum != u.SHA256 || n != int64(len(data)) {
		t.Errorf("served %d bytes, SHA-256 %s", n, sum)
	}
}

func TestUploadEmpty(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t, "alice", nil)
	u, err := c.Upload(t.Context(), "files", "empty.txt", bytes.NewReader(nil), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != StateReady || u.Size != 0 || u.SHA256 != sha256Hex(nil) {
		t.Fatalf("record %+v", u)
	}
}

// A refusal is an *Error with the server's code, matched by errors.Is, and
// it is not retried.
func TestUploadRefused(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t, "alice", nil)
	data := []byte("plain text, no picture")
	u, err := c.Upload(t.Context(), "images", "cat.png", bytes.NewReader(data), int64(len(data)), nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrTypeNotAllowed) || e.Status != http.StatusUnsupportedMediaType || e.Message == "" || e.RequestID == "" {
		t.Fatalf("err %#v", err)
	}
	if errors.Is(err, ErrTooLarge) {
		t.Error("a type_not_allowed error matches ErrTooLarge")
	}
	if u == nil || u.State != StateRejected || u.Error == nil || u.Error.Code != "type_not_allowed" {
		t.Fatalf("record %+v", u)
	}
	if got := tb.requestCounts(); got[http.MethodPost] != 1 || got[http.MethodPatch] != 1 || got[http.MethodHead] != 0 {
		t.Errorf("requests %v: a refusal was retried", got)
	}

	// Invalid input is refused at creation, with the failing fields.
	_, err = c.Upload(t.Context(), "notes", "a.txt", strings.NewReader("a"), 1, &UploadOptions{Input: map[string]string{"topic": ""}})
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalidInput) || len(e.Fields) != 1 || e.Fields[0].Field != "topic" || e.Fields[0].Rule != "required" {
		t.Fatalf("err %#v", err)
	}
	if got := tb.requestCounts(); got[http.MethodPost] != 2 || got[http.MethodPatch] != 1 {
		t.Errorf("requests %v: a refusal was retried", got)
	}

	// No credentials: unauthorized, once.
	anon := tb.client(t, "", nil)
	if _, err := anon.Upload(t.Context(), "files", "a.txt", strings.NewReader("a"), 1, nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err %v", err)
	}
	if got := tb.requestCounts(); got[http.MethodPost] != 3 {
		t.Errorf("requests %v: a refusal was retried", got)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var calls atomic.Int64
	c := tb.client(t, "", &Options{Token: func(ctx context.Context) (string, error) {
		calls.Add(1)
		return "bob", nil
	}})
	u, err := c.Upload(t.Context(), "files", "a.txt", strings.NewReader("hello"), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.completions(); len(got) != 1 || got[0].meta.User != "bob" {
		t.Fatalf("completions %+v", got)
	}
	// Only the owner sees it.
	if _, err := tb.client(t, "alice", nil).Get(t.Context(), u.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another owner's Get: %v", err)
	}
	if calls.Load() < 3 {
		t.Errorf("Token called %d times", calls.Load())
	}

	// A token that cannot be had ends the call, untried.
	failing := tb.client(t, "", &Options{Token: func(ctx context.Context) (string, error) { return "", errors.New("expired login") }})
	before := tb.requestCounts()[http.MethodPost]
	if _, err := failing.Upload(t.Context(), "files", "a.txt", strings.NewReader("hello"), 5, nil); err == nil || !strings.Contains(err.Error(), "expired login") {
		t.Fatalf("err %v", err)
	}
	if tb.requestCounts()[http.MethodPost] != before {
		t.Error("a request was sent without its token")
	}
}

func TestGetListDeleteWait(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t, "alice", nil)
	ctx := t.Context()
	var ids []string
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		u, err := c.Upload(ctx, "files", name, strings.NewReader(name), int64(len(name)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	// Someone else's upload is not listed.
	if _, err := tb.client(t, "bob", nil).Upload(ctx, "files", "d.txt", strings.NewReader("d"), 1, nil); err != nil {
		t.Fatal(err)
	}

	got, err := c.Get(ctx, ids[1])
	if err != nil || got.ID != ids[1] || got.Name != "b.txt" || got.State != StateReady || got.SHA256 != sha256Hex([]byte("b.txt")) {
		t.Fatalf("Get: %+v, %v", got, err)
	}

	p1, err := c.List(ctx, &ListOptions{Route: "files", Limit: 2})
	if err != nil || len(p1.Uploads) != 2 || p1.Next == "" {
		t.Fatalf("List: %+v, %v", p1, err)
	}
	p2, err := c.List(ctx, &ListOptions{Route: "files", Limit: 2, Cursor: p1.Next})
	if err != nil || len(p2.Uploads) != 1 || p2.Next != "" {
		t.Fatalf("List page 2: %+v, %v", p2, err)
	}
	seen := map[string]bool{}
	for _, u := range append(p1.Uploads, p2.Uploads...) {
		seen[u.ID] = true
		if !strings.HasPrefix(u.URL, "http") {
			t.Errorf("listed URL %q", u.URL)
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("%s not listed", id)
		}
	}
	if p, err := c.List(ctx, &ListOptions{Route: "files", State: StateRejected}); err != nil || len(p.Uploads) != 0 {
		t.Errorf("List rejected: %+v, %v", p, err)
	}
	if _, err := c.List(ctx, &ListOptions{Route: "nope"}); !errors.Is(err, ErrUnknownRoute) {
		t.Errorf("List of an unknown route: %v", err)
	}

	// Wait on a ready upload answers at once.
	w, err := c.Wait(ctx, ids[0])
	if err != nil || w.State != StateReady || w.ID != ids[0] || !strings.HasPrefix(w.URL, "http") {
		t.Fatalf("Wait: %+v, %v", w, err)
	}
	if _, err := c.Wait(ctx, "nosuchupload"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wait on an unknown upload: %v", err)
	}

	if err := c.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, ids[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := c.Delete(ctx, ids[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete again: %v", err)
	}

	routes, err := c.Routes(ctx)
	if err != nil || len(routes) != 3 {
		t.Fatalf("Routes: %+v, %v", routes, err)
	}
	notes := routes[2] // by name: files, images, notes
	if notes.Name != "notes" || len(notes.Input) != 1 || notes.Input[0].Name != "topic" || !notes.Input[0].Required || notes.Accept[0] != "text" {
		t.Errorf("notes route %+v", notes)
	}
}

// Delete ends an upload still receiving bytes by tus termination.
func TestDeleteUnfinished(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t, "alice", &Options{ChunkSize: 64 << 10})
	ctx, cancel := context.WithCancel(t.Context())
	var id string
	_, err := c.Upload(ctx, "files", "big.bin", newSeededReader(2, 1<<20), 1<<20, &UploadOptions{
		OnCreate: func(url string) { id = url[strings.LastIndex(url, "/")+1:] },
		OnProgress: func(sent, total int64) {
			if sent >= 200<<10 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if u, err := c.Get(t.Context(), id); err != nil || u.State != StateUploading {
		t.Fatalf("record %+v, %v", u, err)
	}
	if err := c.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}

// Wait polls the record when the event stream fails.
func TestWaitPolls(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var streams atomic.Int64
	fail := func(w http.ResponseWriter, req *http.Request) bool {
		if strings.HasSuffix(req.URL.Path, "/events") {
			streams.Add(1)
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	}
	tb.fail.Store(&fail)
	c := tb.client(t, "alice", nil)
	u, err := c.Upload(t.Context(), "files", "a.txt", strings.NewReader("a"), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Wait(t.Context(), u.ID)
	if err != nil || w.State != StateReady || streams.Load() != 1 {
		t.Fatalf("Wait: %+v, %v after %d streams", w, err, streams.Load())
	}
}

// An upload interrupted mid-way resumes from the server's offset: the
// bytes the server has are not sent again.
func TestResume(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.client(t, "alice", &Options{ChunkSize: 64 << 10})
	const size = 1<<20 + 7
	ctx, cancel := context.WithCancel(t.Context())
	var loc string
	_, err := c.Upload(ctx, "files", "big.bin", newSeededReader(3, size), size, &UploadOptions{
		OnCreate: func(url string) { loc = url },
		OnProgress: func(sent, total int64) {
			if sent >= 600<<10 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) || loc == "" {
		t.Fatalf("err %v, URL %q", err, loc)
	}
	first := tb.patched.Load()
	if first < 512<<10 {
		t.Fatalf("the server saw %d bytes before the interruption", first)
	}
	u, err := c.Upload(t.Context(), "files", "big.bin", newSeededReader(3, size), size, &UploadOptions{
		ResumeURL: loc,
		OnCreate:  func(string) { t.Error("a resumed upload was created again") },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256Of(t, newSeededReader(3, size))
	if u.State != StateReady || u.SHA256 != want || u.Size != size {
		t.Fatalf("record %+v", u)
	}
	// The second call sent what the server did not have, and no more
	// than the chunk lost.
	second := tb.patched.Load() - first
	if second >= size || first+second > size+64<<10 {
		t.Errorf("sent %d then %d bytes of %d", first, second, size)
	}

	// A URL the server no longer knows starts over.
	if err := c.Delete(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	var fresh string
	u2, err := c.Upload(t.Context(), "files", "small.txt", strings.NewReader("hi"), 2, &UploadOptions{
		ResumeURL: loc,
		OnCreate:  func(url string) { fresh = url },
	})
	if err != nil || u2.State != StateReady || fresh == "" || fresh == loc {
		t.Fatalf("%+v, %v, created %q", u2, err, fresh)
	}
	// Resuming a ready upload returns its record.
	u3, err := c.Upload(t.Context(), "files", "small.txt", strings.NewReader("hi"), 2, &UploadOptions{ResumeURL: fresh})
	if err != nil || u3.ID != u2.ID || u3.State != StateReady {
		t.Fatalf("%+v, %v", u3, err)
	}
}

func sha256Of(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// 5xx answers are retried, from the server's offset, and given up after
// Retry.Attempts.
func TestRetries(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var patches atomic.Int64
	fail := func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodPatch && patches.Add(1)%3 != 0 {
			io.CopyN(io.Discard, req.Body, 1000) // some of the body arrived
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"try again"}}`))
			return true
		}
		return false
	}
	tb.fail.Store(&fail)
	c := tb.client(t, "alice", &Options{ChunkSize: 64 << 10})
	const size = 300 << 10
	u, err := c.Upload(t.Context(), "files", "a.bin", newSeededReader(4, size), size, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.SHA256 != sha256Of(t, newSeededReader(4, size)) || patches.Load() != 15 {
		t.Fatalf("record %+v after %d PATCHes", u, patches.Load())
	}
	if n := tb.requestCounts()[http.MethodHead]; n != 10 {
		t.Errorf("%d HEADs after 10 failures", n)
	}

	always := func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodPatch {
			patches.Add(1)
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	}
	tb.fail.Store(&always)
	patches.Store(0)
	_, err = c.Upload(t.Context(), "files", "a.bin", newSeededReader(4, size), size, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Code != "" || patches.Load() != 5 {
		t.Fatalf("err %#v after %d PATCHes", err, patches.Load())
	}
}

// The client's sentinels are the server's: same code, same status.
func TestSentinels(t *testing.T) {
	t.Parallel()
	server := apierr.Sentinels()
	for code, e := range sentinels {
		s, ok := server[code]
		if !ok {
			t.Errorf("the server has no code %s", code)
			continue
		}
		if s.Status != e.Status || s.Message != e.Message {
			t.Errorf("%s: the client says %d %q, the server %d %q", code, e.Status, e.Message, s.Status, s.Message)
		}
	}
	// Every code a client can meet on the HTTP contract is there.
	for code := range server {
		switch code {
		case "audit_log_unsupported", "not_quarantined", "quotas_not_configured", "url_refused", "url_fetch_failed",
			"image_too_large", "image_corrupt", "not_an_image", "bad_transform", "transform_not_allowed":
			continue // the Go API's and downloads'
		}
		if _, ok := sentinels[code]; !ok {
			t.Errorf("no client sentinel for %s", code)
		}
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	h := http.Header{"Retry-After": {"3"}}
	e := parseError(429, h, []byte(`{"error":{"code":"quota_exceeded","message":"no room","quota":{"scope":"owner","leftBytes":10,"size":20},"requestId":"r1"}}`))
	if !errors.Is(e, ErrQuotaExceeded) || e.Quota == nil || e.Quota.LeftBytes != 10 || e.RequestID != "r1" || e.RetryAfter != 3*time.Second {
		t.Fatalf("%#v", e)
	}
	e = parseError(502, nil, []byte("<html>bad gateway</html>"))
	if e.Code != "" || e.Message != "bad gateway" || strings.Contains(e.Error(), "html") || errors.Is(e, ErrUnavailable) {
		t.Fatalf("%#v", e)
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "ftp://x/", "http://", "http://x/?a=1", "::"} {
		if _, err := New(bad, nil); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	if _, err := New("http://x", &Options{ChunkSize: 10}); err == nil {
		t.Error("a 10-byte chunk was accepted")
	}
	h := http.Header{"X-A": {"1"}}
	c, err := New("http://x/api/uploads/", &Options{Header: h})
	if err != nil {
		t.Fatal(err)
	}
	h.Set("X-A", "2")
	if c.header.Get("X-A") != "1" || c.URL("/routes") != "http://x/api/uploads/routes" || c.chunk != DefaultChunkSize {
		t.Errorf("%v %s %d", c.header, c.URL("/routes"), c.chunk)
	}
}
