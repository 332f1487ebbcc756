package carcosa_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// wantRateLimited checks that resp is 429 rate_limited with a Retry-After of
// at least a second and at most max.
func wantRateLimited(t *testing.T, resp *http.Response, body []byte, most time.Duration) {
	t.Helper()
	wantError(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || time.Duration(ra)*time.Second > most {
		t.Fatalf("Retry-After %q, want 1 to %v seconds", resp.Header.Get("Retry-After"), most.Seconds())
	}
}

func TestRateLimitIP(t *testing.T) {
	t.Parallel()
	// A token every 1000 s: none comes back during the test.
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.RateLimit = carcosa.RateLimits{IP: ratelimit.NewMemory(ratelimit.Limit{Rate: 0.001, Burst: 3}, nil)}
	})
	for i := range 3 {
		if resp, body := tb.do(t, "GET", tb.url("/routes"), "", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := tb.do(t, "GET", tb.url("/routes"), "", nil, nil)
	wantRateLimited(t, resp, body, 1000*time.Second+time.Second)

	// Every request counts, and a limited one does nothing.
	resp, body = tb.tusCreate(t, "alice", 10, tusMetadata("route", "files"), nil)
	wantRateLimited(t, resp, body, 1001*time.Second)
	mp, ct := multipartBody(t, part{field: "file", name: "a.bin", data: randomBytes(100)})
	resp, body = tb.do(t, "POST", tb.url("/routes/files"), "alice", mp, map[string]string{"Content-Type": ct})
	wantRateLimited(t, resp, body, 1001*time.Second)
	p, err := tb.router.List(t.Context(), carcosa.ListOptions{})
	if err != nil || len(p.Uploads) != 0 {
		t.Fatalf("uploads after limited requests: %+v, %v", p.Uploads, err)
	}
}

func TestRateLimitClientIP(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.RateLimit = carcosa.RateLimits{
			IP:       ratelimit.NewMemory(ratelimit.Limit{Rate: 0.001, Burst: 3}, nil),
			ClientIP: func(req *http.Request) string { return req.Header.Get("X-Client") },
		}
	})
	get := func(client string) (*http.Response, []byte) {
		return tb.do(t, "GET", tb.url("/routes"), "", nil, map[string]string{"X-Client": client})
	}
	for i := range 3 {
		if resp, body := get("a"); resp.StatusCode != 200 {
			t.Fatalf("client a, request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := get("a")
	wantRateLimited(t, resp, body, 1001*time.Second)
	for i := range 3 {
		if resp, body := get("b"); resp.StatusCode != 200 {
			t.Fatalf("client b, request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body = get("b")
	wantRateLimited(t, resp, body, 1001*time.Second)
	resp, body = get("a")
	wantRateLimited(t, resp, body, 1001*time.Second)
}

func TestRateLimitOwner(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.RateLimit = carcosa.RateLimits{Owner: ratelimit.NewMemory(ratelimit.Limit{Rate: 0.001, Burst: 2}, nil)}
	})
	data := randomBytes(3000)

	// alice's first creation, by tus; the requests about the upload are
	// not creations and do not count.
	id, resp, body := tb.tusUpload(t, "alice", "files", "a.bin", data, 1000)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	for range 5 {
		resp, body := tb.do(t, "HEAD", tb.url("/tus/"+id), "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
		if resp.StatusCode != 200 {
			t.Fatalf("HEAD: %d %s", resp.StatusCode, body)
		}
		if rec := tb.record(t, id, "alice"); rec.SHA256 != sha(data) {
			t.Fatalf("record %+v", rec)
		}
	}
	// The second, by multipart, is within the burst.
	second := tb.postFile(t, "alice", "files", "b.bin", data, nil)

	// The third is refused, however it comes, and creates nothing.
	resp, body = tb.tusCreate(t, "alice", 100, tusMetadata("route", "files"), nil)
	wantRateLimited(t, resp, body, 1001*time.Second)
	mp, ct := multipartBody(t, part{field: "file", name: "c.bin", data: data})
	resp, body = tb.do(t, "POST", tb.url("/routes/files"), "alice", mp, map[string]string{"Content-Type": ct})
	wantRateLimited(t, resp, body, 1001*time.Second)
	resp, body = tb.do(t, "POST", tb.url("/routes/files/presign"), "alice", bytes.NewReader([]byte(`{"files":[{"name":"d.bin","size":10,"type":"application/octet-stream"}]}`)), map[string]string{"Content-Type": "application/json"})
	wantRateLimited(t, resp, body, 1001*time.Second)
	p, err := tb.router.List(t.Context(), carcosa.ListOptions{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := idsOf(p.Uploads); len(ids) != 2 || !(ids[0] == id || ids[1] == id) || !(ids[0] == second || ids[1] == second) {
		t.Fatalf("alice's uploads %v, want %s and %s", ids, id, second)
	}

	// alice's existing uploads still answer her.
	resp, body = tb.do(t, "HEAD", tb.url("/tus/"+id), "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD once limited: %d %s", resp.StatusCode, body)
	}
	if rec := tb.record(t, second, "alice"); rec.State != "ready" {
		t.Fatalf("record once limited: %+v", rec)
	}

	// Other owners, and alice in another tenant, have their own budgets.
	for _, user := range []string{"bob", "alice@acme"} {
		tb.postFile(t, user, "files", "e.bin", data, nil)
		if _, resp, body := tb.tusUpload(t, user, "files", "f.bin", data, 4000); resp.StatusCode != 204 {
			t.Fatalf("%s: tus: %d %s", user, resp.StatusCode, body)
		}
		resp, body := tb.tusCreate(t, user, 100, tusMetadata("route", "files"), nil)
		wantRateLimited(t, resp, body, 1001*time.Second)
	}
}

// failingLimiter cannot decide: its store is down.
type failingLimiter struct{ calls atomic.Int64 }

func (l *failingLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	l.calls.Add(1)
	return false, 0, errors.New("limiter store unreachable")
}

func TestRateLimitFailingLimiterLetsRequestsThrough(t *testing.T) {
	t.Parallel()
	ip, own := &failingLimiter{}, &failingLimiter{}
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.RateLimit = carcosa.RateLimits{IP: ip, Owner: own}
		c.Logger = slog.New(slog.DiscardHandler)
	})
	data := randomBytes(2000)
	for i := range 5 {
		id := tb.postFile(t, "alice", "files", "a.bin", data, nil)
		if rec := tb.record(t, id, "alice"); rec.SHA256 != sha(data) {
			t.Fatalf("upload %d: %+v", i, rec)
		}
		if _, resp, body := tb.tusUpload(t, "alice", "files", "t.bin", data, 1000); resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "ready" {
			t.Fatalf("tus %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if ip.calls.Load() == 0 || own.calls.Load() < 10 {
		t.Fatalf("limiters asked %d (IP) and %d (owner) times: not consulted", ip.calls.Load(), own.calls.Load())
	}
}
