package ratelimit

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Middleware limits requests to next by the key keyFn gives each request:
// an API key, an owner, or a client address, for instance. Requests with
// the same key share one bucket; the empty key is a key like any other.
//
// A request over its limit gets 429 Too Many Requests with a Retry-After
// header (whole seconds, rounded up) and the JSON body
//
//	{"error":{"code":"rate_limited","message":"…"}}
//
// When l returns an error, Middleware fails open: the request goes to next.
// Wrap l to decide otherwise; see the package documentation.
//
// Middleware panics if any argument is nil.
func Middleware(l Limiter, keyFn func(*http.Request) string, next http.Handler) http.Handler {
	if l == nil || keyFn == nil || next == nil {
		panic("ratelimit: Middleware needs a Limiter, a key function and a handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, retryAfter, err := l.Allow(r.Context(), keyFn(r))
		if ok || err != nil {
			next.ServeHTTP(w, r)
			return
		}
		writeRateLimited(w, r, retryAfter)
	})
}

var rateLimitedBody = func() []byte {
	type errorJSON struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Error errorJSON `json:"error"`
	}{errorJSON{Code: "rate_limited", Message: "too many requests; try again after the Retry-After delay"}})
	return append(b, '\n')
}()

func writeRateLimited(w http.ResponseWriter, r *http.Request, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(retryAfter), 10))
	w.WriteHeader(http.StatusTooManyRequests)
	if r.Method != http.MethodHead {
		w.Write(rateLimitedBody)
	}
}

// retryAfterSeconds rounds d up to whole seconds, at least one: a client
// retrying sooner would be refused again.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	return max(1, s)
}
