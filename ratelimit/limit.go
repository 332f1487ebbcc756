package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Limit is a token bucket: it holds up to Burst tokens, refills at Rate
// tokens per second, and starts full. Each allowed call takes one token.
type Limit struct {
	Rate  float64 // tokens per second; positive and finite
	Burst int     // the most tokens the bucket holds; at least 1
}

// Limiter takes one token for key, or says how long to wait.
type Limiter interface {
	// Allow reports whether key may proceed now, taking a token if so.
	// When not, retryAfter is how long until a token is available, at
	// least a millisecond; a token is then there unless another call
	// takes it first. err is non-nil only when the limiter could not
	// decide (a shared store is unreachable); ok is then false and the
	// caller chooses whether to fail open or closed.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// check panics, naming the field, unless l is a usable limit: a limiter
// built on a mistaken limit fails when the program starts, not on the first
// request.
func (l Limit) check() {
	if !(l.Rate > 0) || math.IsInf(l.Rate, 1) {
		panic(fmt.Sprintf("ratelimit: Limit.Rate is %v; it must be a positive, finite number of tokens per second", l.Rate))
	}
	if l.Burst < 1 {
		panic(fmt.Sprintf("ratelimit: Limit.Burst is %d; it must be at least 1", l.Burst))
	}
}

// seconds is the time n tokens take to refill at l.Rate, rounded up to the
// nanosecond so that a caller waiting that long finds them there. Float
// error below a picosecond is not rounded up: 1ms, not 1.000001ms. Times
// beyond a Duration's range are capped.
func (l Limit) seconds(n float64) time.Duration {
	ns := math.Ceil(n/l.Rate*float64(time.Second) - 1e-3)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// retryAfter is how long until a bucket holding tokens has a whole one.
func (l Limit) retryAfter(tokens float64) time.Duration {
	return max(l.seconds(1-tokens), time.Millisecond)
}
