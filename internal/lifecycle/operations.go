package lifecycle

import (
	"context"
	"errors"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/store"
)

// Record reads upload id's record; an ID of the wrong form, or an upload
// that does not exist, is ErrNotFound.
func (eng *Engine) Record(ctx context.Context, id string) (*store.Upload, error) {
	if !ValidID(id) {
		return nil, apierr.ErrNotFound
	}
	rec, err := eng.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	return rec, nil
}

// Delete removes upload id, in its turn among the operations on it: its
// bytes, derivatives, anything staged and its record, and gives back its
// quota. It returns the record as it was. Uploads being processed or
// quarantined are conflicts. A resumable upload still receiving bytes is
// deleted once the request bringing them ends when waitUploading is set,
// and is a conflict otherwise (its client ends it with a tus DELETE).
func (eng *Engine) Delete(ctx context.Context, id string, waitUploading bool) (*store.Upload, error) {
	return eng.inTurn(ctx, id, func(ctx context.Context, id string) (*store.Upload, error) {
		rec, err := eng.Record(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec.State == store.Uploading && Staged(rec.Via) && waitUploading {
			// Wait for a request bringing bytes to end, as expiry does.
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			unlock, err := eng.lockUpload(lctx, id)
			cancel()
			if err != nil {
				return nil, apierr.ErrConflict.With("the upload is receiving bytes; try again shortly")
			}
			defer unlock()
			if rec, err = eng.Record(ctx, id); err != nil {
				return nil, err
			}
		}
		switch rec.State {
		case store.Uploading:
			if !waitUploading {
				return nil, apierr.ErrConflict.With("the upload is still receiving bytes; end it with a tus DELETE")
			}
		case store.Processing:
			return nil, apierr.ErrConflict.With("the upload is being processed; try again shortly")
		case store.Quarantined:
			return nil, apierr.ErrConflict.With("the file is quarantined; an operator decides what becomes of it")
		}
		if rec.State == store.Uploading {
			if err := eng.AbortMultipart(ctx, rec); err != nil {
				return nil, apierr.Unavailable(err)
			}
		}
		if err := eng.DeleteStored(ctx, rec); err != nil {
			return nil, apierr.Unavailable(err)
		}
		if Staged(rec.Via) {
			eng.RemoveStaged(ctx, id) // a failed upload's bytes, kept for a retry
		}
		if err := eng.DropRecord(ctx, id); err != nil {
			return nil, apierr.Unavailable(err)
		}
		eng.log.InfoContext(ctx, "upload deleted", "upload", id, "route", rec.Route)
		return rec, nil
	})
}

// DeleteQuarantined removes quarantined upload id, its bytes and its
// record, and returns the record as it was.
func (eng *Engine) DeleteQuarantined(ctx context.Context, id string) (*store.Upload, error) {
	return eng.inTurn(ctx, id, func(ctx context.Context, id string) (*store.Upload, error) {
		rec, err := eng.quarantinedRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := eng.DeleteStored(ctx, rec); err != nil {
			return nil, apierr.Unavailable(err)
		}
		if err := eng.DropRecord(ctx, id); err != nil {
			return nil, apierr.Unavailable(err)
		}
		eng.log.InfoContext(ctx, "quarantined file deleted", "upload", id, "route", rec.Route, "signature", rec.Signature)
		return rec, nil
	})
}

// Release takes quarantined upload id out of quarantine, for a scanner's
// false positive: its bytes go back to their key, the route's OnComplete
// runs and the upload becomes ready, its scan recorded as released.
func (eng *Engine) Release(ctx context.Context, id string) (*store.Upload, error) {
	return eng.inTurn(ctx, id, eng.release)
}

// FinishPresigned verifies presigned upload id, whose client says its
// file is in place, and settles it.
func (eng *Engine) FinishPresigned(ctx context.Context, id string) (*store.Upload, error) {
	return eng.inTurn(ctx, id, eng.finishPresigned)
}

// Settle settles a file Receive took alone (not one of a request's files:
// see SettleAll).
func (eng *Engine) Settle(ctx context.Context, h Route, p Pending) (*store.Upload, error) {
	return eng.settle(ctx, h, p.rec, p.c, p.key)
}

// Recover finishes the uploads that a crash or a failing backend left
// unfinished, last changed before now; see sweep.
func (eng *Engine) Recover(ctx context.Context) error {
	return eng.sweep(ctx, time.Now(), true)
}

// StartSweep starts the recovery sweep, every SweepInterval, until
// StopSweep. The first sweep takes everything a previous process left.
func (eng *Engine) StartSweep() {
	eng.bgMu.Lock()
	defer eng.bgMu.Unlock()
	if eng.bgCancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng.bgCancel = cancel
	eng.bgDone = make(chan struct{})
	go eng.sweepEvery(ctx, SweepInterval)
}

// StopSweep stops the recovery sweep and waits for it to end, or for ctx.
func (eng *Engine) StopSweep(ctx context.Context) error {
	eng.bgMu.Lock()
	defer eng.bgMu.Unlock()
	if eng.bgCancel == nil {
		return nil
	}
	eng.bgCancel()
	select {
	case <-eng.bgDone:
		eng.bgCancel = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
