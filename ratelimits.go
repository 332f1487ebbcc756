package carcosa

import (
	"context"
	"net"
	"net/http"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/ratelimit"
)

// RateLimits bound how fast clients may go; a nil Limiter imposes nothing.
// In-process limiters (ratelimit.NewMemory) count per instance; limiters
// kept in PostgreSQL or Redis (ratelimit.NewPostgres, ratelimit.NewRedis)
// are shared by every instance. A limiter that fails lets requests through,
// and the failure is logged. API keys are limited per key by package auth
// (auth.KeysOptions.Limiter).
//
// A request over a limit gets 429 rate_limited with a Retry-After header.
type RateLimits struct {
	// IP limits every request to the Router, by client address.
	IP ratelimit.Limiter

	// Owner limits the creation of uploads (a tus creation, a multipart
	// request, a presign request) by owner, within its tenant, once the
	// route's middleware has said who the owner is. Anonymous uploads (no
	// owner and no tenant) are left to IP.
	Owner ratelimit.Limiter

	// ClientIP finds a request's client address for IP. Defaults to the
	// host of the connection's remote address; behind a proxy, return the
	// address the proxy reports, from a proxy you trust only.
	ClientIP func(*http.Request) string
}

// clientIP is the connection's remote host.
func clientIP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// limit takes a token from l for key, or returns rate_limited.
func (r *Router) limit(ctx context.Context, l ratelimit.Limiter, key string) error {
	if l == nil {
		return nil
	}
	ok, retry, err := l.Allow(ctx, key)
	if err != nil {
		r.log.WarnContext(ctx, "rate limiter failed; the request goes through", "err", err)
		return nil
	}
	if ok {
		return nil
	}
	e := ErrRateLimited.With("too many requests; try again after the Retry-After delay")
	e.RetryAfter = retry
	return e
}

// limitIP applies RateLimits.IP to a request.
func (r *Router) limitIP(req *http.Request) error {
	l := r.cfg.RateLimit.IP
	if l == nil {
		return nil
	}
	ipOf := r.cfg.RateLimit.ClientIP
	if ipOf == nil {
		ipOf = clientIP
	}
	return r.limit(req.Context(), l, "ip:"+ipOf(req))
}

// limitOwner applies RateLimits.Owner to the creation of an upload by g.
// Anonymous callers (no owner, no tenant) are many people, not one: IP
// limits them.
func (r *Router) limitOwner(ctx context.Context, g lifecycle.Grant) error {
	if g.Owner == "" && g.Tenant == "" {
		return nil
	}
	return r.limit(ctx, r.cfg.RateLimit.Owner, "owner:"+g.Tenant+"\x00"+g.Owner)
}
