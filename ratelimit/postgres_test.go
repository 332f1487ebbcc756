package ratelimit_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/ratelimit/ratelimittest"
)

// postgresBundle is one test's corner of the test database: a table of a
// random name, dropped when the test ends.
type postgresBundle struct {
	dsn   string
	admin *pgxpool.Pool
	table string
}

func postgresDSN(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

func setupPostgres(t *testing.T) *postgresBundle {
	t.Helper()
	b := &postgresBundle{dsn: postgresDSN(t), table: "carcosa_rl_test_" + randomHex()}
	b.admin = b.pool(t)
	t.Cleanup(func() {
		if _, err := b.admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{b.table}.Sanitize()); err != nil {
			t.Errorf("dropping %s: %v", b.table, err)
		}
	})
	return b
}

// pool returns a new pool, as another instance of a program would have,
// closed when the test ends.
func (b *postgresBundle) pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), b.dsn)
	if err != nil {
		t.Fatalf("%s: %v", testenv.Postgres, err)
	}
	if err := p.Ping(t.Context()); err != nil {
		p.Close()
		t.Fatalf("PostgreSQL at %s: %v", testenv.Postgres, err)
	}
	t.Cleanup(p.Close)
	return p
}

func (b *postgresBundle) limiter(t *testing.T, pool *pgxpool.Pool, l ratelimit.Limit) *ratelimit.Postgres {
	t.Helper()
	lim, err := ratelimit.NewPostgres(pool, l, &ratelimit.PostgresOptions{Table: b.table})
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

func (b *postgresBundle) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{b.table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPostgresConformance(t *testing.T) {
	postgresDSN(t)
	ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
		b := setupPostgres(t)
		return b.limiter(t, b.admin, l)
	})
	ratelimittest.RunShared(t, func(t *testing.T, l ratelimit.Limit, n int) []ratelimit.Limiter {
		b := setupPostgres(t)
		out := make([]ratelimit.Limiter, n)
		for i := range out {
			out[i] = b.limiter(t, b.pool(t), l) // each instance with its own pool
		}
		return out
	})
}

// Keys are bytes, not text: NUL and invalid UTF-8 make keys too.
func TestPostgresBinaryKeys(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	l := ratelimit.Limit{Rate: 0.001, Burst: 1}
	lim := b.limiter(t, b.admin, l)
	keys := []string{"a", "a\x00", "a\x00b", "\xff", "\xff\xfe", ""}
	for _, k := range keys {
		if ok, _, err := lim.Allow(t.Context(), k); err != nil || !ok {
			t.Fatalf("key %q: ok %v, err %v; want a token", k, ok, err)
		}
	}
	for _, k := range keys {
		if ok, retry, err := lim.Allow(t.Context(), k); err != nil || ok || retry < time.Millisecond {
			t.Fatalf("drained key %q: ok %v, retry %v, err %v; want a refusal", k, ok, retry, err)
		}
	}
}

// Instances starting at once each create the table; none may fail.
func TestPostgresConcurrentCreate(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	const instances = 8
	pools := make([]*pgxpool.Pool, instances)
	for i := range pools {
		pools[i] = b.pool(t)
	}
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Go(func() {
			if _, err := ratelimit.NewPostgres(p, ratelimit.Limit{Rate: 1, Burst: 1}, &ratelimit.PostgresOptions{Table: b.table}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestPostgresPrefixes(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	l := ratelimit.Limit{Rate: 0.001, Burst: 1}
	newLim := func(prefix string) *ratelimit.Postgres {
		lim, err := ratelimit.NewPostgres(b.admin, l, &ratelimit.PostgresOptions{Table: b.table, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return lim
	}
	uploads, logins := newLim("uploads:"), newLim("logins:")
	for _, lim := range []*ratelimit.Postgres{uploads, logins} {
		if ok, _, err := lim.Allow(t.Context(), "k"); err != nil || !ok {
			t.Fatalf("ok %v, err %v; want a token: prefixes share no buckets", ok, err)
		}
	}
	if ok, _, err := uploads.Allow(t.Context(), "k"); err != nil || ok {
		t.Fatalf("ok %v, err %v; want a refusal", ok, err)
	}
}

func TestPostgresPrune(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	fast := b.limiter(t, b.admin, ratelimit.Limit{Rate: 100, Burst: 2})
	slow, err := ratelimit.NewPostgres(b.admin, ratelimit.Limit{Rate: 0.001, Burst: 2}, &ratelimit.PostgresOptions{Table: b.table, Prefix: "slow:"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if ok, _, err := fast.Allow(t.Context(), k); err != nil || !ok {
			t.Fatalf("ok %v, err %v", ok, err)
		}
	}
	if ok, _, err := slow.Allow(t.Context(), "a"); err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if n := b.rows(t); n != 4 {
		t.Fatalf("%d rows; want 4", n)
	}
	// One token short at 100/s, the fast buckets are full within 10ms; the
	// slow one, a token short at 0.001/s, is not for 1000s.
	time.Sleep(50 * time.Millisecond)
	n, err := slow.Prune(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || b.rows(t) != 1 {
		t.Fatalf("Prune deleted %d rows, leaving %d; want 3 deleted, the slow bucket left", n, b.rows(t))
	}
	// The pruned keys start full, the kept one is still short.
	for range 2 {
		if ok, _, err := fast.Allow(t.Context(), "a"); err != nil || !ok {
			t.Fatalf("pruned key: ok %v, err %v; want a token", ok, err)
		}
	}
	if ok, _, err := slow.Allow(t.Context(), "a"); err != nil || !ok {
		t.Fatalf("kept key, second token: ok %v, err %v", ok, err)
	}
	if ok, _, err := slow.Allow(t.Context(), "a"); err != nil || ok {
		t.Fatalf("kept key, third call: ok %v, err %v; want a refusal", ok, err)
	}
}

func TestPostgresDefaultTable(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	prefix := "test:" + randomHex() + ":"
	lim, err := ratelimit.NewPostgres(b.admin, ratelimit.Limit{Rate: 1, Burst: 1}, &ratelimit.PostgresOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := b.admin.Exec(context.Background(), "DELETE FROM carcosa_rate_limits WHERE key = $1", []byte(prefix+"k")); err != nil {
			t.Errorf("deleting the test's bucket: %v", err)
		}
	})
	if ok, _, err := lim.Allow(t.Context(), "k"); err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	var n int
	if err := b.admin.QueryRow(t.Context(), "SELECT count(*) FROM carcosa_rate_limits").Scan(&n); err != nil || n == 0 {
		t.Fatalf("carcosa_rate_limits: %d rows, %v; want the bucket there", n, err)
	}
	if _, err := lim.Prune(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresSchemaTable(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	lim, err := ratelimit.NewPostgres(b.admin, ratelimit.Limit{Rate: 1, Burst: 1}, &ratelimit.PostgresOptions{Table: "public." + b.table})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := lim.Allow(t.Context(), "k"); err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if n := b.rows(t); n != 1 {
		t.Fatalf("%d rows in %s; want 1", n, b.table)
	}
}

func TestPostgresReturnsErrors(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	lim := b.limiter(t, b.admin, ratelimit.Limit{Rate: 1, Burst: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ok, _, err := lim.Allow(ctx, "k")
	if err == nil || ok || !strings.HasPrefix(err.Error(), "ratelimit: postgres: ") {
		t.Fatalf("ok %v, err %v; want a prefixed error and no token", ok, err)
	}
	if _, err := lim.Prune(ctx); err == nil {
		t.Fatal("Prune with a canceled context: no error")
	}
}

func TestNewPostgresErrors(t *testing.T) {
	t.Parallel()
	b := setupPostgres(t)
	for _, table := range []string{".", "a.", ".a", "a.b.c"} {
		if _, err := ratelimit.NewPostgres(b.admin, ratelimit.Limit{Rate: 1, Burst: 1}, &ratelimit.PostgresOptions{Table: table}); err == nil || !strings.Contains(err.Error(), "Table") {
			t.Errorf("Table %q: err %v; want one naming Table", table, err)
		}
	}
	if _, err := ratelimit.NewPostgres(b.admin, ratelimit.Limit{Rate: 1, Burst: 1}, &ratelimit.PostgresOptions{Table: "no_such_schema_" + randomHex() + ".t"}); err == nil {
		t.Error("a table in a missing schema: no error")
	}
	for name, l := range map[string]ratelimit.Limit{"Limit.Rate": {Burst: 1}, "Limit.Burst": {Rate: 1}} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, name) {
					t.Errorf("panic %q; want one naming %s", msg, name)
				}
			}()
			ratelimit.NewPostgres(b.admin, l, nil)
		}()
	}
	func() {
		defer func() {
			if msg, _ := recover().(string); !strings.Contains(msg, "pool") {
				t.Errorf("panic %q; want one naming the pool", msg)
			}
		}()
		ratelimit.NewPostgres(nil, ratelimit.Limit{Rate: 1, Burst: 1}, nil)
	}()
}
