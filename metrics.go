package carcosa

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
)

// metrics holds the Prometheus collectors of Config.Metrics. A nil
// *metrics measures nothing: every method is then a no-op.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector // those registered on reg

	uploads    *prometheus.CounterVec   // route, state
	bytes      *prometheus.CounterVec   // route, via
	duration   *prometheus.HistogramVec // route, via
	inProgress *prometheus.GaugeVec     // route
	scans      *prometheus.CounterVec   // result
	webhooks   *prometheus.CounterVec   // result
	requests   *prometheus.CounterVec   // endpoint, method, code
	latency    *prometheus.HistogramVec // endpoint, method
	stages     *prometheus.HistogramVec // stage

	mu      sync.Mutex
	running map[string]string // IDs of the uploads counted in progress, to their route
}

// newMetrics registers Carcosa's collectors on reg. It returns nil, and no
// error, when reg is nil; on an error, nothing stays registered.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	// Uploads take seconds to hours; requests, milliseconds to minutes.
	uploadBuckets := prometheus.ExponentialBuckets(0.05, 4, 10) // 50ms … ~3.6h
	m := &metrics{
		reg:     reg,
		running: map[string]string{},
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carcosa_uploads_total",
			Help: "Uploads that reached a final state (ready, rejected, quarantined, failed), by route and state.",
		}, []string{"route", "state"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carcosa_upload_bytes_total",
			Help: "Bytes of the uploads that became ready, by route and the way they came in.",
		}, []string{"route", "via"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "carcosa_upload_duration_seconds",
			Help:    "Time from an upload's creation to its final state, by route and the way it came in.",
			Buckets: uploadBuckets,
		}, []string{"route", "via"}),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carcosa_uploads_in_progress",
			Help: "Uploads this process saw created (or retried) and has not seen reach a final state or be deleted, by route.",
		}, []string{"route"}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carcosa_scan_results_total",
			Help: "Malware scan outcomes of uploads reaching a final state: clean, infected, unscanned, released.",
		}, []string{"result"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carcosa_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: success, failure (retried), dead (no attempt left).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carcosa_http_requests_total",
			Help: "HTTP requests served by the Router, by route pattern, method and status code.",
		}, []string{"endpoint", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "carcosa_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms … ~4.4min
		}, []string{"endpoint", "method"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "carcosa_stage_duration_seconds",
			Help:    "Time spent in each processing stage of an upload's file: verify, store, scan, derivatives, callback.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"stage"}),
	}
	for _, c := range []prometheus.Collector{
		m.uploads, m.bytes, m.duration, m.inProgress, m.scans, m.webhooks,
		m.requests, m.latency, m.stages,
	} {
		if err := reg.Register(c); err != nil {
			m.unregister() // only what this call registered: another's may be equal
			var dup prometheus.AlreadyRegisteredError
			if errors.As(err, &dup) {
				return nil, fmt.Errorf("carcosa: Config.Metrics: Carcosa's metrics are already registered there (one Registerer per Router, or wrap it with prometheus.WrapRegistererWith): %w", err)
			}
			return nil, fmt.Errorf("carcosa: Config.Metrics: %w", err)
		}
		m.collectors = append(m.collectors, c)
	}
	return m, nil
}

// unregister removes m's collectors from its Registerer, so that another
// Router may register on it once this one is closed.
func (m *metrics) unregister() error {
	if m == nil {
		return nil
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
	return nil
}

// Observe counts one change of an upload's state.
func (m *metrics) Observe(_ context.Context, e lifecycle.Event) {
	if m == nil {
		return
	}
	to := e.To
	if e.Deleted || to.Settled() {
		m.mu.Lock()
		route, ok := m.running[e.ID]
		delete(m.running, e.ID)
		m.mu.Unlock()
		if ok {
			m.inProgress.WithLabelValues(route).Dec()
		}
	} else if to != "" {
		m.mu.Lock()
		_, ok := m.running[e.ID]
		if !ok {
			m.running[e.ID] = e.Route
		}
		m.mu.Unlock()
		if !ok {
			m.inProgress.WithLabelValues(e.Route).Inc()
		}
	}
	if e.Deleted || !to.Settled() || e.From == to {
		return
	}
	m.uploads.WithLabelValues(e.Route, string(to)).Inc()
	rec := e.Record
	if rec == nil {
		return
	}
	if to == store.Ready {
		m.bytes.WithLabelValues(e.Route, rec.Via).Add(float64(rec.Size))
	}
	if !e.From.Settled() && !rec.CreatedAt.IsZero() {
		at := e.Time
		if at.IsZero() {
			at = time.Now()
		}
		m.duration.WithLabelValues(e.Route, rec.Via).Observe(at.Sub(rec.CreatedAt).Seconds())
	}
	if rec.Scan != store.ScanNone {
		m.scans.WithLabelValues(string(rec.Scan)).Inc()
	}
}

// onAttempt is webhook.Options.OnAttempt: nil without metrics.
func (m *metrics) onAttempt() func(result string) {
	if m == nil {
		return nil
	}
	return func(result string) { m.webhooks.WithLabelValues(result).Inc() }
}

// stageTimer is lifecycle.Config.StageTimer: nil without metrics.
func (m *metrics) stageTimer() func(stage string, d time.Duration) {
	if m == nil {
		return nil
	}
	return func(stage string, d time.Duration) { m.stages.WithLabelValues(stage).Observe(d.Seconds()) }
}

// record counts and times req, served in d with status code, under the
// pattern of mux that matches it.
func (m *metrics) record(mux *http.ServeMux, req *http.Request, code int, d time.Duration) {
	if m == nil {
		return
	}
	endpoint := req.Pattern // set by mux when req reached it
	if endpoint == "" {
		// Refused before reaching mux (rate limits, draining): where it
		// was going.
		_, endpoint = mux.Handler(req)
	}
	method := metricMethod(req.Method)
	m.requests.WithLabelValues(endpoint, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(endpoint, method).Observe(d.Seconds())
}

// metricMethod bounds the method label: a client chooses the method.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter records the status code of a response and the bytes of
// its body. It flushes, and unwraps for http.ResponseController (read
// deadlines, tusd, live streams), as the ResponseWriter it wraps does.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

// status is the response's status code: 200 when the handler wrote
// nothing.
func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx answers are not the status
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush sends what is buffered, as http.Flusher.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
