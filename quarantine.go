package carcosa

import (
	"context"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/store"
)

// QuarantinedFile is a file the scanner found infected. Its bytes are kept
// in the quarantine area, never served, until an operator releases or
// deletes it.
type QuarantinedFile struct {
	File                    // as the callbacks see it; URL is empty
	Signature     string    // the malware the scanner found
	QuarantinedAt time.Time // when the file was quarantined

	// Cursor is the file's place in the list: pass it to Quarantined for
	// the next page.
	Cursor store.Cursor
}

// Quarantined lists quarantined files, oldest first, after the cursor
// (the zero Cursor starts the list); limit is 1 to store.MaxLimit, or 0 for
// store.DefaultLimit.
func (r *Router) Quarantined(ctx context.Context, after store.Cursor, limit int) ([]QuarantinedFile, error) {
	q, err := store.Query{State: store.Quarantined, After: after, Limit: limit}.Check()
	if err != nil {
		return nil, ErrBadRequest.With("the limit is outside 1-1000").Wrap(err)
	}
	recs, err := r.store.List(ctx, q)
	if err != nil {
		return nil, apierr.API(err)
	}
	out := make([]QuarantinedFile, 0, len(recs))
	for _, rec := range recs {
		out = append(out, QuarantinedFile{
			File: r.fileOf(rec), Signature: rec.Signature,
			QuarantinedAt: rec.UpdatedAt, Cursor: rec.Cursor(),
		})
	}
	return out, nil
}

// Release takes a file out of quarantine, for a scanner's false positive:
// its bytes go back to their key, the route's OnComplete runs and the
// upload becomes ready, with its scan recorded as "released". It returns
// the ready record.
func (r *Router) Release(ctx context.Context, id string) (Upload, error) {
	rec, err := r.engine.Release(ctx, id)
	if err != nil {
		return Upload{}, apierr.API(err)
	}
	r.recordAudit(ctx, store.AuditQuarantineReleased, actorOf(ctx), rec.Tenant, id,
		map[string]string{"route": rec.Route, "signature": rec.Signature, "sha256": rec.SHA256})
	return r.uploadJSON(rec), nil
}

// DeleteQuarantined removes a quarantined file: its bytes and its record.
func (r *Router) DeleteQuarantined(ctx context.Context, id string) error {
	rec, err := r.engine.DeleteQuarantined(ctx, id)
	if err != nil {
		return apierr.API(err)
	}
	r.recordAudit(ctx, store.AuditQuarantineDeleted, actorOf(ctx), rec.Tenant, id,
		map[string]string{"route": rec.Route, "signature": rec.Signature, "sha256": rec.SHA256})
	return nil
}
