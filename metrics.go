package carcosa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carcosa-dev/carcosa/internal/breaker"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/queue"
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
	storageOps *prometheus.CounterVec   // bucket, op, result
	breakers   *breakerStates           // dependency
	jobs       *queueCollector          // kind, state; nil when the Queue does not count

	mu      sync.Mutex
	running map[string]string // IDs of the uploads counted in progress, to their route
}

// newMetrics registers Carcosa's collectors on reg, with the states of
// breakers, counting q's jobs at each scrape when q is a queue.Counter. It
// returns nil, and no error, when reg is nil; on an error, nothing stays
// registered.
func newMetrics(reg prometheus.Registerer, breakers map[string]*breaker.Breaker, q queue.Queue, log *slog.Logger) (*metrics, error) {
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
		storageOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carcosa_storage_operations_total",
			Help: "Operations on the buckets (default is Config.Storage), by bucket, op (put, get, delete, import, sign) and result (ok, not_found, error, canceled, invalid, unsupported, breaker_open).",
		}, []string{"bucket", "op", "result"}),
		breakers: &breakerStates{
			desc: prometheus.NewDesc("carcosa_breaker_state",
				"State of the circuit breaker of each dependency (scanner, bucket, bucket:NAME): 0 closed, 1 half-open, 2 open.",
				[]string{"dependency"}, nil),
			breakers: breakers,
		},
	}
	collectors := []prometheus.Collector{
		m.uploads, m.bytes, m.duration, m.inProgress, m.scans, m.webhooks,
		m.requests, m.latency, m.stages, m.storageOps, m.breakers,
	}
	if c, ok := q.(queue.Counter); ok {
		m.jobs = newQueueCollector(c, log)
		collectors = append(collectors, m.jobs)
	}
	for _, c := range collectors {
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

// queueCountTimeout bounds the Queue's count at a scrape: a slow database
// leaves carcosa_queue_jobs out of that scrape rather than hold it.
const queueCountTimeout = 2 * time.Second

// queueCollector is carcosa_queue_jobs: it asks the Queue for its counts at
// each scrape, since only the Queue knows them (a durable one shares them
// with other instances).
type queueCollector struct {
	counter queue.Counter
	log     *slog.Logger
	desc    *prometheus.Desc
	failing atomic.Bool // the last count failed, and was logged
}

func newQueueCollector(c queue.Counter, log *slog.Logger) *queueCollector {
	if log == nil {
		log = slog.Default()
	}
	return &queueCollector{
		counter: c,
		log:     log,
		desc: prometheus.NewDesc("carcosa_queue_jobs",
			"Background jobs by kind and state (available, scheduled, running, retryable, dead), as the Queue counts them; completed jobs are not counted.",
			[]string{"kind", "state"}, nil),
	}
}

// Describe sends the one metric's description, as prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect counts the jobs, as prometheus.Collector. On an error it sends
// nothing and logs once until a count succeeds again: failing the whole
// scrape would hide every other metric, and logging each scrape would flood.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueCountTimeout)
	defer cancel()
	counts, err := c.counter.Counts(ctx)
	if err != nil {
		if !c.failing.Swap(true) {
			c.log.Warn("carcosa: counting the queue's jobs for carcosa_queue_jobs failed; the metric is left out until a count succeeds", "error", err)
		}
		return
	}
	if c.failing.Swap(false) {
		c.log.Info("carcosa: counting the queue's jobs for carcosa_queue_jobs works again")
	}
	for _, kc := range counts {
		// A kind read back from a shared database could be anything: one
		// that is no valid label value is skipped, not a panic.
		if m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, float64(kc.Jobs), kc.Kind, string(kc.State)); err == nil {
			ch <- m
		}
	}
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

// storageOp counts the operations on bucket name for breaker.NewStorage:
// nil without metrics.
func (m *metrics) storageOp(name string) func(op, result string) {
	if m == nil {
		return nil
	}
	if name == "" {
		name = "default"
	}
	return func(op, result string) { m.storageOps.WithLabelValues(name, op, result).Inc() }
}

// breakerStates collects carcosa_breaker_state when scraped: an open
// breaker whose OpenFor has passed shows half-open, though no call has
// come since.
type breakerStates struct {
	desc     *prometheus.Desc
	breakers map[string]*breaker.Breaker // set before registration, then only read
}

func (c *breakerStates) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerStates) Collect(ch chan<- prometheus.Metric) {
	for name, b := range c.breakers {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(b.State()), name)
	}
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
