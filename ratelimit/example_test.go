package ratelimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/carcosa-dev/carcosa/ratelimit"
)

func ExampleMemory() {
	// Five calls at once, then one a second.
	lim := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Burst: 5}, nil)
	for range 6 {
		ok, _, _ := lim.Allow(context.Background(), "user-42")
		fmt.Print(ok, " ")
	}
	fmt.Println()
	// Output: true true true true true false
}

func ExampleMiddleware() {
	upload := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "stored")
	})
	// Ten uploads a minute per client address, up to three at once.
	lim := ratelimit.NewMemory(ratelimit.Limit{Rate: 10.0 / 60, Burst: 3}, nil)
	byAddress := func(r *http.Request) string {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return host
	}
	h := ratelimit.Middleware(lim, byAddress, upload)

	for range 4 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/upload", nil))
		fmt.Printf("%d Retry-After: %q\n", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 Retry-After: ""
	// 200 Retry-After: ""
	// 200 Retry-After: ""
	// 429 Retry-After: "6"
}

func ExampleNewRedis() {
	// Every instance given this Redis shares one budget per API key.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	lim := ratelimit.NewRedis(client, ratelimit.Limit{Rate: 5, Burst: 20}, &ratelimit.RedisOptions{
		Prefix: "myapp:uploads:",
	})
	byAPIKey := func(r *http.Request) string { return r.Header.Get("X-Api-Key") }
	upload := http.NotFoundHandler() // the upload handler, e.g. a carcosa.Router
	http.Handle("/upload", ratelimit.Middleware(lim, byAPIKey, upload))
}

// failClosed refuses when its Limiter cannot decide, and logs why.
type failClosed struct{ ratelimit.Limiter }

func (f failClosed) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	ok, retryAfter, err := f.Limiter.Allow(ctx, key)
	if err != nil {
		slog.ErrorContext(ctx, "rate limiter unavailable; refusing", "err", err)
		return false, time.Second, nil
	}
	return ok, retryAfter, nil
}

// Middleware fails open when the Limiter returns an error. A limit that
// guards a secret should fail closed instead: wrap the Limiter.
func ExampleMiddleware_failClosed() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	lim := ratelimit.NewRedis(client, ratelimit.Limit{Rate: 1, Burst: 5}, &ratelimit.RedisOptions{
		Prefix: "myapp:login:",
	})
	byAddress := func(r *http.Request) string {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return host
	}
	login := http.NotFoundHandler() // checks a password
	http.Handle("/login", ratelimit.Middleware(failClosed{lim}, byAddress, login))
}
