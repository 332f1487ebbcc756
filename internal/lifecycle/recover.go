package lifecycle

import (
	"context"
	"errors"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/store"
)

// Finishing an upload (verify, store, OnComplete, ready) can be asked for
// from three places: the request that brought the last byte, a client that
// comes back after losing that request's response, and the recovery sweep
// after a crash. Within a process, the operations that settle an upload or
// end it (finishing, Release, Delete, DeleteQuarantined) run one at a time
// per upload; each waits its turn, then reads the record as the one before
// left it, so a second finish finds the upload settled and does not run the
// pipeline again. Across restarts, finishing resumes from what the record
// and the staging area hold, so a file whose bytes were all acknowledged
// always ends ready or rejected.

// finishTurn orders the operations on one upload: a caller runs while it
// holds the token in turn.
type finishTurn struct {
	turn    chan struct{}
	waiting int // callers running or waiting; guarded by finMu
}

// Finish finishes tus upload id, after any operation on it already under
// way in this process.
func (eng *Engine) Finish(ctx context.Context, id string) (*store.Upload, error) {
	return eng.inTurn(ctx, id, eng.finishTus)
}

// inTurn runs fn for upload id once every operation on the upload
// already under way in this process has ended; fn reads the record as they
// left it. While waiting, it gives up with apierr.ErrConflict when ctx ends.
func (eng *Engine) inTurn(ctx context.Context, id string, fn func(context.Context, string) (*store.Upload, error)) (*store.Upload, error) {
	eng.finMu.Lock()
	t, ok := eng.finishing[id]
	if !ok {
		t = &finishTurn{turn: make(chan struct{}, 1)}
		eng.finishing[id] = t
	}
	t.waiting++
	eng.finMu.Unlock()
	defer func() {
		eng.finMu.Lock()
		if t.waiting--; t.waiting == 0 {
			delete(eng.finishing, id)
		}
		eng.finMu.Unlock()
	}()
	select {
	case t.turn <- struct{}{}:
	default:
		select {
		case t.turn <- struct{}{}:
		case <-ctx.Done():
			return nil, apierr.ErrConflict
		}
	}
	defer func() { <-t.turn }()
	return fn(ctx, id)
}

// busy reports whether upload id is being finished in this process.
func (eng *Engine) busy(id string) bool {
	eng.finMu.Lock()
	defer eng.finMu.Unlock()
	_, ok := eng.finishing[id]
	return ok
}

// SweepInterval is how often the engine looks for uploads to recover.
const SweepInterval = time.Minute

// sweep recovers the unfinished uploads last updated before before, and
// removes resumable uploads past their expiry. With failed set, it also
// schedules again the scans to retry, whose jobs an in-process queue lost
// if the process ended abruptly.
//
// A resumable upload belongs to the process whose staging area holds it, so
// only uploads staged here are finished. A multipart upload's bytes came in
// one request, which ProcessTimeout bounds; one left in progress for longer
// than that has lost its request, and is failed and its partial bytes
// removed.
func (eng *Engine) sweep(ctx context.Context, before time.Time, failed bool) error {
	deadRequests := before.Add(-eng.cfg.ProcessTimeout - time.Minute)
	states := []store.State{store.Processing, store.Uploading}
	if failed {
		states = append(states, store.Failed)
	}
	var errs []error
	for _, st := range states {
		q := store.Query{State: st, UpdatedBefore: before, Limit: 100}
		for {
			page, err := eng.store.List(ctx, q)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			for _, rec := range page {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				switch {
				case st == store.Failed:
					// A scan to retry whose job was lost with its process.
					if rec.ErrorCode == apierr.ErrScanUnavailable.Code {
						eng.enqueueProcess(ctx, rec.ID, rec.Size)
					}
					continue
				case st == store.Uploading && Staged(rec.Via) && eng.Expired(ctx, rec, before) && !eng.staging.Complete(ctx, rec.ID):
					eng.Expire(ctx, rec)
					continue
				case st == store.Processing && rec.Via != "multipart" && eng.Background(rec):
					// A large file whose processing job was lost.
					if !eng.busy(rec.ID) {
						eng.enqueueProcess(ctx, rec.ID, rec.Size)
					}
					continue
				}
				switch rec.Via {
				case "tus", ViaUploadThing:
					if rec.Partial || eng.busy(rec.ID) || !eng.staging.Has(ctx, rec.ID) {
						continue
					}
					if st == store.Uploading && !eng.staging.Complete(ctx, rec.ID) {
						continue // still receiving bytes, or abandoned
					}
					eng.log.InfoContext(ctx, "recovering an unfinished upload", "upload", rec.ID, "state", rec.State)
					pctx, cancel := eng.ProcessContext(ctx)
					_, err := eng.FinishLocked(pctx, rec.ID, 5*time.Second)
					cancel()
					if err != nil && apierr.Client(err).Status >= 500 {
						errs = append(errs, err)
					}
				case "multipart":
					if rec.UpdatedAt.Before(deadRequests) {
						eng.abandonMultipart(ctx, rec)
					}
				case "presign":
					eng.sweepPresigned(ctx, rec, before)
				case ViaS3Multipart, ViaS3Post:
					eng.sweepDirect(ctx, rec, before)
				}
			}
			if len(page) < q.Limit {
				break
			}
			q.After = page[len(page)-1].Cursor()
		}
	}
	return errors.Join(errs...)
}

// abandonMultipart fails a multipart upload whose request is gone and
// removes whatever of its bytes reached storage.
func (eng *Engine) abandonMultipart(ctx context.Context, rec *store.Upload) {
	if rec.Key != "" {
		if err := eng.DeleteStored(ctx, rec); err != nil {
			eng.log.WarnContext(ctx, "removing an abandoned upload's bytes", "upload", rec.ID, "err", err)
			return
		}
	}
	h, _ := eng.route(rec.Route)
	eng.Fail(ctx, h, rec.ID, apierr.ErrInterrupted)
}

// Background reports whether upload rec is processed in the background.
func (eng *Engine) Background(rec *store.Upload) bool {
	h, ok := eng.route(rec.Route)
	return ok && eng.Async(h.Policy(), rec.Size)
}

// Expires is when a resumable upload created at created expires:
// UploadTTL after, or IdleUploadTTL after if sooner and it has received no
// byte.
func (eng *Engine) Expires(created time.Time, received bool) time.Time {
	if !received {
		return created.Add(min(eng.cfg.IdleUploadTTL, eng.cfg.UploadTTL))
	}
	return created.Add(eng.cfg.UploadTTL)
}

// Expired reports whether resumable upload rec, still receiving bytes, is
// past its expiry at now. Whether it has received a byte is asked of the
// staging area only once that matters; an upload not staged here is taken
// to have received some.
func (eng *Engine) Expired(ctx context.Context, rec *store.Upload, now time.Time) bool {
	switch {
	case rec.State != store.Uploading:
		return false
	case now.After(eng.Expires(rec.CreatedAt, true)):
		return true
	case !now.After(eng.Expires(rec.CreatedAt, false)):
		return false
	}
	off, err := eng.staging.Offset(ctx, rec.ID)
	return err == nil && off == 0
}

// Expire removes the staged bytes of a resumable upload past its expiry,
// holding its lock, and ends it rejected with upload_expired.
func (eng *Engine) Expire(ctx context.Context, rec *store.Upload) error {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	unlock, err := eng.lockUpload(lctx, rec.ID)
	cancel()
	if err != nil {
		return err
	}
	defer unlock()
	// rec was read before the lock: the request that held it may have
	// brought the last byte, or settled the upload.
	cur, err := eng.store.Get(ctx, rec.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return apierr.Unavailable(err)
	}
	if !eng.Expired(ctx, cur, time.Now()) || eng.staging.Complete(ctx, cur.ID) {
		return nil
	}
	if err := eng.staging.Remove(ctx, rec.ID); err != nil {
		eng.log.WarnContext(ctx, "removing an expired upload", "upload", rec.ID, "err", err)
		return apierr.Unavailable(err)
	}
	h, _ := eng.route(rec.Route)
	eng.log.InfoContext(ctx, "resumable upload expired", "upload", rec.ID, "route", rec.Route)
	eng.Fail(ctx, h, rec.ID, apierr.ErrUploadExpired) // returns the client's error, not a failure
	return nil
}
