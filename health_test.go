package carcosa_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// secretErr is the error of a failing backend in these tests: its text
// holds a DSN, which must never reach a response.
var secretErr = errors.New("dial postgres://user:secret@host:5432/carcosa: connection refused")

// brokenStore is a Store whose Get fails as a database that went away.
type brokenStore struct{ *memstore.Store }

func (brokenStore) Get(context.Context, string) (*store.Upload, error) { return nil, secretErr }

// hangingStore is a Store whose Get answers only when ctx is done.
type hangingStore struct{ *memstore.Store }

func (hangingStore) Get(ctx context.Context, _ string) (*store.Upload, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

type readyzBody struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status    string   `json:"status"`
		Error     string   `json:"error"`
		Breaker   string   `json:"breaker"`
		LatencyMs *float64 `json:"latencyMs"`
	} `json:"checks"`
}

// health sends method path to r's health handler and returns the
// response and its body.
func health(t *testing.T, r *carcosa.Router, method, path string) (*http.Response, string) {
	t.Helper()
	w := httptest.NewRecorder()
	r.Health().ServeHTTP(w, httptest.NewRequest(method, path, nil))
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func readyz(t *testing.T, r *carcosa.Router) (int, readyzBody, string) {
	t.Helper()
	res, body := health(t, r, http.MethodGet, "/readyz")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var got readyzBody
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("readyz body %q: %v", body, err)
	}
	if strings.Contains(body, "secret") || strings.Contains(body, "postgres://") || strings.Contains(body, "mem://") {
		t.Errorf("readyz body leaks a backend's text or address: %s", body)
	}
	return res.StatusCode, got, body
}

func TestLivez(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	res, body := health(t, tb.router, http.MethodGet, "/livez")
	if res.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Fatalf("livez = %d %s", res.StatusCode, body)
	}
	// Mounted under a prefix, it answers the same.
	if res, _ := health(t, tb.router, http.MethodHead, "/internal/livez"); res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /internal/livez = %d", res.StatusCode)
	}
}

func TestHealthMethodAndPath(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	res, body := health(t, tb.router, http.MethodPost, "/readyz")
	if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(body, `"method_not_allowed"`) {
		t.Fatalf("POST /readyz = %d %s", res.StatusCode, body)
	}
	if res.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	res, body = health(t, tb.router, http.MethodGet, "/healthz")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("GET /healthz = %d %s", res.StatusCode, body)
	}
}

func TestReadyzOK(t *testing.T) {
	t.Parallel()
	archive, err := storage.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { archive.Close() })
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Buckets = map[string]storage.Storage{"archive": archive}
		c.Scanner = scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
			_, err := io.Copy(io.Discard, r)
			return scan.Verdict{}, err
		})
	})
	code, got, body := readyz(t, tb.router)
	if code != http.StatusOK || got.Status != "ok" {
		t.Fatalf("readyz = %d %s", code, body)
	}
	for _, name := range []string{"store", "bucket", "bucket:archive", "staging", "scanner", "queue"} {
		c, ok := got.Checks[name]
		if !ok || c.Status != "ok" || c.Error != "" || c.LatencyMs == nil {
			t.Errorf("check %q = %+v, present %v; body %s", name, c, ok, body)
		}
	}
	if len(got.Checks) != 6 {
		t.Errorf("checks = %s", body)
	}
}

// Without a scanner there is no scanner check.
func TestReadyzWithoutScanner(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	code, got, body := readyz(t, tb.router)
	if code != http.StatusOK {
		t.Fatalf("readyz = %d %s", code, body)
	}
	if _, ok := got.Checks["scanner"]; ok {
		t.Errorf("a scanner check without a scanner: %s", body)
	}
}

func TestReadyzStoreDown(t *testing.T) {
	t.Parallel()
	tb := setupWith(t, brokenStore{memstore.New()})
	code, got, body := readyz(t, tb.router)
	if code != http.StatusServiceUnavailable || got.Status != "unavailable" {
		t.Fatalf("readyz = %d %s", code, body)
	}
	if c := got.Checks["store"]; c.Status != "unavailable" || c.Error != "unreachable" {
		t.Errorf("store check = %+v", c)
	}
	for _, name := range []string{"bucket", "staging", "queue"} {
		if c := got.Checks[name]; c.Status != "ok" {
			t.Errorf("check %q = %+v while only the store is down", name, c)
		}
	}
}

func TestReadyzScannerDown(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Scanner = scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
			return scan.Verdict{}, secretErr
		})
	})
	code, got, body := readyz(t, tb.router)
	if code != http.StatusServiceUnavailable || got.Status != "unavailable" {
		t.Fatalf("readyz = %d %s", code, body)
	}
	if c := got.Checks["scanner"]; c.Status != "unavailable" || c.Error != "unreachable" {
		t.Errorf("scanner check = %+v", c)
	}
	if c := got.Checks["store"]; c.Status != "ok" {
		t.Errorf("store check = %+v", c)
	}
}

// A check that does not answer is cut at the timeout.
func TestReadyzTimeout(t *testing.T) {
	t.Parallel()
	tb := setupWith(t, hangingStore{memstore.New()})
	code, got, body := readyz(t, tb.router)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("readyz = %d %s", code, body)
	}
	if c := got.Checks["store"]; c.Status != "unavailable" || c.Error != "timeout" {
		t.Errorf("store check = %+v", c)
	}
	if c := got.Checks["bucket"]; c.Status != "ok" {
		t.Errorf("bucket check = %+v", c)
	}
}

// A stopped Router is not ready: its queue runs no more.
func TestReadyzStopped(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	if err := tb.router.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, got, body := readyz(t, tb.router)
	if code != http.StatusServiceUnavailable || got.Checks["queue"].Error != "stopped" {
		t.Fatalf("readyz = %d %s", code, body)
	}
}

// pingScanner is a Scanner with a Ping method, as scan.Clamd has, whose
// Scan always fails: the scanner check must use Ping.
type pingScanner struct{ err error }

func (pingScanner) Scan(context.Context, io.Reader) (scan.Verdict, error) {
	return scan.Verdict{}, errors.New("Scan called by the readiness check")
}

func (pingScanner) MaxSize() int64 { return 0 }

func (s pingScanner) Ping(context.Context) error { return s.err }

// A Scanner that can be pinged is pinged, not sent a stream.
func TestReadyzScannerPing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		code   int
		status string
	}{
		{nil, http.StatusOK, "ok"},
		{secretErr, http.StatusServiceUnavailable, "unavailable"},
	} {
		tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.Scanner = pingScanner{tc.err} })
		code, got, body := readyz(t, tb.router)
		if code != tc.code || got.Checks["scanner"].Status != tc.status {
			t.Errorf("Ping error %v: readyz = %d %s", tc.err, code, body)
		}
	}
}

// deafStore is a Store whose Get ignores its context and answers only when
// release is closed.
type deafStore struct {
	*memstore.Store
	release chan struct{}
}

func (s deafStore) Get(context.Context, string) (*store.Upload, error) {
	<-s.release
	return nil, store.ErrNotFound
}

// A check that ignores its context is still cut at the timeout.
func TestReadyzTimeoutIgnoredContext(t *testing.T) {
	t.Parallel()
	st := deafStore{memstore.New(), make(chan struct{})}
	tb := setupWith(t, st)
	t.Cleanup(func() { close(st.release) })
	code, got, body := readyz(t, tb.router)
	if code != http.StatusServiceUnavailable || got.Checks["store"].Error != "timeout" {
		t.Fatalf("readyz = %d %s", code, body)
	}
}
