package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/ratelimit/ratelimittest"
)

// redisBundle is one test's corner of the shared Redis: a random key
// prefix, emptied when the test ends.
type redisBundle struct {
	opts   *redis.Options
	admin  *redis.Client
	prefix string
}

func setupRedis(t *testing.T) *redisBundle {
	t.Helper()
	u := testenv.Require(t, testenv.Redis, "a Redis URL, e.g. redis://127.0.0.1:6379/0")
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", testenv.Redis, err)
	}
	b := &redisBundle{opts: opts, prefix: "carcosa:rl:test:" + randomHex() + ":"}
	b.admin = b.client(t)
	if err := b.admin.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("Redis at %s: %v", u, err)
	}
	t.Cleanup(func() { b.deleteKeys(t, b.prefix+"*") })
	return b
}

func randomHex() string {
	p := make([]byte, 8)
	rand.Read(p)
	return hex.EncodeToString(p)
}

// client returns a new client, as another instance of a program would
// have, closed when the test ends.
func (b *redisBundle) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(b.opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func (b *redisBundle) limiter(t *testing.T, l ratelimit.Limit) *ratelimit.Redis {
	t.Helper()
	return ratelimit.NewRedis(b.client(t), l, &ratelimit.RedisOptions{Prefix: b.prefix})
}

func (b *redisBundle) deleteKeys(t *testing.T, pattern string) {
	ctx := context.Background()
	iter := b.admin.Scan(ctx, 0, pattern, 100).Iterator()
	for iter.Next(ctx) {
		if err := b.admin.Del(ctx, iter.Val()).Err(); err != nil {
			t.Errorf("deleting %s: %v", iter.Val(), err)
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("listing %s: %v", pattern, err)
	}
}

func TestRedisConformance(t *testing.T) {
	testenv.Require(t, testenv.Redis, "a Redis URL, e.g. redis://127.0.0.1:6379/0")
	ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
		return setupRedis(t).limiter(t, l)
	})
}

func TestRedisInstancesShareBudget(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	l := ratelimit.Limit{Rate: 1, Burst: 10}
	instances := []*ratelimit.Redis{b.limiter(t, l), b.limiter(t, l)}
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
	}
	span := time.Since(start)
	if most := l.Burst + int(l.Rate*span.Seconds()+1); allowed < l.Burst || allowed > most {
		t.Fatalf("two instances allowed %d calls in %v; want within [%d, %d]", allowed, span, l.Burst, most)
	}
	if retry < time.Second-span || retry > time.Second+time.Millisecond {
		t.Fatalf("retryAfter = %v; want about 1/Rate = 1s", retry)
	}
	// Drained through both, the key is drained for both.
	for i, lim := range instances {
		if ok, _, err := lim.Allow(t.Context(), "k"); err != nil || ok {
			t.Fatalf("instance %d: ok %v, err %v; want a refusal", i, ok, err)
		}
	}
}

func TestRedisConcurrentInstances(t *testing.T) {
	t.Parallel()
	const goroutines, calls = 32, 25
	b := setupRedis(t)
	l := ratelimit.Limit{Rate: 20, Burst: 15}
	instances := []*ratelimit.Redis{b.limiter(t, l), b.limiter(t, l)}
	var allowed atomic.Int64
	var wg sync.WaitGroup
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
	if n, most := int(allowed.Load()), l.Burst+int(l.Rate*span.Seconds()+1); n < l.Burst || n > most {
		t.Fatalf("%d goroutines on two instances allowed %d calls in %v; want within [Burst = %d, Burst + Rate×span = %d]", goroutines, n, span, l.Burst, most)
	}
}

func TestRedisExpiresFullBuckets(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	lim := b.limiter(t, ratelimit.Limit{Rate: 100, Burst: 5})
	key := b.prefix + "k"
	if ok, _, err := lim.Allow(t.Context(), "k"); err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	// One token short, the bucket is full again within 1/Rate = 10ms.
	if ttl := b.admin.PTTL(t.Context(), key).Val(); ttl <= 0 || ttl > 10*time.Millisecond {
		t.Fatalf("PTTL = %v after one call; want within (0, 10ms]", ttl)
	}
	for {
		ok, _, err := lim.Allow(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	if ttl := b.admin.PTTL(t.Context(), key).Val(); ttl <= 0 || ttl > 50*time.Millisecond {
		t.Fatalf("PTTL = %v once drained; want within (0, Burst/Rate = 50ms]", ttl)
	}
	time.Sleep(100 * time.Millisecond)
	if n := b.admin.Exists(t.Context(), key).Val(); n != 0 {
		t.Fatalf("the bucket is still there after it was full again")
	}
}

func TestRedisDefaultPrefix(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	key := "test:" + randomHex()
	t.Cleanup(func() { b.deleteKeys(t, "carcosa:rl:"+key) })
	lim := ratelimit.NewRedis(b.client(t), ratelimit.Limit{Rate: 1, Burst: 1}, nil)
	if ok, _, err := lim.Allow(t.Context(), key); err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if n := b.admin.Exists(t.Context(), "carcosa:rl:"+key).Val(); n != 1 {
		t.Fatalf("no bucket at carcosa:rl:%s", key)
	}
}

func TestRedisReturnsErrors(t *testing.T) {
	t.Parallel()
	l := ratelimit.Limit{Rate: 1, Burst: 1}
	check := func(t *testing.T, lim ratelimit.Limiter, ctx context.Context, want string) {
		t.Helper()
		ok, _, err := lim.Allow(ctx, "k")
		if err == nil || ok {
			t.Fatalf("ok %v, err %v; want an error and no token", ok, err)
		}
		if !strings.HasPrefix(err.Error(), "ratelimit: redis: ") || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %q; want it prefixed and to contain %q", err, want)
		}
	}
	t.Run("Unreachable", func(t *testing.T) {
		t.Parallel()
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
		t.Cleanup(func() { c.Close() })
		check(t, ratelimit.NewRedis(c, l, nil), t.Context(), "")
	})
	t.Run("Canceled", func(t *testing.T) {
		t.Parallel()
		b := setupRedis(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		check(t, b.limiter(t, l), ctx, "context canceled")
	})
	t.Run("WrongType", func(t *testing.T) {
		t.Parallel()
		b := setupRedis(t)
		if err := b.admin.Set(t.Context(), b.prefix+"k", "not a bucket", 0).Err(); err != nil {
			t.Fatal(err)
		}
		check(t, b.limiter(t, l), t.Context(), "WRONGTYPE")
	})
}

func TestNewRedisPanics(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { c.Close() })
	tests := []struct {
		name   string
		client *redis.Client
		limit  ratelimit.Limit
		want   string
	}{
		{"nil client", nil, ratelimit.Limit{Rate: 1, Burst: 1}, "client"},
		{"zero rate", c, ratelimit.Limit{Rate: 0, Burst: 1}, "Limit.Rate"},
		{"zero burst", c, ratelimit.Limit{Rate: 1}, "Limit.Burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.want) {
					t.Fatalf("panic %q; want one naming %s", msg, tt.want)
				}
			}()
			ratelimit.NewRedis(tt.client, tt.limit, nil)
		})
	}
}
