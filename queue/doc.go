// Package queue runs Carcosa's background work: scanning an upload once its
// last byte has arrived, retrying uploads whose scanner was down, periodic
// clean-up. Work outlives the request that caused it, so it goes through a
// Queue rather than a bare goroutine.
//
// # Jobs and handlers
//
// A Job names its Handler by Kind and carries a small JSON Payload,
// typically an upload's ID. Handlers are registered with Handle before
// Start; Enqueue refuses a kind with no handler, so a typo fails at once.
// A Handler returning nil completes its job; an error retries it after the
// queue's Backoff (DefaultBackoff: 1s, 2s, 4s… at most an hour, ±10%) until
// MaxAttempts, when the job is dead. An error wrapped with Cancel makes it
// dead at once, for input that will never succeed. A panic is an error.
//
// # Order and uniqueness
//
// At most Workers jobs run at once. When several wait, the highest priority
// (1) runs first, then the earliest enqueued. A job with a UniqueKey is not
// enqueued again while one of the same Kind and UniqueKey waits, runs or
// waits for a retry, so "process upload X" is queued once however many
// times it is asked for. A job with a RunAt waits until then: a retry on a
// schedule of its own, a reminder.
//
// # Dead jobs
//
// Dead lists the jobs that will not run again, newest first, with their
// attempts and last error, for an operator to look at or enqueue again.
//
// # Counts
//
// A Queue may also be a Counter, found by type assertion: Counts gives its
// jobs by kind and state (available, scheduled, running, retryable, dead),
// which the Router exposes as the metric carcosa_queue_jobs.
//
// # Implementations
//
// Memory keeps jobs in the process: it suits one instance, and Stop runs
// every job still waiting, those held for a later RunAt included (early),
// so that a clean shutdown loses nothing. Package
// riverqueue keeps them in PostgreSQL or SQLite through River, where they
// survive restarts and are shared by instances. Both count their jobs, and
// pass the conformance suite in package queuetest.
//
// # Shutdown
//
// Stop stops taking jobs and waits for the running ones until its context
// ends; then their contexts are cancelled. Handlers of long jobs should
// watch their context, and, since a durable queue may run a job again after
// a crash, be idempotent.
package queue
