package lifecycle

import (
	"context"
	"errors"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/store"
)

// Reserve counts a new upload's size (its declared size, or the most it
// may take) against the quotas of its owner and tenant. A refusal is
// quota_exceeded: 413 when the file could never fit, 429 otherwise.
func (eng *Engine) Reserve(ctx context.Context, id string, size int64, g Grant, route string) error {
	if eng.quota == nil {
		return nil
	}
	err := eng.quota.Reserve(ctx, id, size, quota.Subject{Tenant: g.Tenant, Owner: g.Owner, Route: route})
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
func (eng *Engine) settleQuota(ctx context.Context, rec *store.Upload) error {
	if eng.quota == nil {
		return nil
	}
	err := eng.quota.Settle(context.WithoutCancel(ctx), rec.ID, rec.Size)
	switch {
	case errors.Is(err, store.ErrSettleGrows):
		eng.log.ErrorContext(ctx, "an upload is larger than its quota reservation", "upload", rec.ID, "err", err)
		return apierr.ErrQuotaExceeded.With("the file is larger than the space it reserved")
	case err != nil:
		return apierr.Unavailable(err)
	}
	return nil
}

// CreateReserved creates the record of a new upload whose quota was
// reserved under rec.ID, giving the reservation back if that fails.
func (eng *Engine) CreateReserved(ctx context.Context, rec *store.Upload) error {
	if err := eng.Create(ctx, rec); err != nil {
		eng.ReleaseQuota(ctx, rec.ID)
		return apierr.Unavailable(err)
	}
	return nil
}

// ReleaseQuota gives back what upload id reserved: it was refused, deleted
// or expired.
func (eng *Engine) ReleaseQuota(ctx context.Context, id string) {
	if eng.quota == nil {
		return
	}
	if err := eng.quota.Release(context.WithoutCancel(ctx), id); err != nil {
		eng.log.ErrorContext(ctx, "releasing an upload's quota", "upload", id, "err", err)
	}
}

// DropRecord deletes upload id's record, whose bytes are gone, and gives
// back its quota.
func (eng *Engine) DropRecord(ctx context.Context, id string) error {
	err := eng.DeleteRecord(context.WithoutCancel(ctx), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	eng.ReleaseQuota(ctx, id)
	return nil
}
