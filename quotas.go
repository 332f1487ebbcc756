package carcosa

import (
	"context"
	"net/http"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/quota"
)

// Usage reports the quotas an owner of a tenant ("" for none) counts
// against on route: all routes together and route's own, for the owner
// and for the tenant, broadest first.
func (r *Router) Usage(ctx context.Context, tenant, owner, route string) ([]UsageScope, error) {
	if r.quota == nil {
		return nil, ErrNoQuotas
	}
	reps, err := r.quota.Report(ctx, quota.Subject{Tenant: tenant, Owner: owner, Route: route})
	if err != nil {
		return nil, apierr.API(err)
	}
	out := make([]UsageScope, len(reps))
	for i, s := range reps {
		out[i] = apierr.Usage(s.Scope, s.Limits, s.Used, s.Left)
	}
	return out, nil
}

// SetQuota stores limits for one scope (an owner or a tenant, on every
// route or on one), replacing Config.Quota's for it at once on every
// instance; nil goes back to Config.Quota's. The change is written to the
// audit log, with the actor named by WithActor.
func (r *Router) SetQuota(ctx context.Context, scope quota.Scope, limits *quota.Limits) error {
	if r.quota == nil {
		return ErrNoQuotas
	}
	if !scope.Valid() {
		return ErrBadRequest.With("invalid quota scope")
	}
	if limits != nil && (limits.Bytes < 0 || limits.Files < 0) {
		return ErrBadRequest.With("quota limits must not be negative (0 means no limit)")
	}
	return apierr.API(r.quota.Set(ctx, scope, limits, actorOf(ctx)))
}

// serveUsage answers GET B/usage?route=name: the caller's quotas, as the
// route's middleware identifies the caller.
func (r *Router) serveUsage(w http.ResponseWriter, req *http.Request) {
	if r.quota == nil {
		r.writeError(w, req, ErrNotFound.With("quotas are not configured"))
		return
	}
	name, g, ok := r.identify(w, req)
	if !ok {
		return
	}
	scopes, err := r.Usage(req.Context(), g.Tenant, g.Owner, name)
	if err != nil {
		r.writeError(w, req, apierr.Unavailable(err))
		return
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"quotas": scopes})
}

// identify finds who the caller of a request about no upload is, from the
// middleware of the route its ?route= names; it answers the request itself
// when that fails.
func (r *Router) identify(w http.ResponseWriter, req *http.Request) (route string, g lifecycle.Grant, ok bool) {
	name := req.URL.Query().Get("route")
	h, found := r.route(name)
	if !found {
		r.writeError(w, req, ErrUnknownRoute.With("name the route whose middleware identifies you: ?route=name"))
		return "", g, false
	}
	g, err := h.identify(req.Context(), req)
	if err != nil {
		r.writeError(w, req, err)
		return "", g, false
	}
	return name, g, true
}

// identifyOwner is identify for requests that show a caller what is
// theirs: a caller the middleware gives no owner is refused, since every
// such caller would be the same one.
func (r *Router) identifyOwner(w http.ResponseWriter, req *http.Request) (route string, g lifecycle.Grant, ok bool) {
	route, g, ok = r.identify(w, req)
	if ok && g.Owner == "" {
		r.writeError(w, req, ErrForbidden.With("the route's middleware names no owner for this caller"))
		return "", g, false
	}
	return route, g, ok
}
