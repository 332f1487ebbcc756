package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// CheckPresigned checks that the object of presigned upload rec is there
// with its declared size; a wrong size is verified, and refused, by
// finishPresigned.
func (eng *Engine) CheckPresigned(ctx context.Context, rec *store.Upload) error {
	src, err := eng.Bucket(rec)
	if err != nil {
		return err
	}
	obj, err := src.Open(ctx, rec.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return apierr.ErrNotUploaded
	}
	if err != nil {
		return apierr.Unavailable(err)
	}
	obj.Close()
	return nil
}

// finishPresigned verifies a file a client PUT to its presigned URL and
// settles its upload.
func (eng *Engine) finishPresigned(ctx context.Context, id string) (*store.Upload, error) {
	rec, h, done, err := eng.unsettled(ctx, id)
	if err != nil || done {
		return rec, err
	}
	refuse := func(err error) (*store.Upload, error) {
		return nil, eng.refuseStored(ctx, h, rec, err)
	}
	src, err := eng.Bucket(rec)
	if err != nil {
		return nil, err
	}
	obj, err := src.Open(ctx, rec.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.ErrNotUploaded
	}
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	defer obj.Close()
	if obj.Size() != rec.Size {
		return refuse(apierr.ErrSizeMismatch.With(apierr.SizeMismatch(obj.Size(), rec.Size)))
	}
	if rec, err = eng.Update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		return nil
	}); err != nil {
		return nil, apierr.Unavailable(err)
	}
	// One read: the first bytes for the type, every byte for the hash and
	// the scanner. (A file larger than the scanner examines is judged by
	// its size, without a scan.)
	head := make([]byte, filetype.SniffLen)
	n, err := io.ReadFull(obj, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, apierr.Unavailable(err)
	}
	head = head[:n]
	cfg := h.Policy()
	scan := eng.scans(cfg)
	if limit := int64(0); scan {
		limit = eng.scanner.MaxSize()
		scan = limit == 0 || rec.Size <= limit
	}
	d := eng.newDigest(ctx, head, scan)
	_, err = io.Copy(d, obj)
	size, sum, scanned := d.finish(err)
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	if size != rec.Size {
		return refuse(apierr.ErrSizeMismatch)
	}
	c := &candidate{route: cfg, name: rec.Name, head: head, size: size, sha256: sum, scan: scanned}
	if err := eng.runEarly(ctx, c); err != nil {
		return refuse(err)
	}
	// A direct upload may declare no type; its bytes alone judge it.
	if rec.ClaimedType != "" && c.typ.MIME != rec.ClaimedType {
		return refuse(apierr.ErrTypeMismatch.With(fmt.Sprintf("the file's content (%s) does not match its declared type", c.typ.MIME)))
	}
	if err := eng.runFinal(ctx, c); err != nil {
		return refuse(err)
	}
	return eng.settle(ctx, h, rec, c, rec.Key)
}

// sweepPresigned removes a presigned upload never completed once its URL has
// expired, and finishes one whose completion a crash interrupted.
func (eng *Engine) sweepPresigned(ctx context.Context, rec *store.Upload, before time.Time) {
	if rec.State == store.Processing {
		pctx, cancel := eng.ProcessContext(ctx)
		defer cancel()
		eng.inTurn(pctx, rec.ID, eng.finishPresigned)
		return
	}
	if !rec.UpdatedAt.Before(before.Add(-eng.cfg.PresignTTL - time.Minute)) {
		return
	}
	if err := eng.DeleteStored(ctx, rec); err != nil {
		eng.log.WarnContext(ctx, "removing an expired presigned upload", "upload", rec.ID, "err", err)
		return
	}
	h, _ := eng.route(rec.Route)
	eng.Fail(ctx, h, rec.ID, apierr.ErrUploadExpired)
}
