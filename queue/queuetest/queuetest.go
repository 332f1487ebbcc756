// Package queuetest is the conformance suite that every queue.Queue
// implementation runs, so that the router can rely on one behaviour whatever
// the backend.
//
// Beyond the queue.Queue documentation, the suite pins down:
//   - Handlers see the job with its defaults filled in (Priority 2,
//     MaxAttempts 10) and a Payload equivalent as JSON to the one enqueued.
//   - Attempts count 1, 2, 3…; a panic is a failed attempt.
//   - Dead lists jobs newest first, with Attempts, LastError and DiedAt.
//   - With one worker busy, waiting jobs run by priority, then in order.
//   - UniqueKey dedupes by Kind and UniqueKey while a job is waiting or
//     running, and no longer once it has completed (durable queues may
//     record a completion a moment after its handler returned).
//   - Stop returns only once running jobs have finished, and a second Stop
//     returns nil.
//   - A job with RunAt ahead does not run before it, and runs after it;
//     its handler sees RunAt as enqueued.
//   - A queue.Counter counts jobs available, scheduled, running, retryable
//     and dead, reports zeros for every registered kind, and no longer
//     counts completed jobs.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/queue"
)

// Options are what a subtest asks of the queue newQueue makes.
type Options struct {
	Workers int           // the most jobs run at once
	Backoff queue.Backoff // fast, so that retries take milliseconds
}

// Timeout bounds every wait of the suite; durable queues poll a database.
const Timeout = 20 * time.Second

// Run runs the conformance suite. newQueue must return a new, empty queue,
// not started, configured with opts; Run starts it and stops it when the
// subtest ends. Subtests run in parallel.
func Run(t *testing.T, newQueue func(t *testing.T, opts Options) queue.Queue) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newQueue func(t *testing.T, opts Options) queue.Queue)
	}{
		{"RunsOnce", testRunsOnce},
		{"Retries", testRetries},
		{"PanicIsAnError", testPanicIsAnError},
		{"DeadAfterMaxAttempts", testDeadAfterMaxAttempts},
		{"CancelIsDeadAtOnce", testCancelIsDeadAtOnce},
		{"Priorities", testPriorities},
		{"UniqueKey", testUniqueKey},
		{"WorkersBound", testWorkersBound},
		{"StopWaitsForRunning", testStopWaitsForRunning},
		{"ManyJobs", testManyJobs},
		{"RunAt", testRunAt},
		{"EnqueueRejects", testEnqueueRejects},
		{"HandleAfterStartPanics", testHandleAfterStartPanics},
		{"Counts", testCounts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newQueue)
		})
	}
}

// fast is the Backoff of the suite.
func fast(int) time.Duration { return 10 * time.Millisecond }

// start starts q and stops it when the test ends.
func start(t *testing.T, q queue.Queue) {
	t.Helper()
	if err := q.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

func enqueue(t *testing.T, q queue.Queue, job queue.Job) {
	t.Helper()
	if err := q.Enqueue(context.Background(), job); err != nil {
		t.Fatalf("Enqueue %s %s: %v", job.Kind, job.Payload, err)
	}
}

// payload encodes v.
func payload(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// decode decodes a payload made by payload(string).
func decode(t *testing.T, p json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(p, &s); err != nil {
		t.Errorf("payload %s: %v", p, err)
	}
	return s
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// eventually waits until cond holds, failing the test after Timeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receive waits for a value on ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(Timeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// dead waits until q lists n dead jobs and returns them.
func dead(t *testing.T, q queue.Queue, n int) []queue.DeadJob {
	t.Helper()
	var jobs []queue.DeadJob
	eventually(t, fmt.Sprintf("%d dead jobs", n), func() bool {
		var err error
		jobs, err = q.Dead(context.Background(), 100)
		if err != nil {
			t.Fatalf("Dead: %v", err)
		}
		return len(jobs) >= n
	})
	if len(jobs) != n {
		t.Fatalf("%d dead jobs, want %d", len(jobs), n)
	}
	return jobs
}

// counter counts calls of a handler.
type counter struct{ n atomic.Int32 }

func (c *counter) get() int { return int(c.n.Load()) }

func testRunsOnce(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 2, Backoff: fast})
	type call struct {
		job     queue.Job
		attempt int
	}
	calls := make(chan call, 10)
	q.Handle("test.once", func(ctx context.Context, job queue.Job, attempt int) error {
		calls <- call{job, attempt}
		return nil
	})
	start(t, q)
	p := json.RawMessage(`{"upload": "u1", "n": 1, "tags": ["a", "b"]}`)
	enqueue(t, q, queue.Job{Kind: "test.once", Payload: p})
	c := receive(t, calls, "the job")
	if c.job.Kind != "test.once" || c.attempt != 1 {
		t.Errorf("ran kind %q attempt %d, want test.once attempt 1", c.job.Kind, c.attempt)
	}
	if !sameJSON(c.job.Payload, p) {
		t.Errorf("payload %s, want %s", c.job.Payload, p)
	}
	if c.job.Priority != queue.DefaultPriority || c.job.MaxAttempts != queue.DefaultMaxAttempts {
		t.Errorf("handler saw Priority %d, MaxAttempts %d; want the defaults %d, %d",
			c.job.Priority, c.job.MaxAttempts, queue.DefaultPriority, queue.DefaultMaxAttempts)
	}
	select {
	case c := <-calls:
		t.Errorf("the job ran again, attempt %d", c.attempt)
	case <-time.After(200 * time.Millisecond):
	}
}

func testRetries(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 2, Backoff: fast})
	var mu sync.Mutex
	var attempts []int
	done := make(chan struct{})
	q.Handle("test.flaky", func(ctx context.Context, job queue.Job, attempt int) error {
		mu.Lock()
		attempts = append(attempts, attempt)
		mu.Unlock()
		if attempt < 3 {
			return fmt.Errorf("flaky %d", attempt)
		}
		close(done)
		return nil
	})
	start(t, q)
	enqueue(t, q, queue.Job{Kind: "test.flaky", Payload: payload("x")})
	receive(t, done, "the third attempt")
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Errorf("attempts %v, want [1 2 3]", attempts)
	}
	if d, err := q.Dead(context.Background(), 10); err != nil || len(d) != 0 {
		t.Errorf("Dead = %v, %v; want none", d, err)
	}
}

func testPanicIsAnError(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 1, Backoff: fast})
	done := make(chan int, 1)
	q.Handle("test.panic", func(ctx context.Context, job queue.Job, attempt int) error {
		if attempt == 1 {
			panic("handler bug")
		}
		done <- attempt
		return nil
	})
	start(t, q)
	enqueue(t, q, queue.Job{Kind: "test.panic"})
	if a := receive(t, done, "the attempt after the panic"); a != 2 {
		t.Errorf("attempt %d after the panic, want 2", a)
	}
}

func testDeadAfterMaxAttempts(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 2, Backoff: fast})
	var calls counter
	q.Handle("test.fail", func(ctx context.Context, job queue.Job, attempt int) error {
		calls.n.Add(1)
		return fmt.Errorf("boom %s %d", decode(t, job.Payload), attempt)
	})
	start(t, q)
	before := time.Now()
	enqueue(t, q, queue.Job{Kind: "test.fail", Payload: payload("a"), MaxAttempts: 3, Priority: 3, UniqueKey: "k"})
	d := dead(t, q, 1)[0]
	if d.Kind != "test.fail" || decode(t, d.Payload) != "a" || d.Priority != 3 || d.MaxAttempts != 3 || d.UniqueKey != "k" {
		t.Errorf("dead job %+v, want the job enqueued", d.Job)
	}
	if d.Attempts != 3 || !strings.Contains(d.LastError, "boom a 3") {
		t.Errorf("dead after %d attempts with %q, want 3 attempts and \"boom a 3\"", d.Attempts, d.LastError)
	}
	if d.ID == "" {
		t.Error("dead job has no ID")
	}
	if d.DiedAt.Before(before.Add(-time.Second)) || d.DiedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("DiedAt %v, want about now", d.DiedAt)
	}
	// A second dead job lists first; limit is honoured.
	enqueue(t, q, queue.Job{Kind: "test.fail", Payload: payload("b"), MaxAttempts: 1})
	ds := dead(t, q, 2)
	if decode(t, ds[0].Payload) != "b" || decode(t, ds[1].Payload) != "a" || ds[0].ID == ds[1].ID {
		t.Errorf("Dead lists %s (%s), %s (%s); want b, then a", ds[0].Payload, ds[0].ID, ds[1].Payload, ds[1].ID)
	}
	if one, err := q.Dead(context.Background(), 1); err != nil || len(one) != 1 || decode(t, one[0].Payload) != "b" {
		t.Errorf("Dead(1) = %v, %v; want only b", one, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.get(); n != 4 {
		t.Errorf("%d calls, want 3 + 1", n)
	}
}

func testCancelIsDeadAtOnce(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 2, Backoff: fast})
	var calls counter
	q.Handle("test.cancel", func(ctx context.Context, job queue.Job, attempt int) error {
		calls.n.Add(1)
		return queue.Cancel(errors.New("unreadable file"))
	})
	start(t, q)
	enqueue(t, q, queue.Job{Kind: "test.cancel", Payload: payload("c"), MaxAttempts: 5})
	d := dead(t, q, 1)[0]
	if d.Attempts != 1 || !strings.Contains(d.LastError, "unreadable file") || decode(t, d.Payload) != "c" {
		t.Errorf("dead after %d attempts with %q, payload %s; want 1, \"unreadable file\", c", d.Attempts, d.LastError, d.Payload)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.get(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// blocker registers kind "test.block", whose jobs report that they started
// and hold their worker until release is closed.
func blocker(q queue.Queue) (started <-chan struct{}, release chan struct{}) {
	s := make(chan struct{}, 10)
	release = make(chan struct{})
	q.Handle("test.block", func(ctx context.Context, job queue.Job, attempt int) error {
		s <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return s, release
}

func testPriorities(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 1, Backoff: fast})
	started, release := blocker(q)
	ran := make(chan string, 10)
	q.Handle("test.order", func(ctx context.Context, job queue.Job, attempt int) error {
		ran <- decode(t, job.Payload)
		return nil
	})
	start(t, q)
	enqueue(t, q, queue.Job{Kind: "test.block"})
	receive(t, started, "the blocker")
	enqueue(t, q, queue.Job{Kind: "test.order", Payload: payload("low"), Priority: 4})
	enqueue(t, q, queue.Job{Kind: "test.order", Payload: payload("default")})
	enqueue(t, q, queue.Job{Kind: "test.order", Payload: payload("low2"), Priority: 4})
	enqueue(t, q, queue.Job{Kind: "test.order", Payload: payload("high"), Priority: 1})
	close(release)
	var order []string
	for range 4 {
		order = append(order, receive(t, ran, "the ordered jobs"))
	}
	if want := []string{"high", "default", "low", "low2"}; !slices.Equal(order, want) {
		t.Errorf("ran %v, want %v", order, want)
	}
}

func testUniqueKey(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 1, Backoff: fast})
	var mu sync.Mutex
	var ran []string
	hold := make(chan struct{})
	running := make(chan struct{}, 1)
	record := func(ctx context.Context, job queue.Job, attempt int) error {
		p := decode(t, job.Payload)
		mu.Lock()
		ran = append(ran, job.Kind+":"+p)
		mu.Unlock()
		if p == "running" {
			running <- struct{}{}
			<-hold
		}
		return nil
	}
	q.Handle("test.unique", record)
	q.Handle("test.unique2", record)
	start(t, q)
	// The worker is held by a job with key "r"; "w" waits behind it.
	enqueue(t, q, queue.Job{Kind: "test.unique", UniqueKey: "r", Payload: payload("running")})
	receive(t, running, "the running job")
	enqueue(t, q, queue.Job{Kind: "test.unique", UniqueKey: "r", Payload: payload("dup-of-running")})
	enqueue(t, q, queue.Job{Kind: "test.unique", UniqueKey: "w", Payload: payload("waiting")})
	enqueue(t, q, queue.Job{Kind: "test.unique", UniqueKey: "w", Payload: payload("dup-of-waiting")})
	enqueue(t, q, queue.Job{Kind: "test.unique2", UniqueKey: "w", Payload: payload("other-kind")})
	enqueue(t, q, queue.Job{Kind: "test.unique", Payload: payload("no-key")})
	enqueue(t, q, queue.Job{Kind: "test.unique", Payload: payload("no-key")})
	close(hold)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ran)
	}
	eventually(t, "5 jobs", func() bool { return count() >= 5 })
	// Once completed, the key is free again, though a durable queue may
	// record the completion a moment after the handler returned: until
	// then Enqueue is still a no-op.
	eventually(t, "a job with the key of a completed one", func() bool {
		enqueue(t, q, queue.Job{Kind: "test.unique", UniqueKey: "r", Payload: payload("after")})
		for range 40 {
			if count() >= 6 {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	})
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	got := slices.Clone(ran)
	slices.Sort(got)
	want := []string{"test.unique2:other-kind", "test.unique:after", "test.unique:no-key", "test.unique:no-key", "test.unique:running", "test.unique:waiting"}
	if !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
}

func testWorkersBound(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	const workers = 3
	q := newQueue(t, Options{Workers: workers, Backoff: fast})
	var mu sync.Mutex
	cur, peak := 0, 0
	full := make(chan struct{}) // closed when workers jobs run at once
	var done counter
	q.Handle("test.busy", func(ctx context.Context, job queue.Job, attempt int) error {
		mu.Lock()
		cur++
		if cur > peak {
			peak = cur
			if peak == workers {
				close(full)
			}
		}
		mu.Unlock()
		// Hold the worker until the bound is reached, so that a queue
		// running fewer jobs at once than Workers fails too.
		select {
		case <-full:
		case <-time.After(2 * time.Second):
		}
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		cur--
		mu.Unlock()
		done.n.Add(1)
		return nil
	})
	start(t, q)
	const n = 4 * workers
	for i := range n {
		enqueue(t, q, queue.Job{Kind: "test.busy", Payload: payload(fmt.Sprint(i))})
	}
	eventually(t, "all jobs", func() bool { return done.get() == n })
	mu.Lock()
	defer mu.Unlock()
	if peak != workers {
		t.Errorf("at most %d jobs ran at once, want %d (Workers)", peak, workers)
	}
}

func testStopWaitsForRunning(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 2, Backoff: fast})
	started := make(chan struct{})
	var finished atomic.Bool
	q.Handle("test.slow", func(ctx context.Context, job queue.Job, attempt int) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		finished.Store(true)
		return nil
	})
	start(t, q)
	enqueue(t, q, queue.Job{Kind: "test.slow"})
	receive(t, started, "the slow job")
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := q.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !finished.Load() {
		t.Error("Stop returned before the running job finished")
	}
	// start's cleanup stops q again, which must succeed.
}

func testManyJobs(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	const n = 200
	q := newQueue(t, Options{Workers: 8, Backoff: fast})
	var mu sync.Mutex
	runs := make(map[string]int)
	var total counter
	q.Handle("test.many", func(ctx context.Context, job queue.Job, attempt int) error {
		mu.Lock()
		runs[decode(t, job.Payload)]++
		mu.Unlock()
		total.n.Add(1)
		return nil
	})
	start(t, q)
	for i := range n {
		enqueue(t, q, queue.Job{Kind: "test.many", Payload: payload(fmt.Sprint(i)), Priority: 1 + i%4})
	}
	eventually(t, fmt.Sprintf("%d jobs", n), func() bool { return total.get() >= n })
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if c := runs[fmt.Sprint(i)]; c != 1 {
			t.Errorf("job %d ran %d times", i, c)
		}
	}
	if len(runs) != n {
		t.Errorf("%d distinct jobs ran, want %d", len(runs), n)
	}
}

func testEnqueueRejects(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 1, Backoff: fast})
	q.Handle("test.known", func(ctx context.Context, job queue.Job, attempt int) error { return nil })
	start(t, q)
	ctx := context.Background()
	for _, tc := range []struct {
		job  queue.Job
		want error
	}{
		{queue.Job{Kind: "test.unknown"}, queue.ErrUnknownKind},
		{queue.Job{}, queue.ErrInvalidJob},
		{queue.Job{Kind: "test.known", Priority: 5}, queue.ErrInvalidJob},
		{queue.Job{Kind: "test.known", Priority: -1}, queue.ErrInvalidJob},
		{queue.Job{Kind: "test.known", MaxAttempts: -1}, queue.ErrInvalidJob},
		{queue.Job{Kind: "test.known", Payload: json.RawMessage(`{"a":`)}, queue.ErrInvalidJob},
	} {
		if err := q.Enqueue(ctx, tc.job); !errors.Is(err, tc.want) {
			t.Errorf("Enqueue(%+v) = %v, want %v", tc.job, err, tc.want)
		}
	}
}

func testHandleAfterStartPanics(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 1, Backoff: fast})
	q.Handle("test.first", func(ctx context.Context, job queue.Job, attempt int) error { return nil })
	mustPanic(t, "a second handler of a kind", func() {
		q.Handle("test.first", func(ctx context.Context, job queue.Job, attempt int) error { return nil })
	})
	start(t, q)
	mustPanic(t, "Handle after Start", func() {
		q.Handle("test.late", func(ctx context.Context, job queue.Job, attempt int) error { return nil })
	})
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	fn()
}

func testRunAt(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	q := newQueue(t, Options{Workers: 2, Backoff: fast})
	type run struct {
		job queue.Job
		at  time.Time
	}
	ran := make(chan run, 2)
	q.Handle("test.later", func(ctx context.Context, job queue.Job, attempt int) error {
		ran <- run{job, time.Now()}
		return nil
	})
	start(t, q)
	// Durable queues keep time in their database, to microseconds.
	runAt := time.Now().Add(300 * time.Millisecond).Truncate(time.Millisecond)
	enqueue(t, q, queue.Job{Kind: "test.later", Payload: payload("later"), RunAt: runAt})
	enqueue(t, q, queue.Job{Kind: "test.later", Payload: payload("now")})
	first := receive(t, ran, "the job without RunAt")
	if p := decode(t, first.job.Payload); p != "now" {
		t.Fatalf("%s ran first, want now", p)
	}
	later := receive(t, ran, "the job with RunAt")
	if later.at.Before(runAt) {
		t.Errorf("the job ran %v before its RunAt", runAt.Sub(later.at))
	}
	if !later.job.RunAt.Equal(runAt) {
		t.Errorf("handler saw RunAt %v, want %v", later.job.RunAt, runAt)
	}
}

func testCounts(t *testing.T, newQueue func(*testing.T, Options) queue.Queue) {
	// A retry waits an hour, so that a failed job stays retryable.
	q := newQueue(t, Options{Workers: 1, Backoff: func(int) time.Duration { return time.Hour }})
	c, ok := q.(queue.Counter)
	if !ok {
		t.Skipf("%T does not count its jobs (queue.Counter)", q)
	}
	started, release := blocker(q)
	q.Handle("test.fail", func(ctx context.Context, job queue.Job, attempt int) error {
		if decode(t, job.Payload) == "cancel" {
			return queue.Cancel(errors.New("never"))
		}
		return errors.New("not yet")
	})
	q.Handle("test.later", func(ctx context.Context, job queue.Job, attempt int) error { return nil })
	q.Handle("test.idle", func(ctx context.Context, job queue.Job, attempt int) error { return nil })
	start(t, q)

	counts := func() map[string]int {
		t.Helper()
		got, err := c.Counts(context.Background())
		if err != nil {
			t.Fatalf("Counts: %v", err)
		}
		m := map[string]int{}
		for _, kc := range got {
			m[kc.Kind+" "+string(kc.State)] = kc.Jobs
		}
		return m
	}
	// want reports whether counts are want, every other count of a
	// registered kind being 0.
	matches := func(got, want map[string]int) bool {
		for _, k := range []string{"test.block", "test.fail", "test.later", "test.idle"} {
			for _, s := range queue.States {
				key := k + " " + string(s)
				if n, ok := got[key]; !ok || n != want[key] {
					return false
				}
			}
		}
		return true
	}
	check := func(what string, want map[string]int) {
		t.Helper()
		var got map[string]int
		deadline := time.Now().Add(Timeout)
		for got = counts(); !matches(got, want); got = counts() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Counts gives %v, want %v and zeros", what, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	check("an empty queue", nil)
	enqueue(t, q, queue.Job{Kind: "test.fail", Payload: payload("cancel")})
	enqueue(t, q, queue.Job{Kind: "test.fail", Payload: payload("retry"), MaxAttempts: 2})
	check("a job cancelled, a job failed", map[string]int{"test.fail dead": 1, "test.fail retryable": 1})
	enqueue(t, q, queue.Job{Kind: "test.block", Payload: payload("a")})
	receive(t, started, "the first blocking job")
	enqueue(t, q, queue.Job{Kind: "test.block", Payload: payload("b")})
	enqueue(t, q, queue.Job{Kind: "test.later", Payload: payload("l"), RunAt: time.Now().Add(time.Hour)})
	check("one job running, one waiting, one held", map[string]int{
		"test.fail dead": 1, "test.fail retryable": 1,
		"test.block running": 1, "test.block available": 1, "test.later scheduled": 1,
	})
	close(release)
	receive(t, started, "the second blocking job")
	check("the blocking jobs completed", map[string]int{
		"test.fail dead": 1, "test.fail retryable": 1, "test.later scheduled": 1,
	})
}
