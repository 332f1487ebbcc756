// Package ratelimit limits how often a key (an API key, an owner, a client
// address) may do something, with a token bucket per key: a bucket holds up
// to [Limit].Burst tokens, refills at [Limit].Rate tokens per second, and
// each allowed call takes one.
//
// # In one process
//
// [Memory] keeps the buckets in memory, with golang.org/x/time/rate. It
// holds at most [MemoryOptions].MaxKeys buckets, dropping the least
// recently used, and drops buckets idle long enough to be full again, which
// is safe: a full bucket and no bucket behave alike. Each instance of a
// program counts on its own, so N instances allow up to N times the limit.
//
// # Shared by every instance
//
// [Redis] keeps the buckets in Redis, one hash per key under
// [RedisOptions].Prefix, and takes a token with one Lua script, so calls
// from any number of instances are atomic and share one budget. The time is
// Redis's (TIME), not the callers'. A hash expires once its bucket would be
// full again.
//
// [Postgres] keeps the buckets in a PostgreSQL table instead, for programs
// that have a database and no Redis. Each call is one upsert that locks
// the key's row and is timed by the database's clock (clock_timestamp()).
// Rows are not deleted by themselves: call [Postgres.Prune] now and then
// to delete those whose bucket is full again.
//
// # Fail open or closed
//
// When Redis or PostgreSQL cannot be reached, Allow returns the error and no
// decision. For limits that protect capacity or fairness, as upload limits
// usually do, fail open: an outage of Redis should not become an outage of
// uploads. [Middleware] does so. For limits that are a security control,
// such as attempts at a secret, fail closed by wrapping the Limiter so
// that an error is a refusal; or fall back to a [Memory] limiter holding
// each instance's share of the limit.
//
// # HTTP
//
// [Middleware] answers a request over its limit with 429 Too Many
// Requests, a Retry-After header and the JSON error body every Carcosa
// error has, with the code "rate_limited".
package ratelimit
