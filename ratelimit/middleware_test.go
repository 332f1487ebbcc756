package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/ratelimit"
)

// stubLimiter answers every call the same and records the keys.
type stubLimiter struct {
	ok    bool
	retry time.Duration
	err   error
	keys  []string
}

func (s *stubLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	s.keys = append(s.keys, key)
	return s.ok, s.retry, s.err
}

var next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "next")
})

func byAPIKey(r *http.Request) string { return r.Header.Get("X-Api-Key") }

func TestMiddleware(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		method         string
		limiter        stubLimiter
		wantStatus     int
		wantRetryAfter string
	}{
		{"allowed", http.MethodPost, stubLimiter{ok: true}, http.StatusOK, ""},
		{"limiter error fails open", http.MethodPost, stubLimiter{err: errors.New("redis down")}, http.StatusOK, ""},
		{"refused, 1ms", http.MethodPost, stubLimiter{retry: time.Millisecond}, http.StatusTooManyRequests, "1"},
		{"refused, 1s", http.MethodPost, stubLimiter{retry: time.Second}, http.StatusTooManyRequests, "1"},
		{"refused, rounded up", http.MethodPost, stubLimiter{retry: 1500 * time.Millisecond}, http.StatusTooManyRequests, "2"},
		{"refused, 0 still waits", http.MethodPost, stubLimiter{}, http.StatusTooManyRequests, "1"},
		{"refused, hours", http.MethodPost, stubLimiter{retry: 2*time.Hour + time.Nanosecond}, http.StatusTooManyRequests, "7201"},
		{"refused HEAD", http.MethodHead, stubLimiter{retry: time.Second}, http.StatusTooManyRequests, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := ratelimit.Middleware(&tt.limiter, byAPIKey, next)
			req := httptest.NewRequest(tt.method, "/upload", nil)
			req.Header.Set("X-Api-Key", "key-1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if len(tt.limiter.keys) != 1 || tt.limiter.keys[0] != "key-1" {
				t.Fatalf("limiter asked for keys %q; want [key-1]", tt.limiter.keys)
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d; want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetryAfter {
				t.Fatalf("Retry-After %q; want %q", got, tt.wantRetryAfter)
			}
			if tt.wantStatus == http.StatusOK {
				if rec.Body.String() != "next" {
					t.Fatalf("body %q; want next's", rec.Body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			if tt.method == http.MethodHead {
				if rec.Body.Len() != 0 {
					t.Fatalf("HEAD answered with a body: %q", rec.Body)
				}
				return
			}
			var body struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body.Error.Code != "rate_limited" || body.Error.Message == "" {
				t.Fatalf("body %q; want code rate_limited and a message", rec.Body)
			}
		})
	}
}

func TestMiddlewareMemory(t *testing.T) {
	t.Parallel()
	c := newClock()
	lim := ratelimit.NewMemory(ratelimit.Limit{Rate: 0.5, Burst: 2}, &ratelimit.MemoryOptions{Now: c.Now})
	h := ratelimit.Middleware(lim, byAPIKey, next)
	do := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/upload", nil)
		req.Header.Set("X-Api-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i, want := range []int{200, 200, 429} {
		if rec := do("a"); rec.Code != want {
			t.Fatalf("request %d: status %d; want %d", i+1, rec.Code, want)
		}
	}
	if rec := do("a"); rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("Retry-After %q; want 2 (1/Rate)", rec.Header().Get("Retry-After"))
	}
	if rec := do("b"); rec.Code != 200 {
		t.Fatalf("another key: status %d; want 200", rec.Code)
	}
	c.Advance(2 * time.Second)
	if rec := do("a"); rec.Code != 200 {
		t.Fatalf("after Retry-After: status %d; want 200", rec.Code)
	}
}

func TestMiddlewarePanics(t *testing.T) {
	t.Parallel()
	lim := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Burst: 1}, nil)
	for name, f := range map[string]func(){
		"nil limiter": func() { ratelimit.Middleware(nil, byAPIKey, next) },
		"nil keyFn":   func() { ratelimit.Middleware(lim, nil, next) },
		"nil next":    func() { ratelimit.Middleware(lim, byAPIKey, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}
