// Package ratelimittest is the conformance suite that every
// ratelimit.Limiter runs, so that callers can rely on one behaviour
// whatever keeps the buckets.
//
// The suite runs on the real clock; its bounds are the ones a token bucket
// dictates, measured around the calls, so that a slow machine makes them
// looser, never flaky:
//   - A new key allows at least Burst calls at once, and over any span at
//     most Burst + Rate×span.
//   - A refusal's retryAfter is at least a millisecond and at most 1/Rate,
//     and waiting it out finds a token.
//   - Keys do not share buckets, whatever bytes they hold.
package ratelimittest

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/ratelimit"
)

// Run runs the conformance suite. newLimiter must return a Limiter applying
// l in which every key starts with a full bucket, and clean up after it
// when the test ends. Subtests run in parallel.
func Run(t *testing.T, newLimiter func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newLimiter func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter)
	}{
		{"BurstThenRefusal", testBurstThenRefusal},
		{"RetryAfterFindsToken", testRetryAfterFindsToken},
		{"RefillStopsAtBurst", testRefillStopsAtBurst},
		{"KeysIndependent", testKeysIndependent},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newLimiter)
		})
	}
}

// most is how many calls l may allow over span from a full bucket.
func most(l ratelimit.Limit, span time.Duration) int {
	return l.Burst + int(math.Ceil(l.Rate*span.Seconds()))
}

// drain calls Allow for key until it refuses, and returns how many calls
// it allowed, the refusal's retryAfter and the time from the first call
// to the refusal.
func drain(t *testing.T, lim ratelimit.Limiter, l ratelimit.Limit, key string) (allowed int, retryAfter, span time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		ok, retry, err := lim.Allow(t.Context(), key)
		if err != nil {
			t.Fatalf("Allow(%q): %v", key, err)
		}
		if !ok {
			return allowed, retry, time.Since(start)
		}
		allowed++
		if allowed > most(l, time.Since(start)) {
			t.Fatalf("Allow(%q) allowed %d calls in %v; a bucket of %+v allows at most %d", key, allowed, time.Since(start), l, most(l, time.Since(start)))
		}
	}
}

func testBurstThenRefusal(t *testing.T, newLimiter func(*testing.T, ratelimit.Limit) ratelimit.Limiter) {
	l := ratelimit.Limit{Rate: 1, Burst: 5}
	lim := newLimiter(t, l)
	start := time.Now()
	allowed, retry, span := drain(t, lim, l, "k")
	if allowed < l.Burst {
		t.Fatalf("a new key allowed %d calls before a refusal; want at least Burst = %d", allowed, l.Burst)
	}
	// The refusal leaves under Rate×span tokens, so a whole one is at most
	// 1/Rate away and at least 1/Rate - span.
	interval := time.Duration(float64(time.Second) / l.Rate)
	if retry < time.Millisecond || retry > interval+time.Millisecond || retry < interval-span {
		t.Fatalf("retryAfter = %v after %v; want about 1/Rate = %v, within [%v, %v]", retry, span, interval, max(interval-span, time.Millisecond), interval)
	}
	// Refused again right away, and no later than the first refusal said.
	ok, retry2, err := lim.Allow(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if ok && time.Since(start) < retry {
		t.Fatalf("allowed again before the retryAfter %v of the refusal", retry)
	}
	if !ok && (retry2 < time.Millisecond || retry2 > retry) {
		t.Fatalf("second retryAfter = %v; want within [1ms, %v]", retry2, retry)
	}
}

func testRetryAfterFindsToken(t *testing.T, newLimiter func(*testing.T, ratelimit.Limit) ratelimit.Limiter) {
	l := ratelimit.Limit{Rate: 20, Burst: 1}
	lim := newLimiter(t, l)
	for range 3 {
		_, retry, _ := drain(t, lim, l, "k")
		if retry < time.Millisecond || retry > 50*time.Millisecond+time.Millisecond {
			t.Fatalf("retryAfter = %v; want within [1ms, 1/Rate = 50ms]", retry)
		}
		// 2ms more for a shared store's clock, which may be slewed.
		time.Sleep(retry + 2*time.Millisecond)
		ok, retry2, err := lim.Allow(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("refused again (retryAfter %v) after waiting out retryAfter %v", retry2, retry)
		}
	}
}

func testRefillStopsAtBurst(t *testing.T, newLimiter func(*testing.T, ratelimit.Limit) ratelimit.Limiter) {
	l := ratelimit.Limit{Rate: 100, Burst: 3}
	lim := newLimiter(t, l)
	if ok, _, err := lim.Allow(t.Context(), "k"); err != nil || !ok {
		t.Fatalf("first call: ok %v, err %v", ok, err)
	}
	time.Sleep(200 * time.Millisecond) // twenty tokens' worth, of which Burst fit
	allowed, _, span := drain(t, lim, l, "k")
	if allowed < l.Burst || allowed > most(l, span) {
		t.Fatalf("after a long idle, %d calls allowed in %v; want within [%d, %d]", allowed, span, l.Burst, most(l, span))
	}
}

func testKeysIndependent(t *testing.T, newLimiter func(*testing.T, ratelimit.Limit) ratelimit.Limiter) {
	l := ratelimit.Limit{Rate: 0.001, Burst: 2}
	lim := newLimiter(t, l)
	keys := []string{"a", "b", "", "a:b", "a:", "ä", "a b\n", "*", "{a}"}
	for _, k := range keys {
		if allowed, _, _ := drain(t, lim, l, k); allowed != l.Burst {
			t.Fatalf("key %q allowed %d calls after other keys were drained; want Burst = %d", k, allowed, l.Burst)
		}
	}
	for _, k := range keys {
		if ok, _, err := lim.Allow(t.Context(), k); err != nil || ok {
			t.Fatalf("drained key %q: ok %v, err %v; want a refusal", k, ok, err)
		}
	}
}

func testConcurrent(t *testing.T, newLimiter func(*testing.T, ratelimit.Limit) ratelimit.Limiter) {
	const goroutines, calls = 64, 20
	l := ratelimit.Limit{Rate: 50, Burst: 20}
	lim := newLimiter(t, l)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range goroutines {
		wg.Go(func() {
			for range calls {
				ok, retry, err := lim.Allow(t.Context(), "shared")
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					allowed.Add(1)
				} else if retry < time.Millisecond || retry > time.Second/50+time.Millisecond {
					t.Errorf("retryAfter = %v; want within [1ms, 1/Rate = 20ms]", retry)
					return
				}
			}
		})
	}
	wg.Wait()
	span := time.Since(start)
	if n := int(allowed.Load()); n < l.Burst || n > most(l, span) {
		t.Fatalf("%d goroutines allowed %d calls in %v; want within [Burst = %d, Burst + Rate×%v = %d]", goroutines, n, span, l.Burst, span, most(l, span))
	}
}

// RunShared runs the suite of limiters that keep their buckets where many
// instances share them (PostgreSQL, Redis). newInstances must return n
// Limiters applying l, as n processes would make them (each with its own
// connections), sharing one set of buckets that starts full. Subtests run
// in parallel.
func RunShared(t *testing.T, newInstances func(t *testing.T, l ratelimit.Limit, n int) []ratelimit.Limiter) {
	t.Run("ShareBudget", func(t *testing.T) {
		t.Parallel()
		testShareBudget(t, newInstances)
	})
	t.Run("ConcurrentInstances", func(t *testing.T) {
		t.Parallel()
		testConcurrentInstances(t, newInstances)
	})
}

// testShareBudget: calls taking turns on two instances drain one bucket,
// and once drained it is drained for both.
func testShareBudget(t *testing.T, newInstances func(*testing.T, ratelimit.Limit, int) []ratelimit.Limiter) {
	l := ratelimit.Limit{Rate: 1, Burst: 10}
	instances := newInstances(t, l, 2)
	start := time.Now()
	allowed := 0
	var retry time.Duration
	for i := 0; ; i++ {
		ok, r, err := instances[i%2].Allow(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			retry = r
			break
		}
		allowed++
		if allowed > most(l, time.Since(start)) {
			t.Fatalf("two instances allowed %d calls in %v; want at most %d", allowed, time.Since(start), most(l, time.Since(start)))
		}
	}
	span := time.Since(start)
	if allowed < l.Burst {
		t.Fatalf("two instances allowed %d calls in %v; want at least Burst = %d", allowed, span, l.Burst)
	}
	if retry < time.Second-span || retry > time.Second+time.Millisecond {
		t.Fatalf("retryAfter = %v; want about 1/Rate = 1s", retry)
	}
	for i, lim := range instances {
		if ok, _, err := lim.Allow(t.Context(), "k"); err != nil || ok {
			t.Fatalf("instance %d: ok %v, err %v; want a refusal", i, ok, err)
		}
	}
}

// testConcurrentInstances: goroutines on two instances, all at once,
// together stay within one bucket's bounds.
func testConcurrentInstances(t *testing.T, newInstances func(*testing.T, ratelimit.Limit, int) []ratelimit.Limiter) {
	const goroutines, calls = 32, 25
	l := ratelimit.Limit{Rate: 20, Burst: 15}
	instances := newInstances(t, l, 2)
	var (
		allowed atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	for g := range goroutines {
		lim := instances[g%2]
		wg.Go(func() {
			for range calls {
				ok, _, err := lim.Allow(t.Context(), "shared")
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	span := time.Since(start)
	if n := int(allowed.Load()); n < l.Burst || n > most(l, span) {
		t.Fatalf("%d goroutines on two instances allowed %d calls in %v; want within [Burst = %d, Burst + Rate×span = %d]", goroutines, n, span, l.Burst, most(l, span))
	}
}
