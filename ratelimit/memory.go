package ratelimit

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MemoryOptions configure a Memory limiter. The zero value, and nil, give
// the defaults.
type MemoryOptions struct {
	// MaxKeys bounds the buckets held; when a new key would exceed it, the
	// least recently used bucket is dropped, and that key starts full
	// again. Set it above the number of keys active within Burst/Rate
	// seconds of each other, so only idle keys are dropped. Defaults to
	// 100_000.
	MaxKeys int

	// Now tells the time, for tests. Defaults to time.Now.
	Now func() time.Time
}

// Memory is a Limiter whose buckets live in this process: each instance of
// a program counts on its own. It is safe for concurrent use and never
// returns an error.
//
// A bucket left idle for Burst/Rate seconds is full again, the same as a
// bucket never made, so such buckets are dropped as calls go by; no
// goroutine sweeps them.
type Memory struct {
	limit   Limit
	maxKeys int
	now     func() time.Time
	refill  time.Duration // how long an emptied bucket takes to be full

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket, also in lru
	lru     list.List                // of *bucket; front: most recently used
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	used time.Time // the latest call, by Memory.now
}

// NewMemory returns a Memory limiter applying l to each key. opts may be
// nil. NewMemory panics if l, or opts.MaxKeys, is invalid.
func NewMemory(l Limit, opts *MemoryOptions) *Memory {
	l.check()
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxKeys < 0 {
		panic(fmt.Sprintf("ratelimit: MemoryOptions.MaxKeys is %d; it must be positive, or 0 for the default", o.MaxKeys))
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Memory{
		limit:   l,
		maxKeys: o.MaxKeys,
		now:     o.Now,
		refill:  l.seconds(float64(l.Burst)),
		buckets: make(map[string]*list.Element),
	}
}

// Allow implements Limiter. ctx is not used.
func (m *Memory) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The clock is read under the lock so that buckets' use times follow
	// the order of the LRU list, which dropIdle relies on.
	now := m.now()
	m.dropIdle(now)
	lim := m.bucket(key, now)
	if lim.AllowN(now, 1) {
		return true, 0, nil
	}
	return false, m.limit.retryAfter(lim.TokensAt(now)), nil
}

// Len returns the number of buckets held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// bucket returns key's limiter, making it, and dropping the least recently
// used bucket to stay within maxKeys, when there is none.
func (m *Memory) bucket(key string, now time.Time) *rate.Limiter {
	if e, ok := m.buckets[key]; ok {
		b := e.Value.(*bucket)
		if now.After(b.used) {
			b.used = now
		}
		m.lru.MoveToFront(e)
		return b.lim
	}
	if len(m.buckets) >= m.maxKeys {
		m.remove(m.lru.Back())
	}
	b := &bucket{key: key, lim: rate.NewLimiter(rate.Limit(m.limit.Rate), m.limit.Burst), used: now}
	m.buckets[key] = m.lru.PushFront(b)
	return b.lim
}

// dropIdle drops the least recently used buckets while they have been idle
// long enough to be full. Each call drops what earlier calls made, so the
// cost is constant on average.
func (m *Memory) dropIdle(now time.Time) {
	for e := m.lru.Back(); e != nil; e = m.lru.Back() {
		if now.Sub(e.Value.(*bucket).used) < m.refill {
			return
		}
		m.remove(e)
	}
}

func (m *Memory) remove(e *list.Element) {
	delete(m.buckets, e.Value.(*bucket).key)
	m.lru.Remove(e)
}
