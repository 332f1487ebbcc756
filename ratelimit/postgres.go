package ratelimit

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configure a Postgres limiter. The zero value, and nil,
// give the defaults.
type PostgresOptions struct {
	// Table keeps the buckets, one row per key; "schema.table" names a
	// table outside the search path. It is created when missing. Defaults
	// to "carcosa_rate_limits".
	Table string

	// Prefix begins the key of every bucket. Limiters with different
	// limits on one table need different prefixes: limiters sharing a
	// table and a prefix share their buckets. Defaults to "".
	Prefix string
}

// Postgres is a Limiter whose buckets live in a PostgreSQL table, so that
// every instance of a program given the same database, table, Prefix and
// Limit shares one budget per key. Each call is one statement (an upsert
// that locks the key's row), timed by the database's clock
// (clock_timestamp()), so instances' clocks need not agree. It is safe for
// concurrent use.
//
// A row records when its bucket will be full again; from then on it is
// the same as no row, and Prune deletes it. Nothing deletes rows unless
// Prune is called: call it now and then (every few minutes, say) from one
// instance.
//
// Allow returns PostgreSQL's errors, wrapped; see the package
// documentation for whether to fail open or closed.
type Postgres struct {
	pool   *pgxpool.Pool
	limit  Limit
	prefix string
	allow  string // the statement of Allow
	prune  string // the statement of Prune
}

// NewPostgres returns a Postgres limiter applying l to each key, and
// creates its table if missing. opts may be nil. It panics if pool is nil
// or l is invalid, as NewMemory and NewRedis do, and returns an error if
// the table name is not usable or the table cannot be created within 30 s.
func NewPostgres(pool *pgxpool.Pool, l Limit, opts *PostgresOptions) (*Postgres, error) {
	if pool == nil {
		panic("ratelimit: NewPostgres needs a pool")
	}
	l.check()
	var o PostgresOptions
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = "carcosa_rate_limits"
	}
	parts := strings.Split(o.Table, ".")
	if len(parts) > 2 || slices.Contains(parts, "") {
		return nil, fmt.Errorf("ratelimit: PostgresOptions.Table %q: want table or schema.table", o.Table)
	}
	table := pgx.Identifier(parts).Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := createTable(ctx, pool, o.Table, table); err != nil {
		return nil, fmt.Errorf("ratelimit: postgres: creating table %s: %w", table, err)
	}
	return &Postgres{
		pool:   pool,
		limit:  l,
		prefix: o.Prefix,
		allow:  fmt.Sprintf(allowSQL, table),
		prune:  fmt.Sprintf(`DELETE FROM %s WHERE full_at <= clock_timestamp()`, table),
	}, nil
}

// createTable creates the table unless it exists. Two sessions running
// CREATE TABLE IF NOT EXISTS at once can both find it missing, and the
// second then fails on a unique index of the catalog; a transaction-scoped
// advisory lock on the table's name makes them take turns.
//
// Keys are bytea, not text, so that any bytes make a key, NUL and invalid
// UTF-8 included. There is no index but the key's: each call updates its
// row in place (a HOT update), and Prune, which is rare, can afford a scan.
func createTable(ctx context.Context, pool *pgxpool.Pool, name, table string) error {
	h := fnv.New64a()
	h.Write([]byte("github.com/carcosa-dev/carcosa/ratelimit.Postgres\x00" + name))
	lockID := int64(h.Sum64())
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	key     bytea PRIMARY KEY,
	tokens  double precision NOT NULL,
	ts      timestamptz NOT NULL,
	full_at timestamptz NOT NULL,
	allowed boolean NOT NULL
)`, table))
		return err
	})
}

// allowSQL is the token bucket, as takeScript is for Redis: a row holds
// the tokens a key's bucket had at ts, by the database's clock, and a
// missing row is a full bucket. The row's lock makes concurrent calls for
// one key take turns. A refusal stores the bucket refilled to now, which
// changes nothing: refilling later from either state gives the same
// result. full_at is when the bucket will be full again, for Prune; it is
// at most 1e10 s (about 317 years) ahead, so that a tiny rate cannot
// overflow a timestamp. allowed is the decision just taken, so that
// RETURNING can report it.
//
// %s is the table; $1 the key, $2 the rate (tokens per second), $3 the
// burst. It returns the decision and the tokens left.
const allowSQL = `INSERT INTO %s AS b (key, tokens, ts, full_at, allowed)
SELECT $1::bytea, $3::float8 - 1, c.now, c.now + make_interval(secs => least(1 / $2::float8, 1e10)), true
FROM (SELECT clock_timestamp() AS now) c
ON CONFLICT (key) DO UPDATE SET (tokens, ts, full_at, allowed) = (
	SELECT n.tokens, s.ts, s.ts + make_interval(secs => least(($3::float8 - n.tokens) / $2::float8, 1e10)), s.avail >= 1
	FROM (SELECT
		-- A clock that steps back (a failover) refills nothing until it passes ts.
		least($3::float8, b.tokens + greatest(0, extract(epoch FROM excluded.ts - b.ts)::float8) * $2::float8) AS avail,
		greatest(b.ts, excluded.ts) AS ts) s,
	LATERAL (SELECT CASE WHEN s.avail >= 1 THEN s.avail - 1 ELSE s.avail END AS tokens) n
)
RETURNING allowed, tokens`

// Allow implements Limiter. It returns an error when PostgreSQL cannot be
// reached or fails the statement, or when ctx ends first.
func (p *Postgres) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	var ok bool
	var tokens float64
	err := p.pool.QueryRow(ctx, p.allow, []byte(p.prefix+key), p.limit.Rate, p.limit.Burst).Scan(&ok, &tokens)
	if err != nil {
		return false, 0, fmt.Errorf("ratelimit: postgres: %w", err)
	}
	if ok {
		return true, 0, nil
	}
	return false, p.limit.retryAfter(tokens), nil
}

// Prune deletes the rows of buckets that are full again by now, of every
// prefix and limit (a full bucket and no row behave alike), and returns
// how many it deleted.
func (p *Postgres) Prune(ctx context.Context) (int64, error) {
	tag, err := p.pool.Exec(ctx, p.prune)
	if err != nil {
		return 0, fmt.Errorf("ratelimit: postgres: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}

var _ Limiter = (*Postgres)(nil)
