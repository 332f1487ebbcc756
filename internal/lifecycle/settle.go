package lifecycle

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/store"
)

// ProcessContext detaches finishing work from the client's request so that a
// disconnect cannot leave a record half-way; ProcessTimeout bounds it.
func (eng *Engine) ProcessContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), eng.cfg.ProcessTimeout)
}

// settle finishes a verified file whose bytes are stored at key: it
// records the facts (unless rec, the upload's record, already holds them),
// scans the file (see scanStep), runs OnComplete and marks the upload
// ready. When OnComplete refuses the
// file, the stored object is removed and the upload ends rejected or failed.
// When the store fails, the upload stays processing with its bytes in place,
// and apierr.ErrUnavailable is returned: finishing it again resumes here.
//
// OnComplete runs at least once for every ready upload, and more than once
// only if the process stops (or the store fails) between OnComplete's return
// and the ready record being written.
func (eng *Engine) settle(ctx context.Context, h Route, rec *store.Upload, c *candidate, key string) (*store.Upload, error) {
	rec, result, err := eng.completeStored(ctx, h, rec, c, key)
	if err != nil {
		return nil, err
	}
	return eng.markReady(ctx, rec, result)
}

// completeStored is settle up to OnComplete: it returns the record, still
// processing, with OnComplete's result, for markReady.
func (eng *Engine) completeStored(ctx context.Context, h Route, rec *store.Upload, c *candidate, key string) (*store.Upload, json.RawMessage, error) {
	id := rec.ID
	if rec.State != store.Processing || rec.Key != key || rec.Type != c.typ.MIME || rec.Size != c.size || rec.SHA256 != c.sha256 {
		var err error
		if rec, err = eng.recordFacts(ctx, id, c, rec.Bucket, key); err != nil {
			return nil, nil, err
		}
	}
	rec, err := eng.scanStep(ctx, h, rec, c)
	if err != nil {
		return nil, nil, err
	}
	if rec, err = eng.rewriteStep(ctx, h, rec); err != nil {
		return nil, nil, err
	}
	if rec, err = eng.derivativesStep(ctx, h, rec); err != nil {
		return nil, nil, err
	}
	if err := eng.settleQuota(ctx, rec); err != nil {
		if errors.Is(err, apierr.ErrQuotaExceeded) {
			return nil, nil, eng.refuseStored(ctx, h, rec, err)
		}
		return nil, nil, err
	}
	cctx, end := eng.beginStage(ctx, StageCallback, rec)
	result, err := h.Complete(cctx, rec)
	end(&err)
	if err != nil {
		return nil, nil, eng.refuseStored(ctx, h, rec, err)
	}
	return rec, result, nil
}

// markReady marks upload rec, whose OnComplete returned result, ready.
func (eng *Engine) markReady(ctx context.Context, rec *store.Upload, result json.RawMessage) (*store.Upload, error) {
	rec, err := eng.Update(ctx, rec.ID, func(u *store.Upload) error {
		u.State = store.Ready
		u.Result = result
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	eng.log.InfoContext(ctx, "upload ready", "upload", rec.ID, "route", rec.Route, "size", rec.Size, "type", rec.Type)
	return rec, nil
}

// recordFacts marks upload id processing with what verification found and
// where its bytes are kept: at key in the named bucket.
func (eng *Engine) recordFacts(ctx context.Context, id string, c *candidate, bucket, key string) (*store.Upload, error) {
	rec, err := eng.Update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		u.Bucket, u.Key, u.Type, u.Size, u.SHA256 = bucket, key, c.typ.MIME, c.size, c.sha256
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	return rec, nil
}

// unsettled reads upload id for finishing, with its route. A ready upload
// comes back with done set; one that ended otherwise, as its error.
func (eng *Engine) unsettled(ctx context.Context, id string) (rec *store.Upload, h Route, done bool, err error) {
	rec, err = eng.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, apierr.ErrNotFound
	}
	if err != nil {
		return nil, nil, false, apierr.Unavailable(err)
	}
	h, ok := eng.route(rec.Route)
	if !ok {
		return nil, nil, false, apierr.ErrUnknownRoute
	}
	switch rec.State {
	case store.Ready:
		return rec, h, true, nil
	case store.Rejected, store.Failed, store.Quarantined:
		return nil, nil, false, apierr.OfRecord(rec)
	}
	return rec, h, false, nil
}

// refuseStored ends upload rec, whose bytes are stored, for cause: its
// bytes (and derivatives) are removed, then it fails (see fail).
func (eng *Engine) refuseStored(ctx context.Context, h Route, rec *store.Upload, cause error) error {
	if err := eng.DeleteStored(ctx, rec); err != nil {
		eng.log.ErrorContext(ctx, "removing a refused file", "upload", rec.ID, "err", err)
	}
	return eng.Fail(ctx, h, rec.ID, cause)
}

// Fail ends upload id as rejected (for a client *apierr.Error) or failed (for
// anything else), runs OnError, and returns the error the client should see.
// The caller has removed the bytes.
func (eng *Engine) Fail(ctx context.Context, h Route, id string, cause error) error {
	e := apierr.Client(cause)
	state := store.Rejected
	if e.Status >= 500 {
		state = store.Failed
	}
	rec, err := eng.Update(ctx, id, func(u *store.Upload) error {
		u.State = state
		u.ErrorCode, u.ErrorMessage = e.Code, e.Message
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrTransition) {
			eng.log.WarnContext(ctx, "upload already settled", "upload", id)
		} else {
			eng.log.ErrorContext(ctx, "recording a failed upload", "upload", id, "err", err)
		}
		return e
	}
	// A file waiting for its scan's retry keeps its bytes, and its quota.
	if e.Code != apierr.ErrScanUnavailable.Code {
		eng.ReleaseQuota(ctx, id)
	}
	if state == store.Failed {
		eng.log.ErrorContext(ctx, "upload failed", "upload", id, "route", rec.Route, "err", cause)
	} else {
		eng.log.InfoContext(ctx, "upload rejected", "upload", id, "route", rec.Route, "code", e.Code)
	}
	if h != nil {
		h.Fail(ctx, rec, e)
	}
	return e
}
