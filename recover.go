package carcosa

import (
	"context"
	"errors"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// Finishing an upload (verify, store, OnComplete, ready) can be asked for
// from three places: the request that brought the last byte, a client that
// comes back after losing that request's response, and the recovery sweep
// after a crash. Within a process, one finish per upload runs at a time;
// the others wait for its outcome. Across restarts, finishing resumes from
// what the record and the staging area hold, so a file whose bytes were all
// acknowledged always ends ready or rejected.

// finishCall is one finish in progress.
type finishCall struct {
	done chan struct{}
	rec  *store.Upload
	err  error
}

// finish finishes tus upload id once, or waits for the finish already under
// way in this process.
func (r *Router) finish(ctx context.Context, id string) (*store.Upload, error) {
	return r.finishWith(ctx, id, r.finishTus)
}

// finishWith runs fn for upload id once, or waits for the run already under
// way in this process.
func (r *Router) finishWith(ctx context.Context, id string, fn func(context.Context, string) (*store.Upload, error)) (*store.Upload, error) {
	r.finMu.Lock()
	if c, ok := r.finishing[id]; ok {
		r.finMu.Unlock()
		select {
		case <-c.done:
			return c.rec, c.err
		case <-ctx.Done():
			return nil, ErrConflict
		}
	}
	c := &finishCall{done: make(chan struct{})}
	r.finishing[id] = c
	r.finMu.Unlock()
	defer func() {
		r.finMu.Lock()
		delete(r.finishing, id)
		r.finMu.Unlock()
		close(c.done)
	}()
	c.rec, c.err = fn(ctx, id)
	return c.rec, c.err
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

// startBackground starts the recovery sweep. It runs when the Router serves
// its first request, once every route is declared.
func (r *Router) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	r.bgCancel = cancel
	r.bgDone = make(chan struct{})
	go func() {
		defer close(r.bgDone)
		// First everything the previous process left unfinished, then, on
		// a timer, what a transient failure left and no client came back for.
		before := r.started
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			if err := r.sweep(ctx, before); err != nil && ctx.Err() == nil {
				r.log.Warn("recovering unfinished uploads", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				before = now.Add(-sweepInterval)
			}
		}
	}()
}

// stopBackground stops the sweep and waits for it.
func (r *Router) stopBackground() {
	if r.bgCancel != nil {
		r.bgCancel()
		<-r.bgDone
		r.bgCancel = nil
	}
}

// Recover finishes the uploads that a crash or a failing backend left
// unfinished: resumable uploads that received all their bytes but were
// never verified and settled, or whose settling stopped half-way, and
// multipart uploads whose request died with its process. It returns once
// every such upload last changed before the call has been handled.
//
// A Router runs Recover by itself when it serves its first request, and
// again every minute; call it directly to recover without waiting.
func (r *Router) Recover(ctx context.Context) error {
	return r.sweep(ctx, time.Now())
}

// sweep recovers the unfinished uploads last updated before before.
//
// A resumable upload belongs to the process whose staging area holds it, so
// only uploads staged here are finished. A multipart upload's bytes came in
// one request, which ProcessTimeout bounds; one left in progress for longer
// than that has lost its request, and is failed and its partial bytes
// removed.
func (r *Router) sweep(ctx context.Context, before time.Time) error {
	deadRequests := before.Add(-r.cfg.ProcessTimeout - time.Minute)
	var errs []error
	for _, st := range []store.State{store.Processing, store.Uploading} {
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
					if err != nil && clientError(err).Status >= 500 {
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
