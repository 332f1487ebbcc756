package carcosa

import (
	"context"
	"errors"
	"net/http"

	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/store"
)

// QuotaLeft is the "quota" member of a quota_exceeded error: the quota the
// upload would have overrun, what it has left, and the size asked for.
type QuotaLeft struct {
	UsageScope
	Size int64 `json:"size"` // the size the upload asked for
}

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
		return quotaError(e)
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

func quotaError(e *quota.ExceededError) *Error {
	out := ErrQuotaExceeded.wrap(e)
	if e.Never() {
		out.Status = http.StatusRequestEntityTooLarge
		out.Message = "the file is larger than the storage quota"
	}
	out.Quota = &QuotaLeft{UsageScope: usageOf(e.Scope, e.Limits, e.Used, e.Left()), Size: e.Size}
	return out
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
		return ErrQuotaExceeded.with("the file is larger than the space it reserved")
	case err != nil:
		return unavailable(err)
	}
	return nil
}

// createReserved creates the record of a new upload whose quota was
// reserved under rec.ID, giving the reservation back if that fails.
func (r *Router) createReserved(ctx context.Context, rec *store.Upload) error {
	if err := r.create(ctx, rec); err != nil {
		r.releaseQuota(ctx, rec.ID)
		return unavailable(err)
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

// UsageScope is one quota of a caller in GET B/usage and Router.Usage: a
// byte or file count of -1 means that dimension has no limit.
type UsageScope struct {
	Scope      string `json:"scope"`           // "owner" or "tenant"
	Route      string `json:"route,omitempty"` // set for a route's own quota
	LimitBytes int64  `json:"limitBytes"`
	LimitFiles int64  `json:"limitFiles"`
	UsedBytes  int64  `json:"usedBytes"`
	UsedFiles  int64  `json:"usedFiles"`
	LeftBytes  int64  `json:"leftBytes"`
	LeftFiles  int64  `json:"leftFiles"`
}

// usageOf is one scope's quota as clients see it: -1 for no limit.
func usageOf(scope quota.Scope, limits quota.Limits, used, left quota.Usage) UsageScope {
	u := UsageScope{
		Scope: scope.Kind, Route: scope.Route,
		LimitBytes: limits.Bytes, LimitFiles: limits.Files,
		UsedBytes: used.Bytes, UsedFiles: used.Files,
		LeftBytes: left.Bytes, LeftFiles: left.Files,
	}
	if u.LimitBytes == 0 {
		u.LimitBytes = -1
	}
	if u.LimitFiles == 0 {
		u.LimitFiles = -1
	}
	return u
}

// ErrNoQuotas is returned by Usage and SetQuota of a Router configured
// without Config.Quota: code quotas_not_configured, status 501, as
// ErrNoPresign for storage that cannot presign. (GET B/usage answers such a
// Router 404 not_found.)
var ErrNoQuotas = sentinel(http.StatusNotImplemented, "quotas_not_configured", "quotas are not configured (Config.Quota)")

// Usage reports the quotas an owner of a tenant ("" for none) counts
// against on route: all routes together and route's own, for the owner
// and for the tenant, broadest first.
func (r *Router) Usage(ctx context.Context, tenant, owner, route string) ([]UsageScope, error) {
	if r.quota == nil {
		return nil, ErrNoQuotas
	}
	reps, err := r.quota.Report(ctx, quota.Subject{Tenant: tenant, Owner: owner, Route: route})
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]UsageScope, len(reps))
	for i, s := range reps {
		out[i] = usageOf(s.Scope, s.Limits, s.Used, s.Left)
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
		return ErrBadRequest.with("invalid quota scope")
	}
	if limits != nil && (limits.Bytes < 0 || limits.Files < 0) {
		return ErrBadRequest.with("quota limits must not be negative (0 means no limit)")
	}
	return apiError(r.quota.Set(ctx, scope, limits, actorOf(ctx)))
}

// serveUsage answers GET B/usage?route=name: the caller's quotas, as the
// route's middleware identifies the caller.
func (r *Router) serveUsage(w http.ResponseWriter, req *http.Request) {
	if r.quota == nil {
		r.writeError(w, req, ErrNotFound.with("quotas are not configured"))
		return
	}
	name := req.URL.Query().Get("route")
	h, ok := r.route(name)
	if !ok {
		r.writeError(w, req, ErrUnknownRoute.with("name the route whose middleware identifies you: ?route=name"))
		return
	}
	g, err := h.identify(req.Context(), req)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	scopes, err := r.Usage(req.Context(), g.tenant, g.owner, name)
	if err != nil {
		r.writeError(w, req, unavailable(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"quotas": scopes})
}
