package carcosa

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/breaker"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// healthTimeout bounds each readiness check.
const healthTimeout = 2 * time.Second

// Health returns the handler of the Router's health endpoints, for the
// operator to mount outside BasePath, on the main server or an internal
// one:
//
//	mux.Handle("/livez", r.Health())
//	mux.Handle("/readyz", r.Health())
//
// It serves a request whose path ends in /livez or /readyz, and answers
// others 404:
//
//   - /livez answers 200 {"status":"ok"} as long as the process answers.
//   - /readyz checks every backend at once, each within 2 seconds: the
//     Store (a Get of an unknown ID, which must answer not found), each
//     bucket and the staging area (likewise, an unknown key or upload), the
//     Scanner when there is one (clamd's PING, or a scan of an empty stream
//     for a Scanner without a Ping method), and the background queue (the
//     Router started and not stopped; a request here starts a Router not
//     yet started, as its first request would). It answers 200 when all
//     pass, 503 when one fails, with each check's status and latency.
//     The scanner and the buckets go through their circuit breakers (see
//     BreakerSettings), whose state each of their checks also reports
//     ("breaker": "closed", "half-open" or "open"): while one is open its
//     check fails at once, with the error "breaker_open".
//     Once the Router drains (see Drain) it answers 503 with the status
//     "draining", whatever the checks say.
//
// The answers hold no secret and no address: buckets are named by their
// names in Config.Buckets, and a failed check says only "timeout",
// "unreachable" or "breaker_open" (the error itself is logged), so the
// endpoints are safe to expose. Methods other than GET and HEAD answer 405.
func (r *Router) Health() http.Handler {
	return &health{r: r, timeout: healthTimeout}
}

// health serves /livez and /readyz for a Router.
type health struct {
	r       *Router
	timeout time.Duration
}

// healthCheck is one backend's answer in /readyz.
type healthCheck struct {
	Status    string  `json:"status"`            // "ok" or "unavailable"
	Error     string  `json:"error,omitempty"`   // a fixed word, never the backend's text
	Breaker   string  `json:"breaker,omitempty"` // "closed", "half-open" or "open"; for the scanner and buckets
	LatencyMs float64 `json:"latencyMs"`
}

// Fixed texts of a failed check.
const (
	healthTimedOut    = "timeout"
	healthUnreachable = "unreachable"
	healthStopped     = "stopped"
	healthBreakerOpen = "breaker_open"
)

// errHealthStopped is the queue check's error once the Router is stopped.
var errHealthStopped = errors.New("the Router is stopped")

func (h *health) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apierr.Write(h.r.log, w, req, apierr.ErrMethod)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch path.Base(req.URL.Path) {
	case "livez":
		apierr.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	case "readyz":
		checks := h.run(req.Context())
		status, code := "ok", http.StatusOK
		for _, c := range checks {
			if c.Status != "ok" {
				status, code = "unavailable", http.StatusServiceUnavailable
			}
		}
		if h.r.draining.Load() {
			// Load balancers stop sending requests; those in flight finish.
			status, code = "draining", http.StatusServiceUnavailable
		}
		apierr.WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
	default:
		apierr.Write(h.r.log, w, req, apierr.ErrNotFound)
	}
}

// checks returns the readiness checks by name.
func (h *health) checks() map[string]func(context.Context) error {
	r := h.r
	probe := "carcosa-health-" + lifecycle.NewID()
	c := map[string]func(context.Context) error{
		"store": func(ctx context.Context) error {
			_, err := r.store.Get(ctx, probe)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		},
		bucketDependency(""): bucketCheck(r.buckets, "", probe),
		"staging": func(ctx context.Context) error {
			_, err := r.staging.Offset(ctx, probe)
			if errors.Is(err, tusd.ErrNotFound) {
				return nil
			}
			return err
		},
		"queue": func(ctx context.Context) error {
			if !r.serving.Load() {
				// As its first request would.
				if err := r.Start(ctx); err != nil {
					return err
				}
			}
			r.lifeMu.Lock()
			defer r.lifeMu.Unlock()
			if r.stopped || !r.queueRun {
				return errHealthStopped
			}
			return nil
		},
	}
	for name := range r.cfg.Buckets {
		c[bucketDependency(name)] = bucketCheck(r.buckets, name, probe)
	}
	if r.scanner != nil {
		c[breakerScanner] = func(ctx context.Context) error {
			if p, ok := r.scanner.(interface{ Ping(context.Context) error }); ok {
				return p.Ping(ctx)
			}
			_, err := r.scanner.Scan(ctx, strings.NewReader(""))
			return err
		}
	}
	return c
}

// bucketCheck opens a key that does not exist in bucket name, which must
// answer not found. It goes through the bucket's breaker: while that is
// open the check fails at once, and once half-open it may be the probe
// that closes it.
func bucketCheck(b *lifecycle.Buckets, name, probe string) func(context.Context) error {
	return func(ctx context.Context) error {
		s, err := b.Get(name)
		if err != nil {
			return err
		}
		rd, err := s.Open(ctx, ".carcosa-health/"+probe)
		if err == nil {
			return rd.Close()
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
}

// run runs every check at once, each bounded by h.timeout. A check that
// does not return by then is reported as timed out; it finishes on its own,
// into a buffered channel nobody needs to read.
func (h *health) run(ctx context.Context) map[string]healthCheck {
	checks := h.checks()
	var (
		mu  sync.Mutex
		out = make(map[string]healthCheck, len(checks))
		wg  sync.WaitGroup
	)
	for name, check := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, h.timeout)
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- check(cctx) }()
			var err error
			select {
			case err = <-done:
			case <-cctx.Done():
				err = cctx.Err()
			}
			res := healthCheck{Status: "ok", LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
			if b, ok := h.r.breakers[name]; ok {
				res.Breaker = b.State().String()
			}
			if err != nil {
				res.Status = "unavailable"
				switch {
				case errors.Is(err, breaker.ErrOpen):
					res.Error = healthBreakerOpen
				case errors.Is(err, errHealthStopped):
					res.Error = healthStopped
				case cctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
					res.Error = healthTimedOut
				default:
					res.Error = healthUnreachable
				}
				h.r.log.WarnContext(ctx, "carcosa: a readiness check failed", "check", name, "err", err)
			}
			mu.Lock()
			out[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
