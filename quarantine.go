package carcosa

import (
	"context"
	"errors"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/storage"
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
	rec, err := r.finishWith(ctx, id, r.release)
	if err != nil {
		return Upload{}, apierr.API(err)
	}
	r.recordAudit(ctx, store.AuditQuarantineReleased, actorOf(ctx), rec.Tenant, id,
		map[string]string{"route": rec.Route, "signature": rec.Signature, "sha256": rec.SHA256})
	return r.uploadJSON(rec), nil
}

// quarantinedRecord reads the record of quarantined upload id.
func (r *Router) quarantinedRecord(ctx context.Context, id string) (*store.Upload, error) {
	rec, err := r.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	if rec.State != store.Quarantined {
		return nil, ErrNotQuarantined
	}
	return rec, nil
}

func (r *Router) release(ctx context.Context, id string) (*store.Upload, error) {
	rec, err := r.quarantinedRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	h, ok := r.route(rec.Route)
	if !ok {
		return nil, ErrUnknownRoute
	}
	q, qkey, err := r.quarantineOf(rec)
	if err != nil {
		return nil, err
	}
	dst, err := r.storageOf(rec)
	if err != nil {
		return nil, err
	}
	// Copy back, then record, then remove the quarantined copy: a crash
	// between leaves the file quarantined, to be released again.
	obj, err := q.Open(ctx, qkey)
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	err = dst.Put(ctx, rec.Key, obj, &storage.PutOptions{ContentType: rec.Type, Size: rec.Size})
	obj.Close()
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	rec, err = r.update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		u.Scan = store.ScanReleased
		u.ErrorCode, u.ErrorMessage = "", ""
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	if err := q.Delete(ctx, qkey); err != nil && !errors.Is(err, storage.ErrNotFound) {
		r.log.WarnContext(ctx, "removing a released file's quarantined copy", "upload", id, "err", err)
	}
	r.log.WarnContext(ctx, "quarantined file released", "upload", id, "route", rec.Route, "signature", rec.Signature)
	c := &candidate{
		route: h.config(), name: rec.Name, typ: filetype.Type{MIME: rec.Type},
		size: rec.Size, sha256: rec.SHA256,
	}
	return r.settle(ctx, h, rec, c, rec.Key)
}

// DeleteQuarantined removes a quarantined file: its bytes and its record.
func (r *Router) DeleteQuarantined(ctx context.Context, id string) error {
	_, err := r.finishWith(ctx, id, func(ctx context.Context, id string) (*store.Upload, error) {
		rec, err := r.quarantinedRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := r.deleteStored(ctx, rec); err != nil {
			return nil, apierr.Unavailable(err)
		}
		if err := r.dropRecord(ctx, id); err != nil {
			return nil, apierr.Unavailable(err)
		}
		r.recordAudit(ctx, store.AuditQuarantineDeleted, actorOf(ctx), rec.Tenant, id,
			map[string]string{"route": rec.Route, "signature": rec.Signature, "sha256": rec.SHA256})
		r.log.InfoContext(ctx, "quarantined file deleted", "upload", id, "route", rec.Route, "signature", rec.Signature)
		return nil, nil
	})
	return apierr.API(err)
}
