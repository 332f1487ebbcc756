package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
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
	ratelimittest.RunShared(t, func(t *testing.T, l ratelimit.Limit, n int) []ratelimit.Limiter {
		b := setupRedis(t)
		out := make([]ratelimit.Limiter, n)
		for i := range out {
			out[i] = b.limiter(t, l) // each instance with its own client
		}
		return out
	})
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
