package ratelimit_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/ratelimit/ratelimittest"
)

func TestMemoryConformance(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
		return ratelimit.NewMemory(l, nil)
	})
}

func newClock() *testenv.Clock { return testenv.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) }

// allow calls m.Allow and fails the test unless it answers ok and retry.
func allow(t *testing.T, m *ratelimit.Memory, key string, wantOK bool, wantRetry time.Duration) {
	t.Helper()
	ok, retry, err := m.Allow(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if ok != wantOK || retry != wantRetry {
		t.Fatalf("Allow(%q) = %v, %v; want %v, %v", key, ok, retry, wantOK, wantRetry)
	}
}

func TestMemoryRefill(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 2, Burst: 3}, &ratelimit.MemoryOptions{Now: c.Now})
	for range 3 {
		allow(t, m, "k", true, 0)
	}
	allow(t, m, "k", false, 500*time.Millisecond)
	c.Advance(499 * time.Millisecond)
	allow(t, m, "k", false, time.Millisecond)
	c.Advance(time.Millisecond)
	allow(t, m, "k", true, 0)
	allow(t, m, "k", false, 500*time.Millisecond)
	c.Advance(250 * time.Millisecond)
	allow(t, m, "k", false, 250*time.Millisecond)

	// Ten seconds refill twenty tokens, of which Burst fit.
	c.Advance(10 * time.Second)
	for range 3 {
		allow(t, m, "k", true, 0)
	}
	allow(t, m, "k", false, 500*time.Millisecond)
}

func TestMemoryRetryAfterAtLeastMillisecond(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 1e6, Burst: 1}, &ratelimit.MemoryOptions{Now: c.Now})
	allow(t, m, "k", true, 0)
	allow(t, m, "k", false, time.Millisecond) // a token is 1µs away
}

func TestMemoryClockBackwards(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Burst: 1}, &ratelimit.MemoryOptions{Now: c.Now})
	allow(t, m, "k", true, 0)
	c.Advance(-time.Hour)
	ok, retry, err := m.Allow(t.Context(), "k")
	if err != nil || ok || retry < time.Millisecond {
		t.Fatalf("after the clock stepped back: %v, %v, %v; want a refusal", ok, retry, err)
	}
}

func TestMemoryKeysIndependent(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Burst: 2}, &ratelimit.MemoryOptions{Now: c.Now})
	allow(t, m, "a", true, 0)
	allow(t, m, "a", true, 0)
	allow(t, m, "a", false, time.Second)
	allow(t, m, "b", true, 0)
	c.Advance(500 * time.Millisecond)
	allow(t, m, "a", false, 500*time.Millisecond)
	allow(t, m, "b", true, 0)
	allow(t, m, "b", false, 500*time.Millisecond)
}

func TestMemoryMaxKeys(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 0.001, Burst: 2}, &ratelimit.MemoryOptions{MaxKeys: 3, Now: c.Now})
	allow(t, m, "a", true, 0)
	allow(t, m, "a", true, 0)
	allow(t, m, "b", true, 0)
	allow(t, m, "c", true, 0)
	c.Advance(time.Second)
	allow(t, m, "a", false, 999*time.Second) // a is now the most recently used
	allow(t, m, "d", true, 0)                // drops b, the least recently used
	if n := m.Len(); n != 3 {
		t.Fatalf("Len = %d; want MaxKeys = 3", n)
	}
	allow(t, m, "a", false, 999*time.Second) // kept, still drained
	// b was dropped: it starts full again, two tokens, not the one it had.
	allow(t, m, "b", true, 0)
	allow(t, m, "b", true, 0)
	allow(t, m, "b", false, 1000*time.Second)

	for i := range 1000 {
		allow(t, m, fmt.Sprint("key-", i), true, 0)
		if n := m.Len(); n > 3 {
			t.Fatalf("Len = %d after %d keys; want at most MaxKeys = 3", n, i+1)
		}
	}
}

func TestMemoryDropsIdle(t *testing.T) {
	t.Parallel()
	c := newClock()
	// Empty, a bucket is full again after Burst/Rate = 500ms.
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 10, Burst: 5}, &ratelimit.MemoryOptions{Now: c.Now})
	for i := range 100 {
		allow(t, m, fmt.Sprint("key-", i), true, 0)
	}
	for range 5 {
		allow(t, m, "drained", true, 0)
	}
	allow(t, m, "drained", false, 100*time.Millisecond)
	c.Advance(499 * time.Millisecond)
	allow(t, m, "x", true, 0)
	if n := m.Len(); n != 102 {
		t.Fatalf("Len = %d before the buckets could be full; want 102", n)
	}
	c.Advance(time.Millisecond)
	allow(t, m, "y", true, 0)
	if n := m.Len(); n != 2 {
		t.Fatalf("Len = %d once 101 buckets were full; want 2 (x and y)", n)
	}
	// The drained bucket, dropped, behaves as it would have kept: full.
	for range 5 {
		allow(t, m, "drained", true, 0)
	}
	allow(t, m, "drained", false, 100*time.Millisecond)
}

func TestNewMemoryPanics(t *testing.T) {
	t.Parallel()
	valid := ratelimit.Limit{Rate: 1, Burst: 1}
	tests := []struct {
		name  string
		limit ratelimit.Limit
		opts  *ratelimit.MemoryOptions
		want  string
	}{
		{"zero rate", ratelimit.Limit{Rate: 0, Burst: 1}, nil, "Limit.Rate"},
		{"negative rate", ratelimit.Limit{Rate: -1, Burst: 1}, nil, "Limit.Rate"},
		{"NaN rate", ratelimit.Limit{Rate: math.NaN(), Burst: 1}, nil, "Limit.Rate"},
		{"infinite rate", ratelimit.Limit{Rate: math.Inf(1), Burst: 1}, nil, "Limit.Rate"},
		{"zero burst", ratelimit.Limit{Rate: 1, Burst: 0}, nil, "Limit.Burst"},
		{"negative MaxKeys", valid, &ratelimit.MemoryOptions{MaxKeys: -1}, "MemoryOptions.MaxKeys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.want) {
					t.Fatalf("panic %q; want one naming %s", msg, tt.want)
				}
			}()
			ratelimit.NewMemory(tt.limit, tt.opts)
		})
	}
}
