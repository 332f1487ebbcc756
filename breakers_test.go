package carcosa_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// flakyScanner is a scanner that is down until told otherwise, counting
// the scans that reach it.
type flakyScanner struct {
	down  atomic.Bool
	calls atomic.Int64
}

func (s *flakyScanner) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return scan.Verdict{}, fmt.Errorf("clamd: dial tcp: connection refused: %w", scan.ErrUnavailable)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return scan.Verdict{}, err
	}
	return scan.Verdict{}, nil
}

func (s *flakyScanner) MaxSize() int64 { return 0 }

// heldQueue takes jobs and never runs them, so that only requests call
// the scanner.
type heldQueue struct{}

func (heldQueue) Handle(string, queue.Handler)                       {}
func (heldQueue) Start(context.Context) error                        { return nil }
func (heldQueue) Enqueue(context.Context, queue.Job) error           { return nil }
func (heldQueue) Stop(context.Context) error                         { return nil }
func (heldQueue) Dead(context.Context, int) ([]queue.DeadJob, error) { return nil, nil }

// TestBreakerScanner: once the scanner has failed Failures times, uploads
// fail closed (503 scan_unavailable) at once, without reaching it; after
// OpenFor a probe reaches it, and when it works again the breaker closes.
func TestBreakerScanner(t *testing.T) {
	t.Parallel()
	const openFor = 3 * time.Second
	sc := &flakyScanner{}
	sc.down.Store(true)
	reg := prometheus.NewRegistry()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Scanner = sc
		c.Metrics = reg
		c.Breaker = carcosa.BreakerSettings{Failures: 3, OpenFor: openFor}
		c.Queue = heldQueue{} // no retry of a failed scan calls the scanner
	})
	state := func() float64 { return value(t, reg, "carcosa_breaker_state", "dependency=scanner") }
	if state() != 0 {
		t.Fatalf("carcosa_breaker_state{dependency=scanner} = %v at the start, want 0", state())
	}
	for i := range 3 {
		resp, body := tb.multipartUpload(t, "files", "f.bin", randomBytes(1000))
		wantError(t, resp, body, 503, "scan_unavailable")
		if got := sc.calls.Load(); got != int64(i+1) {
			t.Fatalf("after %d failed uploads the scanner saw %d scans", i+1, got)
		}
	}
	if state() != 2 {
		t.Fatalf("carcosa_breaker_state{dependency=scanner} = %v after 3 failures, want 2 (open)", state())
	}

	opened := time.Now()
	// whileOpen fails the test, unless the breaker may have turned
	// half-open already: the machine was too slow to observe it open.
	whileOpen := func(format string, args ...any) {
		t.Helper()
		if time.Since(opened) >= openFor {
			t.Skipf("took longer than OpenFor (%v) to observe the open breaker", openFor)
		}
		t.Fatalf(format, args...)
	}

	// Open: uploads fail closed without reaching the scanner, at once.
	resp, body := tb.multipartUpload(t, "files", "f.bin", randomBytes(1000))
	if resp.StatusCode != 503 || !bytes.Contains(body, []byte(`"scan_unavailable"`)) {
		whileOpen("upload while the scanner's breaker is open: %d %s", resp.StatusCode, body)
	}
	code, rz, raw := readyz(t, tb.router)
	if c := rz.Checks["scanner"]; code != 503 || c.Status != "unavailable" || c.Error != "breaker_open" || c.Breaker != "open" {
		whileOpen("readyz while the scanner's breaker is open: %d %s", code, raw)
	}
	if c := rz.Checks["bucket"]; c.Status != "ok" || c.Breaker != "closed" {
		t.Fatalf("readyz: the bucket's check %+v", c)
	}
	if got := sc.calls.Load(); got != 3 {
		whileOpen("the scanner saw %d scans, want 3: calls went through the open breaker", got)
	}

	// Half-open after OpenFor: the scanner works again, a probe closes the
	// breaker, and uploads succeed.
	sc.down.Store(false)
	waitFor(t, "the breaker to be half-open", func() bool { return state() == 1 })
	data := randomBytes(3000)
	resp, body = tb.multipartUpload(t, "files", "ok.bin", data)
	if resp.StatusCode != 201 {
		t.Fatalf("upload after recovery: %d %s", resp.StatusCode, body)
	}
	if state() != 0 {
		t.Fatalf("carcosa_breaker_state{dependency=scanner} = %v after a good probe, want 0", state())
	}
	if got := sc.calls.Load(); got != 4 {
		t.Fatalf("the scanner saw %d scans, want 4", got)
	}
	if got := tb.fetch(t, tb.record(t, uploadedID(t, body), "alice").URL); !bytes.Equal(got, data) {
		t.Fatal("the bytes served differ from those uploaded")
	}
	if code, rz, raw := readyz(t, tb.router); code != 200 || rz.Checks["scanner"].Breaker != "closed" {
		t.Fatalf("readyz after recovery: %d %s", code, raw)
	}
}

// TestBreakerBucketFailover: a bucket whose breaker is open has its new
// uploads placed in its failover, without being tried.
func TestBreakerBucketFailover(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	tb := setupTiered(t, func(c *carcosa.Config) {
		c.Metrics = reg
		c.Breaker = carcosa.BreakerSettings{Failures: 2, OpenFor: time.Hour}
	})
	tb.faulty.SetRate(1)
	// The readiness checks fail on "big" (reads: no write fails, so only
	// the breaker can move new uploads away from it).
	for range 2 {
		if code, rz, raw := readyz(t, tb.router); code != 503 || rz.Checks["bucket:big"].Error != "unreachable" {
			t.Fatalf("readyz with big failing: %d %s", code, raw)
		}
	}
	code, rz, raw := readyz(t, tb.router)
	if c := rz.Checks["bucket:big"]; code != 503 || c.Error != "breaker_open" || c.Breaker != "open" {
		t.Fatalf("readyz with big's breaker open: %d %s", code, raw)
	}
	if got := value(t, reg, "carcosa_breaker_state", "dependency=bucket:big"); got != 2 {
		t.Fatalf("carcosa_breaker_state{dependency=bucket:big} = %v, want 2", got)
	}
	injected := tb.faulty.Injected()

	big := randomBytes(5000)
	mb, ct := multipartBody(t, part{field: "file", name: "e.bin", data: big})
	resp, body := tb.do(t, "POST", tb.url("/routes/tiered"), "bob-pro", mb, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if b := tb.where(t, uploadIDs(t, body)[0], big); b != "" {
		t.Errorf("the file went to %q, want the failover (the default bucket)", b)
	}
	id, resp, body := tb.tusUpload(t, "bob-pro", "tiered", "b.bin", big, 4096)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if b := tb.where(t, id, big); b != "" {
		t.Errorf("the resumable upload went to %q, want the failover", b)
	}
	if tb.faulty.Injected() != injected {
		t.Error("a bucket whose breaker is open was tried")
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"bucket=big", "op=get", "result=error"}, 2},
		{[]string{"bucket=big", "op=get", "result=breaker_open"}, 1},
		{[]string{"bucket=default", "op=put", "result=ok"}, 1},
		{[]string{"bucket=default", "op=import", "result=ok"}, 1},
	} {
		if got := value(t, reg, "carcosa_storage_operations_total", c.labels...); got != c.want {
			t.Errorf("carcosa_storage_operations_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
}

// TestBreakerNotFound: "not found" is an answer, not a failure: it never
// opens the breaker.
func TestBreakerNotFound(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Metrics = reg
		c.Breaker = carcosa.BreakerSettings{Failures: 1, OpenFor: time.Hour}
	})
	for range 5 {
		// Each opens a key that is not there, in the default bucket.
		if code, _, raw := readyz(t, tb.router); code != 200 {
			t.Fatalf("readyz: %d %s", code, raw)
		}
	}
	if got := value(t, reg, "carcosa_storage_operations_total", "bucket=default", "op=get", "result=not_found"); got != 5 {
		t.Fatalf("not found gets counted %v, want 5", got)
	}
	if got := value(t, reg, "carcosa_breaker_state", "dependency=bucket"); got != 0 {
		t.Fatalf("carcosa_breaker_state{dependency=bucket} = %v after not-found answers, want 0", got)
	}
	data := randomBytes(2000)
	resp, body := tb.multipartUpload(t, "files", "f.bin", data)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := tb.fetch(t, tb.record(t, uploadedID(t, body), "alice").URL); !bytes.Equal(got, data) {
		t.Fatal("the bytes served differ from those uploaded")
	}
}

// TestBreakerDisabled: with the breakers off, every failure reaches the
// dependency, and operations are still counted.
func TestBreakerDisabled(t *testing.T) {
	t.Parallel()
	sc := &flakyScanner{}
	sc.down.Store(true)
	reg := prometheus.NewRegistry()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Scanner = sc
		c.Metrics = reg
		c.Breaker = carcosa.BreakerSettings{Disabled: true, Failures: 1}
		c.Queue = heldQueue{}
	})
	for range 3 {
		resp, body := tb.multipartUpload(t, "files", "f.bin", randomBytes(100))
		wantError(t, resp, body, 503, "scan_unavailable")
	}
	if got := sc.calls.Load(); got != 3 {
		t.Fatalf("the scanner saw %d scans, want 3", got)
	}
	if code, rz, raw := readyz(t, tb.router); code != 503 || rz.Checks["scanner"].Error != "unreachable" || rz.Checks["scanner"].Breaker != "" {
		t.Fatalf("readyz: %d %s", code, raw)
	}
	if got := value(t, reg, "carcosa_storage_operations_total", "bucket=default", "op=put", "result=ok"); got != 3 {
		t.Fatalf("puts counted %v, want 3", got)
	}
}

func TestBreakerConfig(t *testing.T) {
	t.Parallel()
	c := carcosa.Config{}.WithDefaults()
	if b := c.Breaker; b.Failures != 5 || b.OpenFor != 30*time.Second || b.HalfOpenProbes != 1 || b.Disabled {
		t.Fatalf("defaults %+v", b)
	}
	_, err := carcosa.New(carcosa.Config{DataDir: t.TempDir(), Store: memstore.New(), Breaker: carcosa.BreakerSettings{OpenFor: -time.Second}})
	if err == nil || err.Error() != "carcosa: Config.Breaker.OpenFor must not be negative" {
		t.Fatalf("New with a negative OpenFor: %v", err)
	}
}
