package carcosa

import (
	"context"
	"errors"
	"fmt"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

// Start starts the Router's background work: the queue's workers (the
// processing of large files, the retries of scans) and the recovery sweep,
// which first finishes what a previous process left unfinished, then runs
// every minute. Declare every route first: routes cannot be added once the
// Router has started.
//
// A Router that serves HTTP starts with its first request if Start was not
// called; one used only through its Go API (UploadFromURL, Release, …)
// must be started for its retries to run. Starting a started Router does
// nothing; a stopped Router cannot start again. ctx bounds the start
// itself, not the work it starts, which runs until Stop.
func (r *Router) Start(ctx context.Context) error {
	r.lifeMu.Lock()
	defer r.lifeMu.Unlock()
	if r.stopped {
		return errors.New("carcosa: the Router was stopped; it cannot start again")
	}
	if r.serving.Load() {
		return nil
	}
	r.serving.Store(true)
	// The queue's own context outlives ctx and the sweep's: Stop stops
	// the queue after the sweep, letting its waiting jobs run.
	if err := r.queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("carcosa: starting the background queue: %w", err)
	}
	r.queueRun = true
	r.engine.StartSweep()
	if r.relay != nil {
		r.relay.start()
	}
	return nil
}

// Stop stops the background work Start started: the recovery sweep, then
// the queue, whose waiting jobs an in-process queue runs before it
// returns. It returns ctx's error if ctx ends first, leaving the queue's
// jobs to their context (a durable queue keeps them for the next start).
// Stop does not close the backends; Close does, after stopping. A Router
// stopped before it started never starts.
func (r *Router) Stop(ctx context.Context) error {
	r.lifeMu.Lock()
	defer r.lifeMu.Unlock()
	r.stopped = true
	r.serving.Store(true) // no route is added, no request starts it
	var errs []error
	if r.engine != nil {
		if err := r.engine.StopSweep(ctx); err != nil {
			errs = append(errs, fmt.Errorf("carcosa: stopping the recovery sweep: %w", err))
		}
	}
	if r.relay != nil {
		if err := r.relay.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("carcosa: stopping the webhook relay: %w", err))
		}
	}
	if r.queueRun {
		if err := r.queue.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("carcosa: stopping the background queue: %w", err))
		}
		r.queueRun = false
	}
	if r.staging != nil {
		r.staging.Flush()
	}
	return errors.Join(errs...)
}

// Recover finishes the uploads that a crash or a failing backend left
// unfinished: resumable uploads that received all their bytes but were
// never verified and settled, or whose settling stopped half-way, and
// multipart uploads whose request died with its process. It returns once
// every such upload last changed before the call has been handled.
//
// A started Router (see Start) runs Recover by itself, and again every
// minute; call it directly to recover without waiting.
func (r *Router) Recover(ctx context.Context) error {
	return apierr.API(r.engine.Recover(ctx))
}
