package carcosa

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

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
// stopped before it started never starts. Stop does not drain: requests
// are still served (see Drain, which a graceful shutdown calls first).
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

// Drain begins the Router's graceful shutdown: from now on, requests that
// would start an upload (a multipart POST B/routes/{route}, a presign
// POST B/routes/{route}/presign, a tus creation POST B/tus/) are answered
// 503 unavailable with a Retry-After header, and /readyz answers 503
// {"status":"draining"}, so that load balancers send them elsewhere.
// Everything else is served as before: the uploads in flight finish (tus
// PATCH and HEAD, the concatenation of parallel tus uploads, POST
// B/uploads/{id}/complete), and files, records and events are read. An
// upload's event stream ends, as always, when the upload settles; an
// owner's (GET B/events), which would never end, ends at once, and the
// EventSource reconnects, to another instance once load balancers have
// seen /readyz.
//
// Call it when shutdown begins, then shut the HTTP server down with a
// deadline, which waits for the requests in flight, then Close the
// Router, which runs the background work they queued:
//
//	uploads.Drain()
//	srv.Shutdown(ctx) // ctx with the deadline the requests have
//	uploads.Close()
//
// Drain cannot be undone; draining a Router twice does nothing.
func (r *Router) Drain() {
	if !r.draining.Swap(true) {
		close(r.drained)
		r.log.Info("carcosa: draining: new uploads are refused; the uploads in flight go on")
	}
}

// drainRetryAfter is the Retry-After of a new upload refused while
// draining: time for a load balancer to see /readyz fail and send the
// retry to another instance.
const drainRetryAfter = 5 * time.Second

// errDraining refuses a new upload while the Router drains.
var errDraining = func() *apierr.Error {
	e := apierr.ErrUnavailable.With("the server is shutting down; try again after the Retry-After delay")
	e.RetryAfter = drainRetryAfter
	return e
}()

// startsUpload reports whether req, its path trimmed of BasePath, would
// start a new upload: what a draining Router refuses. A tus concatenation
// (Upload-Concat: final) makes an upload of partial ones already received,
// so it finishes what is in flight, and goes on.
func (r *Router) startsUpload(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return false
	}
	if req.URL.Path == "/tus/" {
		return !strings.HasPrefix(req.Header.Get("Upload-Concat"), "final")
	}
	_, pattern := r.mux.Handler(req)
	return pattern == "POST /routes/{route}" || pattern == "POST /routes/{route}/presign"
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
