package carcosa

import (
	"context"
	"errors"
	"net/http"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/store"
)

// reserve counts a new upload's size (its declared size, or the most it
// may take) against the quotas of its owner and tenant. A refusal is
// quota_exceeded: 413 when the file could never fit, 429 otherwise.
func (r *Router) reserve(ctx context.Context, id string, size int64, g grant, route string) error {
	if r.quota == nil {
		return nil
	}
	err := r.quota.Reserve(ctx, id, size, quota.Subject{Tenant: g.tenant, Owner: g.owner, Route: route})
	var e *quota.ExceededError
	if errors.As(err, &e) {
		return apierr.Quota(e)
	}
	if err != nil {
		return apierr.Unavailable(err)
	}
	return nil
}

// settleQuota counts a verified upload at its real size, before it is
// ready. Its reservation was the most it could take, so settling never
// adds to the usage; a file larger than its reservation is refused with
// quota_exceeded rather than pushed over a limit.
func (r *Router) settleQuota(ctx context.Context, rec *store.Upload) error {
	if r.quota == nil {
		return nil
	}
	err := r.quota.Settle(context.WithoutCancel(ctx), rec.ID, rec.Size)
	switch {
	case errors.Is(err, store.ErrSettleGrows):
		r.log.ErrorContext(ctx, "an upload is larger than its quota reservation", "upload", rec.ID, "err", err)
		return ErrQuotaExceeded.With("the file is larger than the space it reserved")
	case err != nil:
		return apierr.Unavailable(err)
	}
	return nil
}

// createReserved creates the record of a new upload whose quota was
// reserved under rec.ID, giving the reservation back if that fails.
func (r *Router) createReserved(ctx context.Context, rec *store.Upload) error {
	if err := r.create(ctx, rec); err != nil {
		r.releaseQuota(ctx, rec.ID)
		return apierr.Unavailable(err)
	}
	return nil
}

// releaseQuota gives back what upload id reserved: it was refused, deleted
// or expired.
func (r *Router) releaseQuota(ctx context.Context, id string) {
	if r.quota == nil {
		return
	}
	if err := r.quota.Release(context.WithoutCancel(ctx), id); err != nil {
		r.log.ErrorContext(ctx, "releasing an upload's quota", "upload", id, "err", err)
	}
}

// dropRecord deletes upload id's record, whose bytes are gone, and gives
// back its quota.
func (r *Router) dropRecord(ctx context.Context, id string) error {
	err := r.deleteRecord(context.WithoutCancel(ctx), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r.releaseQuota(ctx, id)
	return nil
}

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
	name := req.URL.Query().Get("route")
	h, ok := r.route(name)
	if !ok {
		r.writeError(w, req, ErrUnknownRoute.With("name the route whose middleware identifies you: ?route=name"))
		return
	}
	g, err := h.identify(req.Context(), req)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	scopes, err := r.Usage(req.Context(), g.tenant, g.owner, name)
	if err != nil {
		r.writeError(w, req, apierr.Unavailable(err))
		return
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"quotas": scopes})
}
