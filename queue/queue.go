package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Job is one piece of background work.
type Job struct {
	// Kind names the Handler that does the job, e.g. "carcosa.process".
	Kind string

	// Payload is the job's input: small JSON, typically an upload's ID.
	// Durable queues may give it back re-encoded (equivalent JSON, not
	// necessarily the same bytes). Nil means no payload.
	Payload json.RawMessage

	// Priority orders waiting jobs: 1 is the highest, 4 the lowest.
	// Defaults to 2.
	Priority int

	// MaxAttempts is how many times the job is tried before it is dead;
	// 1 means no retry. Defaults to 10.
	MaxAttempts int

	// UniqueKey, when not empty, makes Enqueue a no-op while a job of the
	// same Kind and UniqueKey is waiting, running or waiting to be retried.
	// Once that job has completed or died, a new one is accepted.
	UniqueKey string

	// RunAt, when in the future, holds the job until then; zero (or a time
	// passed) runs it as soon as a worker is free. It is when the job may
	// run first, not a deadline: a busy queue runs it later. The in-process
	// queue runs held jobs at once when it stops (see Memory.Stop), since
	// it cannot keep them; a handler that cares can compare RunAt with the
	// time it runs.
	RunAt time.Time
}

// The defaults of a Job's zero fields, and the range of Priority.
const (
	DefaultPriority    = 2
	DefaultMaxAttempts = 10
	HighestPriority    = 1
	LowestPriority     = 4
)

// Handler does one job; attempt counts from 1. Returning nil completes the
// job. Any other error retries it after the queue's Backoff until
// MaxAttempts, after which the job is dead; an error made by Cancel makes it
// dead at once. A panic counts as an error.
//
// ctx is cancelled when the queue gives up waiting for the job (see
// Queue.Stop), and a durable queue may also bound the time of each attempt,
// so long jobs should watch it. A durable queue may run a job again after a
// crash, so handlers should be idempotent.
type Handler func(ctx context.Context, job Job, attempt int) error

// Queue runs jobs in the background, at most a fixed number at once, higher
// priorities first, retrying failures with a backoff.
type Queue interface {
	// Handle registers the handler of kind. It panics when kind is empty,
	// h is nil, kind already has a handler, or the queue has started.
	Handle(kind string, h Handler)

	// Start starts the workers. Cancelling ctx stops taking jobs and
	// cancels the running ones' contexts; Stop is the graceful way.
	Start(ctx context.Context) error

	// Enqueue adds job. It returns an error matching ErrUnknownKind when no
	// handler is registered for job.Kind, ErrInvalidJob when a field is out
	// of range, and nil without adding anything when UniqueKey matches a
	// job not yet finished.
	Enqueue(ctx context.Context, job Job) error

	// Stop stops taking jobs and waits for running ones until ctx is done,
	// then returns ctx's error. The in-process queue also runs the jobs
	// still waiting, so that nothing is lost on a clean shutdown.
	Stop(ctx context.Context) error

	// Dead lists jobs that exhausted their attempts or were cancelled,
	// newest first, at most limit.
	Dead(ctx context.Context, limit int) ([]DeadJob, error)
}

// DeadJob is a job that will not run again: it failed MaxAttempts times, or
// its handler returned an error made by Cancel.
type DeadJob struct {
	Job
	ID        string    // the queue's identifier of the job
	Attempts  int       // attempts made, the last included
	LastError string    // the last attempt's error text
	DiedAt    time.Time // when the last attempt ended
}

// Errors. Compare with errors.Is.
var (
	ErrStopped     = errors.New("queue: stopped")
	ErrUnknownKind = errors.New("queue: no handler for the job's kind")
	ErrInvalidJob  = errors.New("queue: invalid job")
)

// Cancel wraps err so that a Handler returning it makes the job dead at once,
// without further attempts: for input that will never succeed.
func Cancel(err error) error {
	if err == nil {
		err = errors.New("cancelled")
	}
	return &cancelError{err}
}

// IsCancel reports whether err, or an error it wraps, was made by Cancel.
func IsCancel(err error) bool {
	var c *cancelError
	return errors.As(err, &c)
}

type cancelError struct{ err error }

func (e *cancelError) Error() string { return e.err.Error() }
func (e *cancelError) Unwrap() error { return e.err }

// Backoff gives the wait before attempt n+1 after n failed attempts (n ≥ 1).
type Backoff func(attempt int) time.Duration

// DefaultBackoff waits 1s·2^(n-1), ±10% so that jobs failing together do not
// retry together, at most an hour.
func DefaultBackoff(attempt int) time.Duration {
	const maxWait = time.Hour
	d := maxWait
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 13 { // 2^12 s > 1h; larger shifts could overflow
		d = min(time.Second<<(attempt-1), maxWait)
	}
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return min(d+jitter, maxWait)
}

// WithDefaults returns job with its zero Priority and MaxAttempts set to
// their defaults, and an error matching ErrInvalidJob when a field is out of
// range. Queues call it on every Enqueue.
func (j Job) WithDefaults() (Job, error) {
	if j.Kind == "" {
		return j, fmt.Errorf("%w: empty Kind", ErrInvalidJob)
	}
	if j.Priority == 0 {
		j.Priority = DefaultPriority
	}
	if j.Priority < HighestPriority || j.Priority > LowestPriority {
		return j, fmt.Errorf("%w: Priority %d is not between %d and %d", ErrInvalidJob, j.Priority, HighestPriority, LowestPriority)
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	if j.MaxAttempts < 0 {
		return j, fmt.Errorf("%w: negative MaxAttempts %d", ErrInvalidJob, j.MaxAttempts)
	}
	if j.Payload != nil && !json.Valid(j.Payload) {
		return j, fmt.Errorf("%w: Payload of kind %q is not valid JSON", ErrInvalidJob, j.Kind)
	}
	return j, nil
}
