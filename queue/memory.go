package queue

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// MemoryOptions configures a Memory queue. The zero value, like a nil
// *MemoryOptions, uses the defaults.
type MemoryOptions struct {
	// Workers is the most jobs run at once. Defaults to 4.
	Workers int

	// Backoff gives the wait before each retry. Defaults to DefaultBackoff.
	Backoff Backoff

	// MaxDead is how many dead jobs Dead remembers, the newest. Defaults
	// to 1000.
	MaxDead int

	// Logger receives failed attempts, dead jobs, panics and jobs lost at
	// shutdown. Defaults to slog.Default().
	Logger *slog.Logger
}

// The defaults of MemoryOptions.
const (
	DefaultWorkers = 4
	DefaultMaxDead = 1000
)

// Memory is a Queue kept in the process's memory: jobs waiting when the
// process ends are lost, so Stop runs them all first, retries included
// (without their backoff), and so are jobs held for a RunAt still ahead
// (before it). It suits single-instance deployments and tests.
//
// Enqueue is accepted until Stop has run everything, so handlers running
// during Stop may still enqueue follow-up jobs; afterwards it returns
// ErrStopped. Jobs left when Stop's context ends, or when Start's context is
// cancelled, are logged at error level with their payloads and dropped.
type Memory struct {
	workers int
	backoff Backoff
	maxDead int
	log     *slog.Logger

	wg   sync.WaitGroup
	done chan struct{} // closed when the workers have returned

	mu       sync.Mutex
	wake     *sync.Cond // signalled when waiting grows or the state changes
	state    memoryState
	ctx      context.Context // the handlers' context, set by Start
	cancel   context.CancelFunc
	handlers map[string]Handler
	waiting  entryHeap
	retrying map[*entry]*time.Timer // failed, waiting for their backoff, or held until RunAt
	unique   map[uniqueKey]bool
	running  int
	runningK map[string]int // running, by kind
	dead     []DeadJob      // oldest first
	seq      uint64         // orders equal priorities first in, first out
	lastID   uint64
}

type memoryState int

const (
	created  memoryState = iota
	started              // workers running
	stopping             // Stop called: run what is left, then stop
	stopped              // no worker left; Enqueue fails
)

type uniqueKey struct{ kind, key string }

// entry is one job in the queue, from Enqueue until it completes or dies.
type entry struct {
	job      Job
	id       string
	attempts int    // attempts started
	seq      uint64 // when it last joined waiting
}

var (
	_ Queue   = (*Memory)(nil)
	_ Counter = (*Memory)(nil)
)

// NewMemory returns a Memory queue. It panics when a number in opts is
// negative.
func NewMemory(opts *MemoryOptions) *Memory {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	if o.Workers < 0 {
		panic(fmt.Sprintf("queue: MemoryOptions.Workers is negative (%d)", o.Workers))
	}
	if o.MaxDead < 0 {
		panic(fmt.Sprintf("queue: MemoryOptions.MaxDead is negative (%d)", o.MaxDead))
	}
	m := &Memory{
		workers:  cmp.Or(o.Workers, DefaultWorkers),
		backoff:  o.Backoff,
		maxDead:  cmp.Or(o.MaxDead, DefaultMaxDead),
		log:      o.Logger,
		done:     make(chan struct{}),
		handlers: make(map[string]Handler),
		retrying: make(map[*entry]*time.Timer),
		unique:   make(map[uniqueKey]bool),
		runningK: make(map[string]int),
	}
	if m.backoff == nil {
		m.backoff = DefaultBackoff
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.wake = sync.NewCond(&m.mu)
	return m
}

// Handle registers the handler of kind; see Queue.
func (m *Memory) Handle(kind string, h Handler) {
	if kind == "" || h == nil {
		panic("queue: Handle needs a kind and a handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != created {
		panic("queue: Handle(" + strconv.Quote(kind) + ") after Start or Stop")
	}
	if m.handlers[kind] != nil {
		panic("queue: a second handler for kind " + strconv.Quote(kind))
	}
	m.handlers[kind] = h
}

// Start starts the workers; jobs enqueued before run now. Handlers get a
// context derived from ctx.
func (m *Memory) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case created:
	case started:
		return errors.New("queue: already started")
	default:
		return ErrStopped
	}
	m.ctx, m.cancel = context.WithCancel(ctx)
	// A cancelled Start context must reach workers asleep on m.wake.
	unhook := context.AfterFunc(m.ctx, func() {
		m.mu.Lock()
		m.wake.Broadcast()
		m.mu.Unlock()
	})
	m.state = started
	m.wg.Add(m.workers)
	for range m.workers {
		go m.work()
	}
	go func() {
		m.wg.Wait()
		unhook()
		m.cancel()
		m.mu.Lock()
		m.end()
	}()
	return nil
}

// Enqueue adds job; see Queue. It returns ErrStopped once Stop has run
// everything or Start's context has ended.
func (m *Memory) Enqueue(ctx context.Context, job Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	job, err := job.WithDefaults()
	if err != nil {
		return err
	}
	job.Payload = bytes.Clone(job.Payload) // the caller may reuse its buffer
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stopped || m.ctx != nil && m.ctx.Err() != nil {
		return ErrStopped
	}
	if m.handlers[job.Kind] == nil {
		return fmt.Errorf("%w: %q", ErrUnknownKind, job.Kind)
	}
	if job.UniqueKey != "" {
		k := uniqueKey{job.Kind, job.UniqueKey}
		if m.unique[k] {
			return nil
		}
		m.unique[k] = true
	}
	m.lastID++
	e := &entry{job: job, id: strconv.FormatUint(m.lastID, 10)}
	if wait := time.Until(job.RunAt); wait > 0 && m.state != stopping {
		m.retrying[e] = time.AfterFunc(wait, func() { m.retryDue(e) })
		return nil
	}
	m.push(e)
	return nil
}

// end marks the queue stopped, unlocks m.mu (which the caller holds), logs
// and drops the jobs left, and releases Stop's waiters.
func (m *Memory) end() {
	m.state = stopped
	lost := m.takeAll()
	m.mu.Unlock()
	m.logLost(lost)
	close(m.done)
}

// Stop stops the queue once every job waiting, waiting to be retried or
// held until its RunAt has run, retries and held jobs without waiting for
// their time, and returns nil: an in-process queue cannot keep them past
// the process, and running them early loses less than dropping them.
// When ctx ends first, Stop cancels the running handlers' contexts, returns
// ctx's error, and the jobs not started are logged and dropped; calling
// Stop again waits for the workers to return.
func (m *Memory) Stop(ctx context.Context) error {
	m.mu.Lock()
	switch m.state {
	case created:
		m.end()
		return nil
	case started:
		m.state = stopping
		for e, t := range m.retrying {
			t.Stop()
			delete(m.retrying, e)
			m.push(e)
		}
		m.wake.Broadcast()
	}
	m.mu.Unlock()

	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		m.cancel()
		return ctx.Err()
	}
}

// Dead lists the dead jobs remembered (see MemoryOptions.MaxDead), newest
// first, at most limit.
func (m *Memory) Dead(ctx context.Context, limit int) ([]DeadJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := max(0, min(limit, len(m.dead)))
	out := make([]DeadJob, 0, n)
	for i := len(m.dead) - 1; len(out) < n; i-- {
		d := m.dead[i]
		d.Payload = bytes.Clone(d.Payload)
		out = append(out, d)
	}
	return out, nil
}

// Counts counts the jobs by kind and state; see Counter. Dead jobs are
// those remembered (see MemoryOptions.MaxDead).
func (m *Memory) Counts(ctx context.Context) ([]KindCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := map[string]map[State]int{}
	m.mu.Lock()
	kinds := make([]string, 0, len(m.handlers))
	for k := range m.handlers {
		kinds = append(kinds, k)
	}
	for _, e := range m.waiting {
		add(n, e.job.Kind, StateAvailable, 1)
	}
	for e := range m.retrying {
		s := StateRetryable
		if e.attempts == 0 {
			s = StateScheduled // held until its RunAt, never tried
		}
		add(n, e.job.Kind, s, 1)
	}
	for k, c := range m.runningK {
		add(n, k, StateRunning, c)
	}
	for _, d := range m.dead {
		add(n, d.Kind, StateDead, 1)
	}
	m.mu.Unlock()
	return CountsOf(kinds, n), nil
}

// work runs jobs until next has none to give.
func (m *Memory) work() {
	defer m.wg.Done()
	for {
		e := m.next()
		if e == nil {
			return
		}
		m.finish(e, m.run(e))
	}
}

// next takes the most urgent waiting job, sleeping while there is none. It
// returns nil when the worker should return: Start's context has ended, or
// Stop was called and nothing is left to run.
func (m *Memory) next() *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		switch {
		case m.ctx.Err() != nil:
			return nil
		case m.waiting.Len() > 0:
			e := heap.Pop(&m.waiting).(*entry)
			e.attempts++
			m.running++
			m.runningK[e.job.Kind]++
			return e
		case m.state == stopping && m.running == 0 && len(m.retrying) == 0:
			m.wake.Broadcast() // the other idle workers return too
			return nil
		}
		m.wake.Wait()
	}
}

// run calls e's handler, turning a panic into an error.
func (m *Memory) run(e *entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			m.log.Error("queue: job panicked", "kind", e.job.Kind, "id", e.id, "attempt", e.attempts,
				"panic", r, "stack", string(debug.Stack()))
		}
	}()
	// Handlers are fixed once started, so reading the map needs no lock.
	return m.handlers[e.job.Kind](m.ctx, e.job, e.attempts)
}

// finish records the outcome of e's attempt.
func (m *Memory) finish(e *entry, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running--
	if m.runningK[e.job.Kind]--; m.runningK[e.job.Kind] == 0 {
		delete(m.runningK, e.job.Kind)
	}
	if m.state == stopping {
		m.wake.Broadcast() // the last running job may let idle workers return
	}
	switch {
	case err == nil:
		m.forget(e)
	case IsCancel(err) || e.attempts >= e.job.MaxAttempts:
		m.forget(e)
		m.bury(e, err)
	case m.state == stopping:
		m.log.Warn("queue: job failed; retrying at once, the queue is stopping", "kind", e.job.Kind, "id", e.id,
			"attempt", e.attempts, "error", err)
		m.push(e)
	default:
		wait := m.backoff(e.attempts)
		m.log.Warn("queue: job failed; retrying", "kind", e.job.Kind, "id", e.id,
			"attempt", e.attempts, "retry_in", wait, "error", err)
		m.retrying[e] = time.AfterFunc(wait, func() { m.retryDue(e) })
	}
}

func (m *Memory) retryDue(e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.retrying[e]; !ok {
		return // Stop took it first
	}
	delete(m.retrying, e)
	m.push(e)
}

// push adds e to waiting; m.mu is held.
func (m *Memory) push(e *entry) {
	m.seq++
	e.seq = m.seq
	heap.Push(&m.waiting, e)
	m.wake.Signal()
}

// forget ends e's hold on its unique key; m.mu is held.
func (m *Memory) forget(e *entry) {
	if e.job.UniqueKey != "" {
		delete(m.unique, uniqueKey{e.job.Kind, e.job.UniqueKey})
	}
}

// bury adds e to the dead; m.mu is held.
func (m *Memory) bury(e *entry, err error) {
	m.log.Error("queue: job dead", "kind", e.job.Kind, "id", e.id, "attempts", e.attempts,
		"cancelled", IsCancel(err), "error", err)
	if len(m.dead) == m.maxDead {
		m.dead = append(m.dead[:0], m.dead[1:]...)
	}
	m.dead = append(m.dead, DeadJob{
		Job:       e.job,
		ID:        e.id,
		Attempts:  e.attempts,
		LastError: err.Error(),
		DiedAt:    time.Now(),
	})
}

// takeAll empties waiting and retrying; m.mu is held.
func (m *Memory) takeAll() []*entry {
	lost := make([]*entry, 0, len(m.waiting)+len(m.retrying))
	lost = append(lost, m.waiting...)
	m.waiting = nil
	for e, t := range m.retrying {
		t.Stop()
		lost = append(lost, e)
	}
	clear(m.retrying)
	clear(m.unique)
	return lost
}

func (m *Memory) logLost(lost []*entry) {
	for _, e := range lost {
		m.log.Error("queue: job lost at shutdown", "kind", e.job.Kind, "id", e.id, "attempts", e.attempts,
			"payload", string(e.job.Payload))
	}
}

// entryHeap orders entries by priority, then by when they joined.
type entryHeap []*entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if h[i].job.Priority != h[j].job.Priority {
		return h[i].job.Priority < h[j].job.Priority
	}
	return h[i].seq < h[j].seq
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)   { *h = append(*h, x.(*entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
