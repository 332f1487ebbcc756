// Package riverqueue is a durable queue.Queue on River
// (github.com/riverqueue/river): jobs live in River's river_job table, in
// PostgreSQL (New) or SQLite (NewSQLite), so they survive restarts and are
// shared by every instance using the same database and schema.
//
// # Mapping
//
// Every Carcosa job is one River job of kind "carcosa" (Kind) in the River
// queue "carcosa" (QueueName), whose args carry the job's Kind, Payload and
// UniqueKey; one River worker hands it to the Handler registered for its
// Kind. Priority and MaxAttempts are River's own. A UniqueKey becomes River
// uniqueness by args, on Kind and UniqueKey only, among jobs available,
// pending, scheduled, running or retryable, so a completed or dead job frees
// its key. Retries wait Options.Backoff, through a River retry policy; a
// Handler's queue.Cancel error is River's JobCancel.
//
// # Dead jobs
//
// Dead lists River's discarded jobs (attempts exhausted) and cancelled
// ones, newest first. River deletes them after Options.DeadRetention.
//
// # Lifecycle
//
// Start brings River's tables up to date (Migrate) and starts fetching.
// Enqueue needs the tables but not Start: jobs enqueued by an instance that
// never starts, or after Stop, wait in the database for a started one.
// Stop lets running jobs finish; when its context ends first, their contexts
// are cancelled, and a job whose handler returns the context's error is
// made available again without counting the attempt. A job whose process
// died while running it is retried by River's rescuer after
// Options.RescueStuckJobsAfter, so handlers must be idempotent.
//
// Other River clients may share the schema: they work their own queues, and
// this package only fetches and lists the queue "carcosa".
package riverqueue

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/carcosa-dev/carcosa/queue"
)

// Kind is the River job kind, and QueueName the River queue, of every
// Carcosa job.
const (
	Kind      = "carcosa"
	QueueName = "carcosa"
)

// Options configures a Queue. The zero value, like a nil *Options, uses the
// defaults.
type Options struct {
	// Schema is the schema holding River's tables; it must exist. When
	// empty, names resolve through the connection's search_path. SQLite
	// takes the name of an attached database.
	Schema string

	// Workers is the most jobs this instance runs at once. Defaults to 4.
	Workers int

	// Backoff gives the wait before each retry. Defaults to
	// queue.DefaultBackoff.
	Backoff queue.Backoff

	// Logger receives River's logs. Defaults to slog.Default().
	Logger *slog.Logger

	// JobTimeout bounds each attempt: the handler's context is cancelled
	// after it. -1 means no bound. Defaults to 30 minutes, room to scan a
	// large upload.
	JobTimeout time.Duration

	// RescueStuckJobsAfter is how long a job may stay running before it is
	// taken for the work of a dead process and retried; it must exceed
	// JobTimeout. Defaults to 5 minutes more than JobTimeout (an hour when
	// JobTimeout is -1).
	RescueStuckJobsAfter time.Duration

	// DeadRetention is how long dead jobs are kept for Dead. -1 keeps them
	// until deleted by hand. Defaults to 7 days.
	DeadRetention time.Duration

	// FetchPollInterval is how often this instance looks for jobs when no
	// notification has told it of one (SQLite has no notifications).
	// Defaults to 1 second.
	FetchPollInterval time.Duration

	// FetchCooldown is the least time between two looks for jobs, a bound
	// on throughput. Defaults to 100 milliseconds.
	FetchCooldown time.Duration
}

// The defaults of Options.
const (
	DefaultWorkers       = 4
	DefaultJobTimeout    = 30 * time.Minute
	DefaultDeadRetention = 7 * 24 * time.Hour

	rescueGrace = 5 * time.Minute
)

// Queue is a queue.Queue on River. TTx is the driver's transaction type,
// which EnqueueTx takes: pgx.Tx for New, *sql.Tx for NewSQLite.
type Queue[TTx any] struct {
	driver riverdriver.Driver[TTx]
	client *river.Client[TTx]
	schema string
	log    *slog.Logger
	// lock, when not nil, keeps migrations of other processes out until
	// the returned function is called.
	lock func(ctx context.Context) (unlock func(), err error)
	// count runs countQuery (with the table's name in it) and gives its
	// rows: a Carcosa kind, a River state, a number of jobs.
	count func(ctx context.Context, yield func(kind, state string, jobs int)) error

	mu       sync.RWMutex
	handlers map[string]queue.Handler
	started  bool
}

var (
	_ queue.Queue   = (*Queue[pgx.Tx])(nil)
	_ queue.Counter = (*Queue[*sql.Tx])(nil)
)

// New returns a Queue on PostgreSQL through pool, which it leaves open.
func New(pool *pgxpool.Pool, opts *Options) (*Queue[pgx.Tx], error) {
	if pool == nil {
		return nil, errors.New("riverqueue: New needs a pool")
	}
	q, err := newQueue(riverpgxv5.New(pool), opts)
	if err != nil {
		return nil, err
	}
	query := countQuery(pgx.Identifier{q.schema, "river_job"}.Sanitize(), `args->>'kind'`)
	if q.schema == "" {
		query = countQuery("river_job", `args->>'kind'`)
	}
	q.count = func(ctx context.Context, yield func(string, string, int)) error {
		rows, err := pool.Query(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		return scanCounts(rows, yield)
	}
	key := advisoryKey(q.schema)
	q.lock = func(ctx context.Context) (func(), error) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			conn.Release()
			return nil, err
		}
		return func() {
			if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, key); err != nil {
				conn.Conn().Close(context.Background()) // ends the session, and its lock
			}
			conn.Release()
		}, nil
	}
	return q, nil
}

// NewSQLite returns a Queue on the SQLite database db (for example opened
// with modernc.org/sqlite's driver "sqlite"), which it leaves open. SQLite
// admits one writer at a time: River advises db.SetMaxOpenConns(1), and a
// busy timeout when other processes share the file.
func NewSQLite(db *sql.DB, opts *Options) (*Queue[*sql.Tx], error) {
	if db == nil {
		return nil, errors.New("riverqueue: NewSQLite needs a database")
	}
	q, err := newQueue(riversqlite.New(db), opts)
	if err != nil {
		return nil, err
	}
	table := "river_job"
	if q.schema != "" {
		table = `"` + strings.ReplaceAll(q.schema, `"`, `""`) + `".river_job`
	}
	query := countQuery(table, `json_extract(args, '$.kind')`)
	q.count = func(ctx context.Context, yield func(string, string, int)) error {
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		return scanCounts(rows, yield)
	}
	return q, nil
}

// countQuery counts the Carcosa jobs of table by kind (the SQL expression
// kindExpr) and River state, completed ones aside: River keeps those for a
// day, and they are many. The states are listed so that River's indexes on
// state serve the query.
func countQuery(table, kindExpr string) string {
	return `SELECT coalesce(` + kindExpr + `, ''), CAST(state AS text), count(*) FROM ` + table + `
		WHERE state IN ('available', 'pending', 'scheduled', 'running', 'retryable', 'discarded', 'cancelled')
			AND queue = '` + QueueName + `' AND kind = '` + Kind + `'
		GROUP BY 1, 2`
}

// scanCounts gives yield the rows of countQuery, from pgx or database/sql.
func scanCounts(rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}, yield func(kind, state string, jobs int)) error {
	for rows.Next() {
		var kind, state string
		var jobs int
		if err := rows.Scan(&kind, &state, &jobs); err != nil {
			return err
		}
		yield(kind, state, jobs)
	}
	return rows.Err()
}

func newQueue[TTx any](driver riverdriver.Driver[TTx], opts *Options) (*Queue[TTx], error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"JobTimeout", o.JobTimeout}, {"DeadRetention", o.DeadRetention},
	} {
		if f.v < -1 {
			return nil, fmt.Errorf("riverqueue: Options.%s is negative (%v); -1 means no bound", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"RescueStuckJobsAfter", o.RescueStuckJobsAfter}, {"FetchPollInterval", o.FetchPollInterval}, {"FetchCooldown", o.FetchCooldown},
	} {
		if f.v < 0 {
			return nil, fmt.Errorf("riverqueue: Options.%s is negative (%v)", f.name, f.v)
		}
	}
	if o.Workers < 0 {
		return nil, fmt.Errorf("riverqueue: Options.Workers is negative (%d)", o.Workers)
	}
	o.Workers = cmp.Or(o.Workers, DefaultWorkers)
	if o.Backoff == nil {
		o.Backoff = queue.DefaultBackoff
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.JobTimeout = cmp.Or(o.JobTimeout, DefaultJobTimeout)
	o.DeadRetention = cmp.Or(o.DeadRetention, DefaultDeadRetention)
	if o.RescueStuckJobsAfter == 0 {
		// An attempt cannot run past JobTimeout, so one still running a
		// little after it belongs to a process that died.
		o.RescueStuckJobsAfter = rescueGrace + o.JobTimeout
		if o.JobTimeout < 0 {
			o.RescueStuckJobsAfter = time.Hour
		}
	}
	if o.JobTimeout > 0 && o.RescueStuckJobsAfter <= o.JobTimeout {
		return nil, fmt.Errorf("riverqueue: Options.RescueStuckJobsAfter (%v) must exceed JobTimeout (%v)", o.RescueStuckJobsAfter, o.JobTimeout)
	}

	q := &Queue[TTx]{
		driver:   driver,
		schema:   o.Schema,
		log:      o.Logger,
		handlers: make(map[string]queue.Handler),
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &dispatcher[TTx]{q: q})
	client, err := river.NewClient(driver, &river.Config{
		Schema:                      o.Schema,
		Logger:                      o.Logger,
		Workers:                     workers,
		Queues:                      map[string]river.QueueConfig{QueueName: {MaxWorkers: o.Workers}},
		RetryPolicy:                 retryPolicy(o.Backoff),
		JobTimeout:                  o.JobTimeout,
		RescueStuckJobsAfter:        o.RescueStuckJobsAfter,
		DiscardedJobRetentionPeriod: o.DeadRetention,
		CancelledJobRetentionPeriod: o.DeadRetention,
		FetchPollInterval:           o.FetchPollInterval,
		FetchCooldown:               o.FetchCooldown,
	})
	if err != nil {
		return nil, fmt.Errorf("riverqueue: %w", err)
	}
	q.client = client
	return q, nil
}

// advisoryKey is the PostgreSQL advisory lock held while migrating schema.
func advisoryKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("carcosa/queue/riverqueue migrate " + schema))
	return int64(h.Sum64())
}

// Client is the River client underneath, for what this package does not
// offer, such as retrying a dead job (JobRetry) or River's UI.
func (q *Queue[TTx]) Client() *river.Client[TTx] { return q.client }

// Handle registers the handler of kind; see queue.Queue.
func (q *Queue[TTx]) Handle(kind string, h queue.Handler) {
	if kind == "" || h == nil {
		panic("riverqueue: Handle needs a kind and a handler")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		panic("riverqueue: Handle(" + strconv.Quote(kind) + ") after Start")
	}
	if q.handlers[kind] != nil {
		panic("riverqueue: a second handler for kind " + strconv.Quote(kind))
	}
	q.handlers[kind] = h
}

// Migrate brings River's tables in Options.Schema up to date. Start calls
// it; call it first to Enqueue without starting. On PostgreSQL, instances
// migrating at once wait for each other on an advisory lock.
func (q *Queue[TTx]) Migrate(ctx context.Context) error {
	if q.lock != nil {
		unlock, err := q.lock(ctx)
		if err != nil {
			return fmt.Errorf("riverqueue: locking for migration: %w", err)
		}
		defer unlock()
	}
	m, err := rivermigrate.New(q.driver, &rivermigrate.Config{Schema: q.schema, Logger: q.log})
	if err != nil {
		return fmt.Errorf("riverqueue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("riverqueue: migrating River's tables: %w", err)
	}
	return nil
}

// Start migrates River's tables and starts working jobs. Cancelling ctx
// stops fetching and cancels the running jobs' contexts.
func (q *Queue[TTx]) Start(ctx context.Context) error {
	q.mu.Lock()
	if q.started {
		q.mu.Unlock()
		return errors.New("riverqueue: already started")
	}
	q.started = true // Handle is closed from here on
	q.mu.Unlock()
	if err := q.Migrate(ctx); err != nil {
		return err
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("riverqueue: %w", err)
	}
	return nil
}

// Stop stops fetching and waits for running jobs to finish. When ctx ends
// first it cancels their contexts and returns ctx's error; see the package
// documentation. Stopping a queue not started does nothing.
func (q *Queue[TTx]) Stop(ctx context.Context) error {
	q.mu.RLock()
	started := q.started
	q.mu.RUnlock()
	if !started {
		return nil
	}
	err := q.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		// Only cancels the jobs' contexts: ctx is done, so it does not wait.
		_ = q.client.StopAndCancel(ctx)
	}
	return err
}

// Enqueue adds job; see queue.Queue. River's tables must exist (see Migrate).
func (q *Queue[TTx]) Enqueue(ctx context.Context, job queue.Job) error {
	args, opts, err := q.insertArgs(job)
	if err != nil {
		return err
	}
	if _, err := q.client.Insert(ctx, args, opts); err != nil {
		return fmt.Errorf("riverqueue: enqueueing a %q job: %w", job.Kind, err)
	}
	return nil
}

// EnqueueTx is Enqueue inside the caller's transaction tx: the job exists,
// and can run, only once tx commits, so it is enqueued exactly when the
// caller's records change.
func (q *Queue[TTx]) EnqueueTx(ctx context.Context, tx TTx, job queue.Job) error {
	args, opts, err := q.insertArgs(job)
	if err != nil {
		return err
	}
	if _, err := q.client.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("riverqueue: enqueueing a %q job: %w", job.Kind, err)
	}
	return nil
}

// uniqueStates are the states in which a job holds its UniqueKey.
var uniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable,
	rivertype.JobStatePending,
	rivertype.JobStateRetryable,
	rivertype.JobStateRunning,
	rivertype.JobStateScheduled,
}

func (q *Queue[TTx]) insertArgs(job queue.Job) (jobArgs, *river.InsertOpts, error) {
	job, err := job.WithDefaults()
	if err != nil {
		return jobArgs{}, nil, err
	}
	q.mu.RLock()
	h := q.handlers[job.Kind]
	q.mu.RUnlock()
	if h == nil {
		return jobArgs{}, nil, fmt.Errorf("%w: %q", queue.ErrUnknownKind, job.Kind)
	}
	opts := &river.InsertOpts{
		Queue:       QueueName,
		Priority:    job.Priority,
		MaxAttempts: job.MaxAttempts,
		ScheduledAt: job.RunAt, // River reads zero as now
	}
	if job.UniqueKey != "" {
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true, ByState: uniqueStates}
	}
	return jobArgs{JobKind: job.Kind, Payload: job.Payload, UniqueKey: job.UniqueKey, RunAt: job.RunAt}, opts, nil
}

// deadStates are the states of dead jobs.
var deadStates = []rivertype.JobState{rivertype.JobStateDiscarded, rivertype.JobStateCancelled}

// maxDeadList bounds the limit of Dead, as River bounds its lists.
const maxDeadList = 10_000

// Dead lists discarded and cancelled jobs, newest first, at most limit
// (itself at most 10,000).
func (q *Queue[TTx]) Dead(ctx context.Context, limit int) ([]queue.DeadJob, error) {
	if limit <= 0 {
		return nil, nil
	}
	params := river.NewJobListParams().
		Queues(QueueName).
		Kinds(Kind).
		States(deadStates...).
		OrderBy(river.JobListOrderByFinalizedAt, river.SortOrderDesc).
		First(min(limit, maxDeadList))
	res, err := q.client.JobList(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("riverqueue: listing dead jobs: %w", err)
	}
	out := make([]queue.DeadJob, 0, len(res.Jobs))
	for _, row := range res.Jobs {
		d := queue.DeadJob{
			ID:       strconv.FormatInt(row.ID, 10),
			Attempts: row.Attempt,
		}
		var args jobArgs
		if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
			return nil, fmt.Errorf("riverqueue: dead job %d: %w", row.ID, err)
		}
		d.Job = args.job(row)
		if n := len(row.Errors); n > 0 {
			d.LastError = row.Errors[n-1].Error
		} else {
			d.LastError = string(row.State) // cancelled from outside, no attempt failed
		}
		if row.FinalizedAt != nil {
			d.DiedAt = *row.FinalizedAt
		}
		out = append(out, d)
	}
	return out, nil
}

// riverStates maps River's states to queue.States; completed jobs are not
// counted.
var riverStates = map[string]queue.State{
	string(rivertype.JobStateAvailable): queue.StateAvailable,
	string(rivertype.JobStatePending):   queue.StateScheduled,
	string(rivertype.JobStateScheduled): queue.StateScheduled,
	string(rivertype.JobStateRunning):   queue.StateRunning,
	string(rivertype.JobStateRetryable): queue.StateRetryable,
	string(rivertype.JobStateDiscarded): queue.StateDead,
	string(rivertype.JobStateCancelled): queue.StateDead,
}

// Counts counts the jobs of the queue "carcosa" by kind and state with one
// query grouping River's table; see queue.Counter. Dead jobs are those kept
// for Options.DeadRetention; pending ones count as scheduled. River's tables
// must exist (see Migrate).
func (q *Queue[TTx]) Counts(ctx context.Context) ([]queue.KindCount, error) {
	n := map[string]map[queue.State]int{}
	err := q.count(ctx, func(kind, state string, jobs int) {
		s, ok := riverStates[state]
		if !ok {
			return
		}
		if n[kind] == nil {
			n[kind] = map[queue.State]int{}
		}
		n[kind][s] += jobs
	})
	if err != nil {
		return nil, fmt.Errorf("riverqueue: counting jobs: %w", err)
	}
	q.mu.RLock()
	kinds := make([]string, 0, len(q.handlers))
	for k := range q.handlers {
		kinds = append(kinds, k)
	}
	q.mu.RUnlock()
	return queue.CountsOf(kinds, n), nil
}

// jobArgs are the River args of every Carcosa job. Only JobKind and
// UniqueKey count for uniqueness.
type jobArgs struct {
	JobKind   string          `json:"kind" river:"unique"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	UniqueKey string          `json:"unique_key,omitempty" river:"unique"`
	RunAt     time.Time       `json:"run_at,omitzero"` // as enqueued; River keeps its own ScheduledAt
}

func (jobArgs) Kind() string { return Kind }

func (a jobArgs) job(row *rivertype.JobRow) queue.Job {
	return queue.Job{
		Kind:        a.JobKind,
		Payload:     a.Payload,
		Priority:    row.Priority,
		MaxAttempts: row.MaxAttempts,
		UniqueKey:   a.UniqueKey,
		RunAt:       a.RunAt,
	}
}

// dispatcher is the one River worker: it hands each job to its handler.
type dispatcher[TTx any] struct {
	river.WorkerDefaults[jobArgs]
	q *Queue[TTx]
}

func (d *dispatcher[TTx]) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	d.q.mu.RLock()
	h := d.q.handlers[job.Args.JobKind]
	d.q.mu.RUnlock()
	if h == nil {
		// Perhaps enqueued by a newer instance; another may know the kind.
		return fmt.Errorf("%w: %q", queue.ErrUnknownKind, job.Args.JobKind)
	}
	err := h(ctx, job.Args.job(job.JobRow), job.Attempt)
	if err != nil && queue.IsCancel(err) {
		return river.JobCancel(err)
	}
	return err
}

// retryPolicy waits Backoff after the attempt that just failed.
type retryPolicy queue.Backoff

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p(max(job.Attempt, 1)))
}
