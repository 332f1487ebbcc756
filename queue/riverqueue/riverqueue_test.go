package riverqueue_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/queue/queuetest"
	"github.com/carcosa-dev/carcosa/queue/riverqueue"
)

var ctx = context.Background()

// quiet discards River's logs of the failures the tests make on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func fast(int) time.Duration { return 10 * time.Millisecond }

// newPool returns a pool on the test database (testenv.Postgres), closed
// when the test ends.
func newPool(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// tempSchema creates a schema of a new name, dropped with River's tables
// when the test ends, so that tests running at once never share jobs.
func tempSchema(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "carcosa_queue_" + hex.EncodeToString(b)
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// options are the tests' Options: fetching often, quiet.
func options(schema string, workers int) *riverqueue.Options {
	return &riverqueue.Options{
		Schema:            schema,
		Workers:           workers,
		Backoff:           fast,
		Logger:            quiet,
		FetchPollInterval: 50 * time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
	}
}

func newQueue(t *testing.T, pool *pgxpool.Pool, opts *riverqueue.Options) *riverqueue.Queue[pgx.Tx] {
	t.Helper()
	q, err := riverqueue.New(pool, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return q
}

func TestConformance(t *testing.T) {
	// One pool for the parallel subtests bounds the connections; each
	// client keeps one for LISTEN.
	pool := newPool(t, 40)
	queuetest.Run(t, func(t *testing.T, opts queuetest.Options) queue.Queue {
		o := options(tempSchema(t, pool), opts.Workers)
		o.Backoff = opts.Backoff
		return newQueue(t, pool, o)
	})
}

func TestSQLiteConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, opts queuetest.Options) queue.Queue {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "queue.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		o := options("", opts.Workers)
		o.Backoff = opts.Backoff
		q, err := riverqueue.NewSQLite(db, o)
		if err != nil {
			t.Fatalf("NewSQLite: %v", err)
		}
		return q
	})
}

// handled registers kind on q; its jobs' payloads and attempts arrive on the
// returned channel.
func handled(q queue.Queue, kind string) <-chan string {
	ch := make(chan string, 10)
	q.Handle(kind, func(ctx context.Context, job queue.Job, attempt int) error {
		ch <- string(job.Payload) + "#" + string(rune('0'+attempt))
		return nil
	})
	return ch
}

func receive(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("ran %s, want %s", got, want)
		}
	case <-time.After(queuetest.Timeout):
		t.Fatalf("timed out waiting for %s", want)
	}
}

func stop(t *testing.T, q queue.Queue) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, queuetest.Timeout)
	defer cancel()
	if err := q.Stop(sctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// Jobs enqueued while no instance runs, or after one stopped, run when the
// next one starts.
func TestDurable(t *testing.T) {
	t.Parallel()
	pool := newPool(t, 10)
	schema := tempSchema(t, pool)

	first := newQueue(t, pool, options(schema, 2))
	firstRan := handled(first, "d")
	if err := first.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Enqueue(ctx, queue.Job{Kind: "d", Payload: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	receive(t, firstRan, "1#1")
	stop(t, first)
	if err := first.Enqueue(ctx, queue.Job{Kind: "d", Payload: []byte(`2`)}); err != nil {
		t.Fatalf("Enqueue after Stop: %v", err)
	}

	second := newQueue(t, pool, options(schema, 2))
	secondRan := handled(second, "d")
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer stop(t, second)
	receive(t, secondRan, "2#1")
}

// A job left running by a process that died is retried by River's rescuer.
func TestRescue(t *testing.T) {
	t.Parallel()
	pool := newPool(t, 10)
	schema := tempSchema(t, pool)

	dead := newQueue(t, pool, options(schema, 1))
	handled(dead, "r")
	if err := dead.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dead.Enqueue(ctx, queue.Job{Kind: "r", Payload: []byte(`"x"`)}); err != nil {
		t.Fatal(err)
	}
	// What a process killed mid-job leaves behind.
	tag, err := pool.Exec(ctx, `UPDATE `+schema+`.river_job SET state = 'running', attempt = 1,
		attempted_at = now() - interval '10 seconds', attempted_by = ARRAY['a-dead-process']`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("marking the job running: %v, %d rows", err, tag.RowsAffected())
	}

	o := options(schema, 1)
	o.JobTimeout = time.Second
	o.RescueStuckJobsAfter = 2 * time.Second
	q := newQueue(t, pool, o)
	ran := handled(q, "r")
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer stop(t, q)
	receive(t, ran, `"x"#2`)
}

// A job enqueued in a transaction exists only if the transaction commits.
func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	pool := newPool(t, 10)
	q := newQueue(t, pool, options(tempSchema(t, pool), 2))
	ran := handled(q, "tx")
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer stop(t, q)
	for _, commit := range []bool{false, true} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := []byte(`"rolled back"`)
		if commit {
			p = []byte(`"committed"`)
		}
		if err := q.EnqueueTx(ctx, tx, queue.Job{Kind: "tx", Payload: p}); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	receive(t, ran, `"committed"#1`)
	select {
	case got := <-ran:
		t.Errorf("%s ran too", got)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []riverqueue.Options{
		{Workers: -1},
		{JobTimeout: -2},
		{FetchCooldown: -time.Second},
		{JobTimeout: time.Hour, RescueStuckJobsAfter: time.Minute},
	} {
		if _, err := riverqueue.NewSQLite(&sql.DB{}, &o); err == nil {
			t.Errorf("NewSQLite accepted %+v", o)
		}
	}
}
