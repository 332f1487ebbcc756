// Package sqlite is Carcosa's default, embedded store.Store: one SQLite
// database file, accessed through the pure-Go modernc.org/sqlite driver, so
// no cgo is needed.
//
// The database runs in WAL mode: readers never block the writer or each
// other, and several processes (or several Stores in one process) may open
// the same file. SQLite admits one writer at a time; within a Store writes
// are queued in Go, and between Stores they wait on SQLite's busy timeout.
//
// Times are stored as INTEGER Unix nanoseconds in UTC, which keeps full
// precision and sorts correctly, and limits times to the years 1678–2262.
// The schema is versioned with PRAGMA user_version and migrated on Open.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

// busyTimeout is how long a write waits for another connection's write
// transaction (typically another process) before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Store is a store.Store backed by an SQLite database file.
type Store struct {
	db *sql.DB
	// write is a one-slot semaphore that queues this Store's writers in Go,
	// where waiting is cheap and honours contexts, instead of in SQLite's
	// polling busy handler. A channel rather than a mutex so that a waiting
	// writer can give up when its context ends.
	write chan struct{}
}

var _ store.Store = (*Store)(nil)

// migrations[i] takes the schema from version i to version i+1. Released
// migrations must never change; add new ones at the end.
var migrations = [][]string{
	{
		`CREATE TABLE uploads (
			id            TEXT    NOT NULL PRIMARY KEY,
			route         TEXT    NOT NULL,
			owner         TEXT    NOT NULL,
			via           TEXT    NOT NULL,
			name          TEXT    NOT NULL,
			claimed_type  TEXT    NOT NULL,
			type          TEXT    NOT NULL,
			size          INTEGER NOT NULL,
			sha256        TEXT    NOT NULL,
			key           TEXT    NOT NULL,
			state         TEXT    NOT NULL CHECK (state IN ('uploading', 'processing', 'ready', 'rejected', 'quarantined', 'failed')),
			error_code    TEXT    NOT NULL,
			error_message TEXT    NOT NULL,
			input         BLOB,   -- NULL when absent, else the JSON bytes as given
			metadata      BLOB,
			result        BLOB,
			partial       INTEGER NOT NULL CHECK (partial IN (0, 1)),
			created_at    INTEGER NOT NULL, -- Unix nanoseconds, UTC
			updated_at    INTEGER NOT NULL
		) STRICT`,
		// An empty key means "not stored yet" and may repeat.
		`CREATE UNIQUE INDEX uploads_key ON uploads (key) WHERE key <> ''`,
	},
	{
		// List: records of one state, oldest update first.
		`CREATE INDEX uploads_state_updated ON uploads (state, updated_at, id)`,
	},
	{
		// The bucket holding the record's key; '' is the default bucket,
		// which is where the records written before this column live.
		`ALTER TABLE uploads ADD COLUMN bucket TEXT NOT NULL DEFAULT ''`,
	},
	{
		// The malware scan's outcome and the signature found, if any.
		`ALTER TABLE uploads ADD COLUMN scan TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE uploads ADD COLUMN signature TEXT NOT NULL DEFAULT ''`,
	},
	{
		// The file's derivatives, name → key, as a JSON object; '' when none.
		`ALTER TABLE uploads ADD COLUMN derivatives TEXT NOT NULL DEFAULT ''`,
	},
	{
		// A video's running time, in milliseconds; 0 when unknown.
		`ALTER TABLE uploads ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0`,
	},
	{
		// The tenant the upload was placed in; '' for none.
		`ALTER TABLE uploads ADD COLUMN tenant TEXT NOT NULL DEFAULT ''`,
		// List by owner, tenant or route, oldest update first. An owner's
		// records are few enough that a tenant also asked for is checked
		// row by row, so the owner index serves owners with or without
		// their tenant.
		`CREATE INDEX uploads_owner_updated ON uploads (owner, updated_at, id)`,
		`CREATE INDEX uploads_tenant_updated ON uploads (tenant, updated_at, id)`,
		`CREATE INDEX uploads_route_updated ON uploads (route, updated_at, id)`,
	},
	{
		// Quotas (ledger.go). Scopes are keyed by store.QuotaScope.String().
		`CREATE TABLE quota_usage (
			scope TEXT    NOT NULL PRIMARY KEY,
			bytes INTEGER NOT NULL CHECK (bytes >= 0),
			files INTEGER NOT NULL CHECK (files >= 0)
		) STRICT`,
		`CREATE TABLE quota_reservations (
			upload_id TEXT    NOT NULL,
			scope     TEXT    NOT NULL,
			bytes     INTEGER NOT NULL,
			PRIMARY KEY (upload_id, scope)
		) STRICT, WITHOUT ROWID`,
		`CREATE TABLE quota_limits (
			scope TEXT    NOT NULL PRIMARY KEY,
			bytes INTEGER NOT NULL,
			files INTEGER NOT NULL
		) STRICT`,
	},
	{
		`CREATE TABLE api_keys (
			id           TEXT    NOT NULL PRIMARY KEY,
			hash         BLOB    NOT NULL,
			name         TEXT    NOT NULL,
			owner        TEXT    NOT NULL,
			tenant       TEXT    NOT NULL,
			routes       TEXT    NOT NULL, -- a JSON array; '' for every route
			created_at   INTEGER NOT NULL, -- Unix nanoseconds, UTC
			expires_at   INTEGER,          -- NULL for never
			last_used_at INTEGER,          -- NULL until first used
			revoked_at   INTEGER           -- NULL unless revoked
		) STRICT`,
		`CREATE INDEX api_keys_tenant_owner ON api_keys (tenant, owner, id)`,
	},
	{
		`CREATE TABLE audit_log (
			id      TEXT    NOT NULL PRIMARY KEY,
			time    INTEGER NOT NULL, -- Unix nanoseconds, UTC
			action  TEXT    NOT NULL,
			actor   TEXT    NOT NULL,
			tenant  TEXT    NOT NULL,
			subject TEXT    NOT NULL,
			detail  BLOB              -- NULL when absent, else the JSON bytes as given
		) STRICT`,
		// ListAudit, newest first: all events, a tenant's, a subject's.
		`CREATE INDEX audit_log_time ON audit_log (time, id)`,
		`CREATE INDEX audit_log_tenant_time ON audit_log (tenant, time, id)`,
		`CREATE INDEX audit_log_subject_time ON audit_log (subject, time, id)`,
	},
	{
		// Webhooks (webhooks.go).
		`CREATE TABLE webhook_endpoints (
			id          TEXT    NOT NULL PRIMARY KEY,
			tenant      TEXT    NOT NULL,
			url         TEXT    NOT NULL,
			secrets     TEXT    NOT NULL, -- a JSON array; '' for none
			rotating    INTEGER,          -- Unix nanoseconds, UTC; NULL for none
			types       TEXT    NOT NULL, -- a JSON array; '' for every type
			disabled    INTEGER NOT NULL CHECK (disabled IN (0, 1)),
			description TEXT    NOT NULL,
			created_at  INTEGER NOT NULL, -- Unix nanoseconds, UTC
			updated_at  INTEGER NOT NULL
		) STRICT`,
		// ListEndpoints, oldest first: every tenant's, one tenant's.
		`CREATE INDEX webhook_endpoints_created ON webhook_endpoints (created_at, id)`,
		`CREATE INDEX webhook_endpoints_tenant_created ON webhook_endpoints (tenant, created_at, id)`,
		`CREATE TABLE webhook_events (
			id         TEXT    NOT NULL PRIMARY KEY,
			type       TEXT    NOT NULL,
			tenant     TEXT    NOT NULL,
			body       BLOB,             -- NULL when absent, else the JSON bytes as given
			created_at INTEGER NOT NULL  -- Unix nanoseconds, UTC
		) STRICT`,
		// ListDeliveries of a tenant's events.
		`CREATE INDEX webhook_events_tenant ON webhook_events (tenant)`,
		// Deliveries may name events and endpoints that are not stored
		// (an operator's endpoint, "config:<name>"), or no longer are.
		`CREATE TABLE webhook_deliveries (
			id          TEXT    NOT NULL PRIMARY KEY,
			event_id    TEXT    NOT NULL,
			endpoint_id TEXT    NOT NULL,
			attempt     INTEGER NOT NULL,
			status_code INTEGER NOT NULL,
			latency_ns  INTEGER NOT NULL,
			error       TEXT    NOT NULL,
			dead        INTEGER NOT NULL CHECK (dead IN (0, 1)),
			at          INTEGER NOT NULL  -- Unix nanoseconds, UTC
		) STRICT`,
		// ListDeliveries, newest first: all, an event's, an endpoint's,
		// the dead ones.
		`CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at, id)`,
		`CREATE INDEX webhook_deliveries_event_at ON webhook_deliveries (event_id, at, id)`,
		`CREATE INDEX webhook_deliveries_endpoint_at ON webhook_deliveries (endpoint_id, at, id)`,
		`CREATE INDEX webhook_deliveries_dead_at ON webhook_deliveries (at, id) WHERE dead = 1`,
	},
	{
		// The W3C traceparent of the request that created the upload; ''
		// when it was not traced.
		`ALTER TABLE uploads ADD COLUMN trace TEXT NOT NULL DEFAULT ''`,
	},
}

// Open opens the database at path, creating the file if needed (but not its
// directory) with mode 0600, and brings its schema up to date. It fails if
// the file's schema is newer than this package knows.
func Open(path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, errors.New("sqlite: open: path must name a file")
	}
	dsn, err := dataSourceName(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// SQLite would create the database 0644, and gives its -wal and -shm
	// files the database's mode: made here first, all three are 0600.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = f.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// WAL lets readers run in parallel with each other and with the one
	// writer, so allow a few connections; writers are serialized anyway.
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)

	s := &Store{db: db, write: make(chan struct{}, 1)}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dataSourceName builds a file: URI for path. The path is made absolute and
// escaped so that characters such as '?', '#' and '%' in it cannot be taken
// for URI syntax. The _pragma parameters run on every new connection;
// busy_timeout comes first so that it covers the others.
func dataSourceName(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p}
	u.RawQuery = strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=foreign_keys(ON)",
	}, "&")
	return u.String(), nil
}

// migrate applies the migrations the database lacks, in one transaction,
// so that a crash or a concurrent Open never sees a half-migrated schema.
func (s *Store) migrate(ctx context.Context) error {
	want := len(migrations)
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: open: read schema version: %w", err)
	}
	if v == want {
		return nil
	}
	return s.inWriteTx(ctx, func(conn *sql.Conn) error {
		// Read again under the write lock: another process may have
		// migrated in the meantime.
		if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("sqlite: open: read schema version: %w", err)
		}
		if v > want {
			return fmt.Errorf("sqlite: open: schema version %d is newer than supported version %d", v, want)
		}
		for i := v; i < want; i++ {
			for _, stmt := range migrations[i] {
				if _, err := conn.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("sqlite: open: migration %d: %w", i+1, err)
				}
			}
		}
		// PRAGMA does not take parameters; want is a constant of ours.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", want)); err != nil {
			return fmt.Errorf("sqlite: open: set schema version: %w", err)
		}
		return nil
	})
}

// lockWrite takes this Store's writer slot, or gives up when ctx ends.
func (s *Store) lockWrite(ctx context.Context) (unlock func(), err error) {
	select {
	case s.write <- struct{}{}:
		return func() { <-s.write }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// inWriteTx runs fn in a transaction on a dedicated connection. The
// transaction is begun with BEGIN IMMEDIATE, which takes SQLite's write lock
// up front: a deferred transaction that reads first and then writes can
// fail with SQLITE_BUSY without waiting when another connection wrote in
// between, which would turn concurrent read-modify-writes into errors.
// database/sql's Tx cannot say IMMEDIATE, hence the explicit statements.
func (s *Store) inWriteTx(ctx context.Context, fn func(conn *sql.Conn) error) (err error) {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			rollback(conn)
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	committed = true
	return nil
}

// rollback ends the transaction on conn. It runs even when the caller's
// context has ended, and if it fails the connection is discarded, since a
// connection returned to the pool inside a transaction would hold the write
// lock forever.
func rollback(conn *sql.Conn) {
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

const columns = `id, route, owner, tenant, via, name, claimed_type, type, size, sha256, key, bucket, scan, signature, derivatives, duration_ms,
	state, error_code, error_message, input, metadata, result, partial, created_at, updated_at, trace`

func args(u *store.Upload) []any {
	return []any{
		u.ID, u.Route, u.Owner, u.Tenant, u.Via, u.Name, u.ClaimedType, u.Type, u.Size, u.SHA256, u.Key, u.Bucket, string(u.Scan), u.Signature, store.EncodeDerivatives(u.Derivatives), u.Duration.Milliseconds(),
		string(u.State), u.ErrorCode, u.ErrorMessage, raw(u.Input), raw(u.Metadata), raw(u.Result),
		u.Partial, u.CreatedAt.UnixNano(), u.UpdatedAt.UnixNano(), u.Trace,
	}
}

// raw keeps nil distinct from empty: nil is stored as NULL.
func raw(r json.RawMessage) any {
	if r == nil {
		return nil
	}
	return []byte(r)
}

func scan(row interface{ Scan(...any) error }) (*store.Upload, error) {
	var (
		u                         store.Upload
		state, scanResult, derivs string
		durationMS                int64
		input, metadata, result   []byte
		createdAt, updatedAt      int64
	)
	err := row.Scan(&u.ID, &u.Route, &u.Owner, &u.Tenant, &u.Via, &u.Name, &u.ClaimedType, &u.Type, &u.Size, &u.SHA256, &u.Key, &u.Bucket, &scanResult, &u.Signature, &derivs, &durationMS,
		&state, &u.ErrorCode, &u.ErrorMessage, &input, &metadata, &result, &u.Partial, &createdAt, &updatedAt, &u.Trace)
	if err != nil {
		return nil, err
	}
	u.State = store.State(state)
	u.Scan = store.ScanResult(scanResult)
	u.Duration = time.Duration(durationMS) * time.Millisecond
	if u.Derivatives, err = store.DecodeDerivatives(derivs); err != nil {
		return nil, err
	}
	// Scan copies BLOBs into fresh slices and leaves NULL as nil.
	u.Input, u.Metadata, u.Result = input, metadata, result
	u.CreatedAt = time.Unix(0, createdAt).UTC()
	u.UpdatedAt = time.Unix(0, updatedAt).UTC()
	return &u, nil
}

// isUnique reports whether err is a PRIMARY KEY or UNIQUE violation.
func isUnique(err error) bool {
	var e *sqlitedrv.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// representable reports whether t fits in int64 Unix nanoseconds.
func representable(t time.Time) bool {
	return time.Unix(0, t.UnixNano()).Equal(t)
}

// Create implements store.Store. A non-empty Key already held by another
// record is reported as store.ErrExists, like a duplicate ID.
func (s *Store) Create(ctx context.Context, u *store.Upload) error {
	if u.ID == "" {
		return errors.New("sqlite: create: empty ID")
	}
	if !u.State.Valid() {
		return errors.New("sqlite: create: invalid state")
	}
	c := *u // the times are filled in on a copy; the caller's record is left alone
	now := time.Now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	if !representable(c.CreatedAt) || !representable(c.UpdatedAt) {
		return errors.New("sqlite: create: time out of range")
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO uploads (`+columns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args(&c)...)
	if isUnique(err) {
		return fmt.Errorf("sqlite: create: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create: %w", err)
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (*store.Upload, error) {
	u, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM uploads WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get: %w", err)
	}
	return u, nil
}

// GetByKey implements store.Store. The empty key never matches.
func (s *Store) GetByKey(ctx context.Context, key string) (*store.Upload, error) {
	if key == "" {
		return nil, fmt.Errorf("sqlite: get by key: %w", store.ErrNotFound)
	}
	// The key <> '' term lets SQLite use the partial index.
	u, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM uploads WHERE key = ? AND key <> ''`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get by key: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get by key: %w", err)
	}
	return u, nil
}

// Update implements store.Store. fn runs inside the write transaction, so
// it should be quick, and must not call Create, Update or Delete on this
// Store, which would wait for the transaction fn is part of.
func (s *Store) Update(ctx context.Context, id string, fn func(u *store.Upload) error) (*store.Upload, error) {
	var out *store.Upload
	err := s.inWriteTx(ctx, func(conn *sql.Conn) error {
		old, err := scan(conn.QueryRowContext(ctx, `SELECT `+columns+` FROM uploads WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: update: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update: read: %w", err)
		}
		work := old.Clone()
		if err := fn(work); err != nil {
			return err
		}
		// Copy so that a pointer fn kept cannot change what is returned.
		c := work.Clone()
		c.ID = old.ID
		c.CreatedAt = old.CreatedAt
		if !store.CanTransition(old.State, c.State) {
			return fmt.Errorf("sqlite: update: %q to %q: %w", old.State, c.State, store.ErrTransition)
		}
		c.UpdatedAt = time.Now().UTC()
		_, err = conn.ExecContext(ctx, `UPDATE uploads SET
			route = ?, owner = ?, tenant = ?, via = ?, name = ?, claimed_type = ?, type = ?, size = ?, sha256 = ?, key = ?, bucket = ?, scan = ?, signature = ?, derivatives = ?, duration_ms = ?,
			state = ?, error_code = ?, error_message = ?, input = ?, metadata = ?, result = ?, partial = ?,
			updated_at = ?, trace = ?
			WHERE id = ?`,
			c.Route, c.Owner, c.Tenant, c.Via, c.Name, c.ClaimedType, c.Type, c.Size, c.SHA256, c.Key, c.Bucket, string(c.Scan), c.Signature, store.EncodeDerivatives(c.Derivatives), c.Duration.Milliseconds(),
			string(c.State), c.ErrorCode, c.ErrorMessage, raw(c.Input), raw(c.Metadata), raw(c.Result), c.Partial,
			c.UpdatedAt.UnixNano(), c.Trace,
			c.ID)
		if isUnique(err) {
			return fmt.Errorf("sqlite: update: key: %w", store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update: write: %w", err)
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	res, err := s.db.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: delete: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: delete: %w", store.ErrNotFound)
	}
	return nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q store.Query) ([]*store.Upload, error) {
	q, err := q.Check()
	if err != nil {
		return nil, err
	}
	c := ledger.Conds{}
	for _, f := range []struct{ column, value string }{
		{"state", string(q.State)}, {"owner", q.Owner}, {"tenant", q.Tenant}, {"route", q.Route},
	} {
		if f.value != "" {
			c.Add(f.column+" = ?", f.value)
		}
	}
	if !q.UpdatedBefore.IsZero() {
		c.Add("updated_at < ?", q.UpdatedBefore.UnixNano())
	}
	cmp, order := ">", "updated_at, id"
	if q.Newest {
		cmp, order = "<", "updated_at DESC, id DESC"
	}
	if !q.After.IsZero() {
		n := q.After.UpdatedAt.UnixNano()
		c.Add("(updated_at "+cmp+" ? OR (updated_at = ? AND id "+cmp+" ?))", n, n, q.After.ID)
	}
	sql := `SELECT ` + columns + ` FROM uploads` + c.Where() + ` ORDER BY ` + order + ` LIMIT ` + c.Arg(q.Limit)
	rows, err := s.db.QueryContext(ctx, sql, c.Args()...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	defer rows.Close()
	var out []*store.Upload
	for rows.Next() {
		u, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	return out, nil
}

// Stats implements store.Store. Buckets and routes are ordered by their
// bytes, as Go compares strings.
func (s *Store) Stats(ctx context.Context) ([]store.Stat, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bucket, route, count(*), coalesce(sum(size), 0)
		FROM uploads WHERE state = 'ready'
		GROUP BY bucket, route ORDER BY bucket, route`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stats: %w", err)
	}
	defer rows.Close()
	var out []store.Stat
	for rows.Next() {
		var st store.Stat
		if err := rows.Scan(&st.Bucket, &st.Route, &st.Files, &st.Bytes); err != nil {
			return nil, fmt.Errorf("sqlite: stats: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: stats: %w", err)
	}
	return out, nil
}

// Close closes the database. It may be called more than once.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}
