package carcosa

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

// finish finishes tus upload id, after any operation on it already under
// way in this process.
func (r *Router) finish(ctx context.Context, id string) (*store.Upload, error) {
	return r.finishWith(ctx, id, r.finishTus)
}

// finishWith runs fn for upload id once every operation on the upload
// already under way in this process has ended; fn reads the record as they
// left it. While waiting, it gives up with ErrConflict when ctx ends.
func (r *Router) finishWith(ctx context.Context, id string, fn func(context.Context, string) (*store.Upload, error)) (*store.Upload, error) {
	r.finMu.Lock()
	t, ok := r.finishing[id]
	if !ok {
		t = &finishTurn{turn: make(chan struct{}, 1)}
		r.finishing[id] = t
	}
	t.waiting++
	r.finMu.Unlock()
	defer func() {
		r.finMu.Lock()
		if t.waiting--; t.waiting == 0 {
			delete(r.finishing, id)
		}
		r.finMu.Unlock()
	}()
	select {
	case t.turn <- struct{}{}:
	default:
		select {
		case t.turn <- struct{}{}:
		case <-ctx.Done():
			return nil, ErrConflict
		}
	}
	defer func() { <-t.turn }()
	return fn(ctx, id)
}

// inFlight reports whether upload id is being finished in this process.
func (r *Router) inFlight(id string) bool {
	r.finMu.Lock()
	defer r.finMu.Unlock()
	_, ok := r.finishing[id]
	return ok
}

// sweepInterval is how often the Router looks for uploads to recover.
const sweepInterval = time.Minute

// Recover finishes the uploads that a crash or a failing backend left
// unfinished: resumable uploads that received all their bytes but were
// never verified and settled, or whose settling stopped half-way, and
// multipart uploads whose request died with its process. It returns once
// every such upload last changed before the call has been handled.
//
// A started Router (see Start) runs Recover by itself, and again every
// minute; call it directly to recover without waiting.
func (r *Router) Recover(ctx context.Context) error {
	return apierr.API(r.sweep(ctx, time.Now(), true))
}

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
func (r *Router) sweep(ctx context.Context, before time.Time, failed bool) error {
	deadRequests := before.Add(-r.cfg.ProcessTimeout - time.Minute)
	states := []store.State{store.Processing, store.Uploading}
	if failed {
		states = append(states, store.Failed)
	}
	var errs []error
	for _, st := range states {
		q := store.Query{State: st, UpdatedBefore: before, Limit: 100}
		for {
			page, err := r.store.List(ctx, q)
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
					if rec.ErrorCode == ErrScanUnavailable.Code {
						r.enqueueProcess(ctx, rec.ID, rec.Size)
					}
					continue
				case st == store.Uploading && rec.Via == "tus" && r.expired(ctx, rec, before) && !r.staging.Complete(ctx, rec.ID):
					r.expire(ctx, rec)
					continue
				case st == store.Processing && rec.Via != "multipart" && r.asyncRec(rec):
					// A large file whose processing job was lost.
					if !r.inFlight(rec.ID) {
						r.enqueueProcess(ctx, rec.ID, rec.Size)
					}
					continue
				}
				switch rec.Via {
				case "tus":
					if rec.Partial || r.inFlight(rec.ID) || !r.staging.Has(ctx, rec.ID) {
						continue
					}
					if st == store.Uploading && !r.staging.Complete(ctx, rec.ID) {
						continue // still receiving bytes, or abandoned
					}
					r.log.InfoContext(ctx, "recovering an unfinished upload", "upload", rec.ID, "state", rec.State)
					pctx, cancel := r.processCtx(ctx)
					_, err := r.finishLocked(pctx, rec.ID, 5*time.Second)
					cancel()
					if err != nil && apierr.Client(err).Status >= 500 {
						errs = append(errs, err)
					}
				case "multipart":
					if rec.UpdatedAt.Before(deadRequests) {
						r.abandonMultipart(ctx, rec)
					}
				case "presign":
					r.sweepPresigned(ctx, rec, before)
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
func (r *Router) abandonMultipart(ctx context.Context, rec *store.Upload) {
	if rec.Key != "" {
		if err := r.deleteStored(ctx, rec); err != nil {
			r.log.WarnContext(ctx, "removing an abandoned upload's bytes", "upload", rec.ID, "err", err)
			return
		}
	}
	h, _ := r.route(rec.Route)
	r.fail(ctx, h, rec.ID, ErrInterrupted)
}

// asyncRec reports whether upload rec is processed in the background.
func (r *Router) asyncRec(rec *store.Upload) bool {
	h, ok := r.route(rec.Route)
	return ok && r.async(h.config(), rec.Size)
}

// expires is when a resumable upload created at created expires:
// UploadTTL after, or IdleUploadTTL after if sooner and it has received no
// byte.
func (r *Router) expires(created time.Time, received bool) time.Time {
	if !received {
		return created.Add(min(r.cfg.IdleUploadTTL, r.cfg.UploadTTL))
	}
	return created.Add(r.cfg.UploadTTL)
}

// expired reports whether resumable upload rec, still receiving bytes, is
// past its expiry at now. Whether it has received a byte is asked of the
// staging area only once that matters; an upload not staged here is taken
// to have received some.
func (r *Router) expired(ctx context.Context, rec *store.Upload, now time.Time) bool {
	switch {
	case rec.State != store.Uploading:
		return false
	case now.After(r.expires(rec.CreatedAt, true)):
		return true
	case !now.After(r.expires(rec.CreatedAt, false)):
		return false
	}
	off, err := r.staging.Offset(ctx, rec.ID)
	return err == nil && off == 0
}

// expire removes the staged bytes of a resumable upload past its expiry,
// holding its lock, and ends it rejected with upload_expired.
func (r *Router) expire(ctx context.Context, rec *store.Upload) error {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	unlock, err := r.lockUpload(lctx, rec.ID)
	cancel()
	if err != nil {
		return err
	}
	defer unlock()
	// rec was read before the lock: the request that held it may have
	// brought the last byte, or settled the upload.
	cur, err := r.store.Get(ctx, rec.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return apierr.Unavailable(err)
	}
	if !r.expired(ctx, cur, time.Now()) || r.staging.Complete(ctx, cur.ID) {
		return nil
	}
	if err := r.staging.Remove(ctx, rec.ID); err != nil {
		r.log.WarnContext(ctx, "removing an expired upload", "upload", rec.ID, "err", err)
		return apierr.Unavailable(err)
	}
	h, _ := r.route(rec.Route)
	r.log.InfoContext(ctx, "resumable upload expired", "upload", rec.ID, "route", rec.Route)
	r.fail(ctx, h, rec.ID, ErrUploadExpired) // returns the client's error, not a failure
	return nil
}
