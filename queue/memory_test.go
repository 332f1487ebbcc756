package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/queue/queuetest"
)

// quiet discards the logs of failing jobs that the tests make on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMemoryConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, opts queuetest.Options) queue.Queue {
		return queue.NewMemory(&queue.MemoryOptions{Workers: opts.Workers, Backoff: opts.Backoff, Logger: quiet})
	})
}

func TestMemoryStopRunsWaiting(t *testing.T) {
	t.Parallel()
	// An hour's backoff: only Stop can make the retry run in time.
	q := queue.NewMemory(&queue.MemoryOptions{Workers: 1, Logger: quiet, Backoff: func(int) time.Duration { return time.Hour }})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var mu sync.Mutex
	var ran []string
	q.Handle("hold", func(ctx context.Context, job queue.Job, attempt int) error {
		started <- struct{}{}
		<-release
		return nil
	})
	q.Handle("flaky", func(ctx context.Context, job queue.Job, attempt int) error {
		mu.Lock()
		ran = append(ran, fmt.Sprintf("flaky#%d", attempt))
		mu.Unlock()
		if attempt == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	})
	q.Handle("work", func(ctx context.Context, job queue.Job, attempt int) error {
		mu.Lock()
		ran = append(ran, "work"+string(job.Payload))
		mu.Unlock()
		return nil
	})
	ctx := context.Background()
	// Jobs enqueued before Start wait for it.
	must(t, q.Enqueue(ctx, queue.Job{Kind: "flaky"}))
	must(t, q.Start(ctx))
	waitFor(t, "the first attempt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == 1
	})
	must(t, q.Enqueue(ctx, queue.Job{Kind: "hold"}))
	<-started
	for i := range 5 {
		must(t, q.Enqueue(ctx, queue.Job{Kind: "work", Payload: fmt.Appendf(nil, "%d", i)}))
	}
	stopped := make(chan error, 1)
	go func() { stopped <- q.Stop(ctx) }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	mu.Lock()
	got := fmt.Sprint(ran)
	mu.Unlock()
	// The retry became due at Stop, after the jobs already waiting.
	if want := "[flaky#1 work0 work1 work2 work3 work4 flaky#2]"; got != want {
		t.Errorf("ran %s, want %s", got, want)
	}
	if err := q.Enqueue(ctx, queue.Job{Kind: "work"}); !errors.Is(err, queue.ErrStopped) {
		t.Errorf("Enqueue after Stop = %v, want ErrStopped", err)
	}
	if err := q.Start(ctx); !errors.Is(err, queue.ErrStopped) {
		t.Errorf("Start after Stop = %v, want ErrStopped", err)
	}
}

func TestMemoryStopDeadline(t *testing.T) {
	t.Parallel()
	q := queue.NewMemory(&queue.MemoryOptions{Workers: 1, Logger: quiet})
	var cancelled atomic.Bool
	started := make(chan struct{})
	q.Handle("stuck", func(ctx context.Context, job queue.Job, attempt int) error {
		close(started)
		<-ctx.Done()
		cancelled.Store(true)
		return ctx.Err()
	})
	must(t, q.Start(context.Background()))
	must(t, q.Enqueue(context.Background(), queue.Job{Kind: "stuck"}))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want DeadlineExceeded", err)
	}
	// The handler's context is cancelled; a second Stop waits for it.
	if err := q.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if !cancelled.Load() {
		t.Error("the running job's context was not cancelled")
	}
}

func TestMemoryStartContext(t *testing.T) {
	t.Parallel()
	q := queue.NewMemory(&queue.MemoryOptions{Workers: 2, Logger: quiet})
	q.Handle("noop", func(ctx context.Context, job queue.Job, attempt int) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	must(t, q.Start(ctx))
	cancel()
	waitFor(t, "Enqueue to fail", func() bool {
		return errors.Is(q.Enqueue(context.Background(), queue.Job{Kind: "noop"}), queue.ErrStopped)
	})
	must(t, q.Stop(context.Background()))
}

func TestMemoryStopBeforeStart(t *testing.T) {
	t.Parallel()
	q := queue.NewMemory(nil)
	must(t, q.Stop(context.Background()))
	must(t, q.Stop(context.Background()))
	if err := q.Start(context.Background()); !errors.Is(err, queue.ErrStopped) {
		t.Errorf("Start after Stop = %v, want ErrStopped", err)
	}
}

func TestMemoryMaxDead(t *testing.T) {
	t.Parallel()
	q := queue.NewMemory(&queue.MemoryOptions{MaxDead: 3, Logger: quiet})
	q.Handle("fail", func(ctx context.Context, job queue.Job, attempt int) error { return errors.New("no") })
	ctx := context.Background()
	for i := range 5 {
		must(t, q.Enqueue(ctx, queue.Job{Kind: "fail", MaxAttempts: 1, Payload: fmt.Appendf(nil, "%d", i), Priority: 1}))
	}
	must(t, q.Start(ctx))
	must(t, q.Stop(ctx))
	dead, err := q.Dead(ctx, 10)
	must(t, err)
	if len(dead) != 3 {
		t.Fatalf("%d dead jobs remembered, want 3", len(dead))
	}
	if none, _ := q.Dead(ctx, 0); len(none) != 0 {
		t.Errorf("Dead(0) gave %d jobs", len(none))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A job held for a RunAt an hour ahead is not lost on a clean Stop: Stop
// runs it, early, and the handler can tell by its RunAt.
func TestMemoryStopRunsHeld(t *testing.T) {
	t.Parallel()
	q := queue.NewMemory(&queue.MemoryOptions{Workers: 1, Logger: quiet})
	ran := make(chan time.Time, 1)
	q.Handle("later", func(ctx context.Context, job queue.Job, attempt int) error {
		ran <- job.RunAt
		return nil
	})
	ctx := context.Background()
	must(t, q.Start(ctx))
	runAt := time.Now().Add(time.Hour)
	must(t, q.Enqueue(ctx, queue.Job{Kind: "later", RunAt: runAt}))
	select {
	case <-ran:
		t.Fatal("the job ran before its RunAt")
	case <-time.After(100 * time.Millisecond):
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	must(t, q.Stop(sctx))
	select {
	case got := <-ran:
		if !got.Equal(runAt) {
			t.Errorf("handler saw RunAt %v, want %v", got, runAt)
		}
	default:
		t.Fatal("Stop returned without running the held job")
	}
}
