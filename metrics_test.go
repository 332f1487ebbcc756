package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/webhook"
)

// metricsBundle is setupConfig with Config.Metrics on a fresh registry and
// an operator's webhook endpoint that answers 204, then configure, if any.
func metricsBundle(t *testing.T, configure ...func(*carcosa.Config)) (*testBundle, *prometheus.Registry) {
	t.Helper()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	reg := prometheus.NewRegistry()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Metrics = reg
		c.Webhooks = []webhook.Endpoint{{Name: "ops", URL: rcv.URL, Secrets: []string{webhook.NewSecret()}}}
		for _, f := range configure {
			f(c)
		}
	})
	return tb, reg
}

// metricsUploads makes a tus and a multipart upload to "files", which
// become ready, and one upload to "strict", whose OnComplete rejects it.
// It returns the IDs and the sizes of the ready ones.
func metricsUploads(t *testing.T, tb *testBundle) (ids []string, size int64) {
	t.Helper()
	tusData := bytes.Repeat([]byte("t"), 3000)
	id, resp, body := tb.tusUpload(t, "alice@acme", "files", "a.txt", tusData, 1024)
	if resp.StatusCode != 204 {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	ids = append(ids, id)
	mpData := bytes.Repeat([]byte("m"), 1234)
	for _, u := range []struct {
		route string
		data  []byte
		code  int
	}{
		{"files", mpData, 201},
		{"strict", []byte("not welcome"), 422},
	} {
		b, ct := multipartBody(t, part{field: "file", name: "b.txt", ctype: "text/plain", data: u.data})
		resp, raw := tb.do(t, "POST", tb.url("/routes/"+u.route), "bob@acme", b, map[string]string{"Content-Type": ct})
		if resp.StatusCode != u.code {
			t.Fatalf("%s: %d %s, want %d", u.route, resp.StatusCode, raw, u.code)
		}
		var res multipartResult
		if json.Unmarshal(raw, &res) == nil {
			for _, up := range res.Uploads {
				ids = append(ids, up.ID)
			}
		}
	}
	return ids, int64(len(tusData) + len(mpData))
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	tb, reg := metricsBundle(t)
	ids, size := metricsUploads(t, tb)

	waitFor(t, "two ready uploads", func() bool {
		return value(t, reg, "carcosa_uploads_total", "route=files", "state=ready") == 2
	})
	if got := value(t, reg, "carcosa_uploads_total", "route=strict", "state=rejected"); got != 1 {
		t.Errorf(`carcosa_uploads_total{route="strict",state="rejected"} = %v, want 1`, got)
	}
	if got := value(t, reg, "carcosa_uploads_total"); got != 3 {
		t.Errorf("carcosa_uploads_total = %v in all, want 3", got)
	}
	for _, via := range []string{"tus", "multipart"} {
		if got := value(t, reg, "carcosa_upload_bytes_total", "route=files", "via="+via); got == 0 {
			t.Errorf(`carcosa_upload_bytes_total{route="files",via=%q} = 0`, via)
		}
	}
	if got := value(t, reg, "carcosa_upload_bytes_total"); got != float64(size) {
		t.Errorf("carcosa_upload_bytes_total = %v, want %d", got, size)
	}
	if got := value(t, reg, "carcosa_uploads_in_progress"); got != 0 {
		t.Errorf("carcosa_uploads_in_progress = %v, want 0", got)
	}
	waitFor(t, "a successful webhook delivery", func() bool {
		return value(t, reg, "carcosa_webhook_deliveries_total", "result="+webhook.AttemptSuccess) >= 1
	})

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				for _, id := range ids {
					if l.GetValue() == id || strings.Contains(l.GetValue(), id) {
						t.Errorf("%s has label %s=%q: an upload ID", f.GetName(), l.GetName(), l.GetValue())
					}
				}
				if strings.Contains(l.GetValue(), "alice") || strings.Contains(l.GetValue(), "acme") {
					t.Errorf("%s has label %s=%q: an owner or tenant", f.GetName(), l.GetName(), l.GetValue())
				}
			}
			if f.GetName() == "carcosa_http_requests_total" {
				if labels(mt.GetLabel()) == "code=201,endpoint=POST /routes/{route},method=POST" && mt.GetCounter().GetValue() >= 1 {
					seen["POST /routes/{route} 201"] = true
				}
			}
			if f.GetName() == "carcosa_upload_duration_seconds" && mt.GetHistogram().GetSampleCount() == 0 {
				t.Errorf("carcosa_upload_duration_seconds{%s} has no sample", labels(mt.GetLabel()))
			}
		}
	}
	for _, name := range []string{
		"carcosa_uploads_total", "carcosa_upload_bytes_total", "carcosa_upload_duration_seconds",
		"carcosa_uploads_in_progress", "carcosa_webhook_deliveries_total", "carcosa_http_requests_total",
		"carcosa_http_request_duration_seconds", "carcosa_stage_duration_seconds",
		"carcosa_storage_operations_total", "carcosa_breaker_state",
		"carcosa_queue_jobs", "POST /routes/{route} 201",
	} {
		if !seen[name] {
			t.Errorf("gathered nothing of %s", name)
		}
	}
}

// labels writes ls as name=value pairs, in the registry's (sorted) order.
func labels(ls []*dto.LabelPair) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(s, ",")
}

// value is the sum of the counters, gauges or histograms' sample counts
// named name on reg whose labels include want ("name=value" pairs).
func value(t *testing.T, reg *prometheus.Registry, name string, want ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			have := "," + labels(m.GetLabel()) + ","
			for _, w := range want {
				if !strings.Contains(have, ","+w+",") {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func TestMetricsRegisteredTwice(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := carcosa.Config{DataDir: t.TempDir(), Store: memstore.New(), Metrics: reg}
	r, err := carcosa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	if _, err := carcosa.New(cfg); err == nil || !strings.Contains(err.Error(), "Config.Metrics") {
		t.Errorf("a second Router on the same registry: New = %v, want an error naming Config.Metrics", err)
	}
	// The failed New must not have unregistered the first Router's.
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/routes", nil))
	if got := value(t, reg, "carcosa_http_requests_total", "endpoint=GET /routes"); got != 1 {
		t.Errorf("after a failed New, the first Router's carcosa_http_requests_total{endpoint=\"GET /routes\"} = %v, want 1", got)
	}
	r.Close()
	cfg.DataDir = t.TempDir()
	r, err = carcosa.New(cfg) // Close unregistered the first Router's
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	r.Close()
}

func TestMetricsPassPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed; CI must provide it (.ci/run installs Debian's prometheus package)")
		}
		t.Skip("promtool is not installed (Debian's prometheus package): the exposition is not linted")
	}
	tb, reg := metricsBundle(t)
	metricsUploads(t, tb)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, rec.Body.Bytes())
	}
	for _, family := range []string{"carcosa_storage_operations_total", "carcosa_breaker_state"} {
		if !bytes.Contains(rec.Body.Bytes(), []byte("# TYPE "+family+" ")) {
			t.Errorf("the exposition checked has no %s", family)
		}
	}
}

// TestMetricsKeepEventStreams checks that the live event streams still
// flush each event at once when the Router's requests are measured.
func TestMetricsKeepEventStreams(t *testing.T) {
	t.Parallel()
	tb, _ := metricsBundle(t)
	events := tb.openStream(t, tb.url("/events?route=files"), "alice@acme", nil)
	id, resp, body := tb.tusUpload(t, "alice@acme", "files", "a.bin", []byte("a few bytes"), 4)
	if resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	for {
		e := events.next(t) // fails after 10 s: the event was not flushed
		var st stateData
		json.Unmarshal(e.Data, &st)
		if e.Name == "state" && st.ID == id && st.State == "ready" {
			return
		}
	}
}

// TestMetricsScanAndStages checks the scan results and the stages of a
// resumable upload that a scanner finds clean.
func TestMetricsScanAndStages(t *testing.T) {
	t.Parallel()
	tb, reg := metricsBundle(t, func(c *carcosa.Config) {
		c.Scanner = scan.Func(func(_ context.Context, r io.Reader) (scan.Verdict, error) {
			io.Copy(io.Discard, r)
			return scan.Verdict{}, nil
		})
	})
	_, resp, body := tb.tusUpload(t, "alice@acme", "files", "a.txt", bytes.Repeat([]byte("s"), 5000), 2000)
	if resp.StatusCode != 204 {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	waitFor(t, "a ready upload", func() bool {
		return value(t, reg, "carcosa_uploads_total", "state=ready") == 1
	})
	if got := value(t, reg, "carcosa_scan_results_total", "result=clean"); got != 1 {
		t.Errorf(`carcosa_scan_results_total{result="clean"} = %v, want 1`, got)
	}
	for _, stage := range []string{"verify", "store", "scan", "callback"} {
		if got := value(t, reg, "carcosa_stage_duration_seconds", "stage="+stage); got != 1 {
			t.Errorf("carcosa_stage_duration_seconds{stage=%q} has %v samples, want 1", stage, got)
		}
	}
	if got := value(t, reg, "carcosa_stage_duration_seconds", "stage=derivatives"); got != 0 {
		t.Errorf("carcosa_stage_duration_seconds{stage=\"derivatives\"} has %v samples for a route without derivatives", got)
	}
}

// TestMetricsQueueJobs checks that carcosa_queue_jobs reports every state of
// the Router's job kinds, and that the processing jobs of settled uploads
// are no longer waiting or running.
func TestMetricsQueueJobs(t *testing.T) {
	t.Parallel()
	tb, reg := metricsBundle(t)
	metricsUploads(t, tb)
	waitFor(t, "two ready uploads", func() bool {
		return value(t, reg, "carcosa_uploads_total", "state=ready") == 2
	})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "carcosa_queue_jobs" {
			continue
		}
		if f.GetType() != dto.MetricType_GAUGE {
			t.Errorf("carcosa_queue_jobs is a %v, want a gauge", f.GetType())
		}
		for _, m := range f.GetMetric() {
			seen[labels(m.GetLabel())] = true
		}
	}
	for _, state := range queue.States {
		if l := "kind=carcosa.process,state=" + string(state); !seen[l] {
			t.Errorf("carcosa_queue_jobs{%s} is missing; have %v", l, seen)
		}
	}
	waitFor(t, "no processing job waiting or running", func() bool {
		return value(t, reg, "carcosa_queue_jobs", "kind=carcosa.process", "state=available")+
			value(t, reg, "carcosa_queue_jobs", "kind=carcosa.process", "state=running") == 0
	})
}

// failingCounter is a Queue whose counts fail, the first after a delay.
type failingCounter struct {
	queue.Queue
	delay time.Duration
	calls atomic.Int32
}

func (q *failingCounter) Counts(ctx context.Context) ([]queue.KindCount, error) {
	if q.calls.Add(1) == 1 {
		select {
		case <-time.After(q.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, errors.New("database unreachable")
}

// TestMetricsQueueCountFails checks that a Queue whose count fails or hangs
// leaves carcosa_queue_jobs out of the scrape, within the count's timeout,
// serves the other metrics, and logs once.
func TestMetricsQueueCountFails(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	q := &failingCounter{Queue: queue.NewMemory(nil), delay: time.Minute}
	tb, reg := metricsBundle(t, func(c *carcosa.Config) {
		c.Queue = q
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	tb.router.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", base+"/routes", nil))
	for i := range 3 {
		start := time.Now()
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("scrape %d took %v", i, d)
		}
		names := map[string]bool{}
		for _, f := range families {
			names[f.GetName()] = true
		}
		if names["carcosa_queue_jobs"] || !names["carcosa_http_requests_total"] {
			t.Errorf("scrape %d gathered %v; want carcosa_http_requests_total and no carcosa_queue_jobs", i, names)
		}
	}
	if n := strings.Count(logs.String(), "carcosa_queue_jobs"); n != 1 {
		t.Errorf("the failing count logged %d times, want once:\n%s", n, logs.String())
	}
}
