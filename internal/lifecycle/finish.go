package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// ProcessLater marks tus upload id, whose last byte arrived, processing,
// and leaves its verification to a job.
func (eng *Engine) ProcessLater(ctx context.Context, id string) (*store.Upload, error) {
	rec, err := eng.Update(ctx, id, func(u *store.Upload) error {
		if u.State == store.Uploading {
			u.State = store.Processing
		}
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	if rec.State == store.Processing {
		eng.enqueueProcess(ctx, id, rec.Size)
	}
	return rec, nil
}

// finishTus verifies a staged upload, moves it into storage and settles it.
// Use finish, which runs one finishTus per upload at a time.
//
// It can resume any partial run of itself: the staged upload (data, .info
// and hash state) is removed only after the record is settled, and the
// record names the storage key before the bytes move. A failure of storage
// or of the store leaves the upload processing with its bytes staged, and
// is reported as apierr.ErrUnavailable so that the client retries.
func (eng *Engine) finishTus(ctx context.Context, id string) (*store.Upload, error) {
	rec, h, done, err := eng.unsettled(ctx, id)
	if err != nil || done {
		return rec, err
	}
	if !eng.staging.Has(ctx, id) {
		// Staged in another process's DataDir: that process finishes it.
		return nil, apierr.ErrConflict.With("the upload is being processed; try again")
	}
	if rec.State == store.Uploading && !eng.staging.Complete(ctx, id) {
		return nil, apierr.ErrConflict.With("the upload has not received all its bytes")
	}
	if eng.cfg.BeforeVerify != nil {
		eng.cfg.BeforeVerify(id)
	}
	refuse := func(err error) (*store.Upload, error) {
		eng.RemoveStaged(ctx, id)
		return nil, eng.Fail(ctx, h, id, err)
	}
	var c *candidate
	if eng.staging.HoldsBytes(ctx, id) {
		vctx, end := eng.beginStage(ctx, StageVerify, rec)
		c, err = eng.verifyStaged(vctx, h, id, rec.Name)
		end(&err)
		var e *apierr.Error
		if errors.As(err, &e) && e.Status < 500 {
			return refuse(err)
		}
		if err != nil {
			return nil, apierr.Unavailable(err)
		}
		sctx, end := eng.beginStage(ctx, StageStore, rec)
		rec, err = eng.commitStaged(sctx, rec, c, StorageKey(rec.Route, id, c.typ))
		end(&err)
		if err != nil {
			return nil, err
		}
	} else {
		// An earlier run moved the bytes into storage and stopped before
		// the upload settled: settle from the record.
		if c, err = eng.storedCandidate(ctx, h, rec); err != nil {
			if errors.Is(err, apierr.ErrUnavailable) {
				return nil, err
			}
			return refuse(err)
		}
	}
	rec, err = eng.settle(ctx, h, rec, c, rec.Key)
	if !leftToRetry(err) {
		// Ready, or ended otherwise (quarantined, refused by the scan's
		// policy or by OnComplete): the staged copy is of no more use.
		eng.RemoveStaged(ctx, id)
	}
	return rec, err
}

// leftToRetry reports whether err, from settling an upload, leaves it to be
// finished again: by the client's retry when a backend failed, by a job
// when the scanner did. Such an upload keeps what is staged for it.
func leftToRetry(err error) bool {
	return errors.Is(err, apierr.ErrUnavailable) || errors.Is(err, apierr.ErrScanUnavailable)
}

// verifyStaged runs the verification stages on a staged upload.
func (eng *Engine) verifyStaged(ctx context.Context, h Route, id, name string) (*candidate, error) {
	sum, size, err := eng.staging.Digest(ctx, id)
	if err != nil {
		return nil, err
	}
	head, err := eng.staging.Head(ctx, id, filetype.SniffLen)
	if err != nil {
		return nil, err
	}
	c := &candidate{
		route: h.Policy(), name: name,
		head: head, size: size, sha256: fmt.Sprintf("%x", sum),
	}
	if err := eng.runEarly(ctx, c); err != nil {
		return nil, err
	}
	if err := eng.runFinal(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// storedCandidate rebuilds the verified facts of an upload whose bytes an
// earlier run moved into storage, checking that they are all there.
func (eng *Engine) storedCandidate(ctx context.Context, h Route, rec *store.Upload) (*candidate, error) {
	if rec.Key == "" || rec.SHA256 == "" {
		return nil, fmt.Errorf("upload %s: staged bytes gone before verification", rec.ID)
	}
	src, err := eng.Bucket(rec)
	if err != nil {
		return nil, err
	}
	obj, err := src.Open(ctx, rec.Key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("upload %s: bytes in neither staging nor storage", rec.ID)
		}
		return nil, apierr.Unavailable(err)
	}
	size := obj.Size()
	obj.Close()
	if size != rec.Size {
		return nil, fmt.Errorf("upload %s: stored %d bytes, verified %d", rec.ID, size, rec.Size)
	}
	return &candidate{
		route: h.Policy(), name: rec.Name, typ: filetype.Type{MIME: rec.Type},
		size: rec.Size, sha256: rec.SHA256,
	}, nil
}

// commitStaged records where a verified upload's bytes go, then puts
// them there: into the upload's bucket, or into its failover when that
// fails. The record names the place before the bytes move, so that a run
// that stops after the move can settle from it.
func (eng *Engine) commitStaged(ctx context.Context, rec *store.Upload, c *candidate, key string) (*store.Upload, error) {
	opts := &storage.PutOptions{ContentType: c.typ.MIME, Size: c.size}
	bucket := rec.Bucket
	for {
		rec, err := eng.recordFacts(ctx, rec.ID, c, bucket, key)
		if err != nil {
			return nil, err
		}
		dst, err := eng.buckets.Get(bucket)
		if err != nil {
			return nil, err
		}
		err = eng.staging.Commit(ctx, rec.ID, dst, key, opts)
		if err == nil {
			return rec, nil
		}
		eng.buckets.Failed(bucket)
		alt, ok := eng.buckets.Alternative(bucket)
		if !ok || ctx.Err() != nil {
			return nil, apierr.Unavailable(err)
		}
		eng.log.WarnContext(ctx, "storing an upload failed; trying the bucket's failover", "upload", rec.ID, "bucket", bucket, "failover", alt, "err", err)
		bucket = alt
	}
}

// RemoveStaged removes what is staged for upload id, logging a failure:
// the upload has settled, so what is left only takes space.
func (eng *Engine) RemoveStaged(ctx context.Context, id string) {
	if err := eng.staging.Remove(ctx, id); err != nil {
		eng.log.WarnContext(ctx, "removing a staged upload", "upload", id, "err", err)
	}
}

// LockWait is how long a request waits for an upload's lock, as tusd's
// own requests do.
const LockWait = 20 * time.Second

// FinishLocked finishes upload id holding its lock, which it waits for at
// most wait. The requests that tusd serves take the lock themselves.
func (eng *Engine) FinishLocked(ctx context.Context, id string, wait time.Duration) (*store.Upload, error) {
	lctx, cancel := context.WithTimeout(ctx, wait)
	unlock, err := eng.lockUpload(lctx, id)
	cancel()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return eng.Finish(ctx, id)
}
