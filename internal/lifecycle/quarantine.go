package lifecycle

import (
	"context"
	"errors"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// quarantinedRecord reads the record of quarantined upload id.
func (eng *Engine) quarantinedRecord(ctx context.Context, id string) (*store.Upload, error) {
	rec, err := eng.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	if rec.State != store.Quarantined {
		return nil, apierr.ErrNotQuarantined
	}
	return rec, nil
}

func (eng *Engine) release(ctx context.Context, id string) (*store.Upload, error) {
	rec, err := eng.quarantinedRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	h, ok := eng.route(rec.Route)
	if !ok {
		return nil, apierr.ErrUnknownRoute
	}
	q, qkey, err := eng.quarantineOf(rec)
	if err != nil {
		return nil, err
	}
	dst, err := eng.Bucket(rec)
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
	rec, err = eng.Update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		u.Scan = store.ScanReleased
		u.ErrorCode, u.ErrorMessage = "", ""
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	if err := q.Delete(ctx, qkey); err != nil && !errors.Is(err, storage.ErrNotFound) {
		eng.log.WarnContext(ctx, "removing a released file's quarantined copy", "upload", id, "err", err)
	}
	eng.log.WarnContext(ctx, "quarantined file released", "upload", id, "route", rec.Route, "signature", rec.Signature)
	c := &candidate{
		route: h.Policy(), name: rec.Name, typ: filetype.Type{MIME: rec.Type},
		size: rec.Size, sha256: rec.SHA256,
	}
	return eng.settle(ctx, h, rec, c, rec.Key)
}
