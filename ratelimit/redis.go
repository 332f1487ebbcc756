package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis limiter. The zero value, and nil, give the
// defaults.
type RedisOptions struct {
	// Prefix begins the key of every bucket. Limiters with different
	// limits need different prefixes: limiters sharing a prefix share
	// their buckets. Defaults to "carcosa:rl:".
	Prefix string
}

// Redis is a Limiter whose buckets live in Redis, so that every instance of
// a program given the same Redis, Prefix and Limit shares one budget per
// key. Each call is one script, run atomically by Redis and timed by
// Redis's clock (TIME), so instances' clocks need not agree. A bucket is a
// hash that expires once it would be full again, so idle keys cost no
// memory. It is safe for concurrent use.
//
// Allow returns Redis's errors, wrapped; see the package documentation for
// whether to fail open or closed.
type Redis struct {
	client *redis.Client
	limit  Limit
	prefix string
}

// NewRedis returns a Redis limiter applying l to each key. opts may be nil.
// NewRedis panics if client is nil or l is invalid.
func NewRedis(client *redis.Client, l Limit, opts *RedisOptions) *Redis {
	if client == nil {
		panic("ratelimit: NewRedis needs a client")
	}
	l.check()
	prefix := "carcosa:rl:"
	if opts != nil && opts.Prefix != "" {
		prefix = opts.Prefix
	}
	return &Redis{client: client, limit: l, prefix: prefix}
}

// takeScript is the token bucket: state {tokens, ts} in a hash, ts in
// microseconds of Redis's clock. A missing hash is a full bucket, so the
// hash expires once it would be full. A refusal writes nothing: refilling
// later from the old state gives the same result.
//
// KEYS[1] the bucket; ARGV[1] rate (tokens per second); ARGV[2] burst.
// Returns {1, 0} when a token was taken, else {0, microseconds until one
// is there}.
var takeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil or ts == nil then
  tokens, ts = burst, now
elseif now > ts then
  -- A clock that steps back (a failover) refills nothing until it passes ts.
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
if tokens < 1 then
  return {0, math.min(math.ceil((1 - tokens) * 1000000 / rate), 1e15)}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', ts))
local ttl = math.min(math.max(1, math.ceil((burst - tokens) * 1000 / rate)), 1e13)
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return {1, 0}
`)

// Allow implements Limiter. It returns an error when Redis cannot be
// reached or fails the script, or when ctx ends first.
func (r *Redis) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := takeScript.Run(ctx, r.client, []string{r.prefix + key}, r.limit.Rate, r.limit.Burst).Int64Slice()
	if err == nil && len(res) != 2 {
		err = errors.New("the script returned an unexpected reply")
	}
	if err != nil {
		return false, 0, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, max(time.Duration(res[1])*time.Microsecond, time.Millisecond), nil
}
