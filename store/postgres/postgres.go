// Package postgres is a store.Store kept in a PostgreSQL table, for
// deployments where many Carcosa instances share one database.
//
// Open takes a connection string in any form pgx accepts, a URL such as
//
//	postgres://carcosa:secret@db.internal:5432/app?sslmode=verify-full
//
// or key=value pairs, including pgxpool's settings such as pool_max_conns.
// New uses a pool the caller already has and leaves it open on Close.
//
// Records live in one table, "carcosa_uploads" unless Options.Table names
// another, in Options.Schema or, when that is empty, the first schema of
// the connection's search_path. Several tables, for example one per
// application, may share a database and a schema. Quotas, API keys, the
// audit log and webhooks (store.Quotas, store.Keys, store.AuditLog,
// store.Webhooks) live in tables named after it, such as
// "carcosa_uploads_quota_usage", in the same schema; a name that would pass
// 63 bytes is shortened and given a hash of the table's name.
//
// Any number of Stores, in one process or many, may use the same table at
// once: Update reads the record with SELECT … FOR UPDATE inside a
// transaction, so concurrent Updates of one record are serialized by
// PostgreSQL's row lock, and uniqueness of IDs and storage keys is enforced
// by unique indexes.
//
// Open and New bring the table's schema up to date. The version of each
// table's schema is kept in the carcosa_schema_migrations table of the same
// schema, and migrations run in one transaction holding a transaction-level
// advisory lock derived from the table's name, so instances starting
// together neither run a migration twice nor see a half-migrated table.
// When the schema is already current, Open only reads its version, so the
// role used at run time needs no CREATE privilege once a first Open has
// migrated. A table whose schema is newer than this package knows is
// refused.
//
// Times are stored as timestamptz, which keeps microseconds: the store
// truncates the times it is given to the microsecond. The Input, Metadata
// and Result JSON are kept as bytea, byte for byte, NULL when nil.
package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

// DefaultTable is the table used when Options.Table is empty.
const DefaultTable = "carcosa_uploads"

// versionTable holds the schema version of every Carcosa table in its
// schema, one row per table.
const versionTable = "carcosa_schema_migrations"

// Options configures a Store. The zero value, like a nil *Options, uses the
// table "carcosa_uploads" in the connection's current schema.
type Options struct {
	// Table is the table's name: lowercase letters, digits and
	// underscores, not starting with a digit, at most 63 characters.
	Table string

	// Schema, when not empty, is the schema holding the table; it must
	// exist and follows the same rules as Table. When empty, the names are
	// left unqualified and resolved through the search_path.
	Schema string

	// Timeout bounds each operation (and Open's connection and migration),
	// retries included, on top of the caller's context. Defaults to 10
	// seconds.
	Timeout time.Duration

	// MaxLocks is the most locks (see Lock) held or waited for at once.
	// Each keeps a connection of a pool of its own, made with the same
	// settings as the records' pool, so that locks never take the
	// connections the records need. Defaults to 64.
	MaxLocks int32
}

// DefaultMaxLocks is Options.MaxLocks's default.
const DefaultMaxLocks = 64

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 10 * time.Second

// Transactions that fail with a serialization failure or a deadlock, or
// whose connection broke before anything was sent, are retried up to
// maxAttempts times in all, with a short backoff.
const maxAttempts = 4

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Store is a store.Store backed by a PostgreSQL table.
type Store struct {
	pool   *pgxpool.Pool
	owned  bool   // Close closes pool
	table  string // the quoted, possibly schema-qualified table name
	name   string // the table's bare name, its key in versionTable
	schema string // Options.Schema
	// The tables of the ledger (ledger.go), named after table, quoted
	// and qualified like it.
	quotaUsage, quotaReservations, quotaLimits, keys, audit string
	// The tables of webhooks (webhooks.go), named like the ledger's.
	endpoints, events, deliveries string
	// The change log (changes.go), and whether it is written.
	changes    string
	logChanges atomic.Bool
	// lockKey is the advisory lock taken while migrating this table.
	lockKey int64
	timeout time.Duration

	maxLocks  int32
	locksOnce sync.Once
	locks     *pgxpool.Pool // made at the first Lock
	locksErr  error

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// migrations[i] takes a table from version i to version i+1; %[1]s stands
// for the quoted table name, %[2]s to %[6]s for the tables of the ledger
// that belong to it, %[7]s to %[9]s for those of webhooks and %[10]s for
// the change log (see Store.tables). Released migrations must
// never change; add new ones at the end. Indexes are left for PostgreSQL to name, since index
// names share the schema's namespace and a name derived from a long table
// name would not fit.
var migrations = [][]string{
	{
		`CREATE TABLE %[1]s (
			id            text        COLLATE "C" NOT NULL PRIMARY KEY,
			route         text        NOT NULL,
			owner         text        NOT NULL,
			via           text        NOT NULL,
			name          text        NOT NULL,
			claimed_type  text        NOT NULL,
			type          text        NOT NULL,
			size          bigint      NOT NULL,
			sha256        text        NOT NULL,
			key           text        NOT NULL,
			state         text        NOT NULL CHECK (state IN ('uploading', 'processing', 'ready', 'rejected', 'quarantined', 'failed')),
			error_code    text        NOT NULL,
			error_message text        NOT NULL,
			input         bytea,
			metadata      bytea,
			result        bytea,
			partial       boolean     NOT NULL,
			created_at    timestamptz NOT NULL,
			updated_at    timestamptz NOT NULL
		)`,
		// An empty key means "not stored yet" and may repeat.
		`CREATE UNIQUE INDEX ON %[1]s (key) WHERE key <> ''`,
		// List: records of one state, oldest update first.
		`CREATE INDEX ON %[1]s (state, updated_at, id)`,
	},
	{
		// The bucket holding the record's key; '' is the default bucket,
		// which is where the records written before this column live.
		// A constant default adds the column without rewriting the table.
		`ALTER TABLE %[1]s ADD COLUMN bucket text NOT NULL DEFAULT ''`,
	},
	{
		// The malware scan's outcome and the signature found, if any.
		`ALTER TABLE %[1]s ADD COLUMN scan text NOT NULL DEFAULT ''`,
		`ALTER TABLE %[1]s ADD COLUMN signature text NOT NULL DEFAULT ''`,
	},
	{
		// The file's derivatives, name → key, as a JSON object; '' when none.
		`ALTER TABLE %[1]s ADD COLUMN derivatives text NOT NULL DEFAULT ''`,
	},
	{
		// A video's running time, in milliseconds; 0 when unknown.
		`ALTER TABLE %[1]s ADD COLUMN duration_ms bigint NOT NULL DEFAULT 0`,
	},
	{
		// The tenant the upload was placed in; '' for none.
		`ALTER TABLE %[1]s ADD COLUMN tenant text NOT NULL DEFAULT ''`,
		// List by owner, tenant or route, oldest update first. An owner's
		// records are few enough that a tenant also asked for is checked
		// row by row, so the owner index serves owners with or without
		// their tenant.
		`CREATE INDEX ON %[1]s (owner, updated_at, id)`,
		`CREATE INDEX ON %[1]s (tenant, updated_at, id)`,
		`CREATE INDEX ON %[1]s (route, updated_at, id)`,
	},
	{
		// Quotas. Scopes are keyed by store.QuotaScope.String(), in byte
		// order, the order in which Reserve locks them.
		`CREATE TABLE %[2]s (
			scope text   COLLATE "C" NOT NULL PRIMARY KEY,
			bytes bigint NOT NULL CHECK (bytes >= 0),
			files bigint NOT NULL CHECK (files >= 0)
		)`,
		`CREATE TABLE %[3]s (
			upload_id text   COLLATE "C" NOT NULL,
			scope     text   COLLATE "C" NOT NULL,
			bytes     bigint NOT NULL,
			PRIMARY KEY (upload_id, scope)
		)`,
		`CREATE TABLE %[4]s (
			scope text   COLLATE "C" NOT NULL PRIMARY KEY,
			bytes bigint NOT NULL,
			files bigint NOT NULL
		)`,
	},
	{
		`CREATE TABLE %[5]s (
			id           text        COLLATE "C" NOT NULL PRIMARY KEY,
			hash         bytea       NOT NULL,
			name         text        NOT NULL,
			owner        text        NOT NULL,
			tenant       text        NOT NULL,
			routes       text        NOT NULL, -- a JSON array; '' for every route
			created_at   timestamptz NOT NULL,
			expires_at   timestamptz,          -- NULL for never
			last_used_at timestamptz,          -- NULL until first used
			revoked_at   timestamptz           -- NULL unless revoked
		)`,
		`CREATE INDEX ON %[5]s (tenant, owner, id)`,
	},
	{
		`CREATE TABLE %[6]s (
			id      text        COLLATE "C" NOT NULL PRIMARY KEY,
			time    timestamptz NOT NULL,
			action  text        NOT NULL,
			actor   text        NOT NULL,
			tenant  text        NOT NULL,
			subject text        NOT NULL,
			detail  bytea                  -- NULL when absent, else the JSON bytes as given
		)`,
		// ListAudit, newest first: all events, a tenant's, a subject's.
		`CREATE INDEX ON %[6]s (time, id)`,
		`CREATE INDEX ON %[6]s (tenant, time, id)`,
		`CREATE INDEX ON %[6]s (subject, time, id)`,
	},
	{
		// Webhooks: endpoints, events and the log of delivery attempts.
		`CREATE TABLE %[7]s (
			id          text        COLLATE "C" NOT NULL PRIMARY KEY,
			tenant      text        NOT NULL,
			url         text        NOT NULL,
			secrets     text        NOT NULL, -- a JSON array; '' for none
			rotating    timestamptz,          -- NULL for none
			types       text        NOT NULL, -- a JSON array; '' for every type
			disabled    boolean     NOT NULL,
			description text        NOT NULL,
			created_at  timestamptz NOT NULL,
			updated_at  timestamptz NOT NULL
		)`,
		// ListEndpoints, oldest first: every tenant's, one tenant's.
		`CREATE INDEX ON %[7]s (created_at, id)`,
		`CREATE INDEX ON %[7]s (tenant, created_at, id)`,
		`CREATE TABLE %[8]s (
			id         text        COLLATE "C" NOT NULL PRIMARY KEY,
			type       text        NOT NULL,
			tenant     text        NOT NULL,
			body       bytea,                 -- NULL when absent, else the JSON bytes as given
			created_at timestamptz NOT NULL
		)`,
		// ListDeliveries of a tenant's events.
		`CREATE INDEX ON %[8]s (tenant)`,
		// Deliveries may name events and endpoints that are not stored
		// (an operator's endpoint, "config:<name>"), or no longer are.
		`CREATE TABLE %[9]s (
			id          text        COLLATE "C" NOT NULL PRIMARY KEY,
			event_id    text        COLLATE "C" NOT NULL,
			endpoint_id text        COLLATE "C" NOT NULL,
			attempt     integer     NOT NULL,
			status_code integer     NOT NULL,
			latency_ns  bigint      NOT NULL,
			error       text        NOT NULL,
			dead        boolean     NOT NULL,
			at          timestamptz NOT NULL
		)`,
		// ListDeliveries, newest first: all, an event's, an endpoint's,
		// the dead ones.
		`CREATE INDEX ON %[9]s (at, id)`,
		`CREATE INDEX ON %[9]s (event_id, at, id)`,
		`CREATE INDEX ON %[9]s (endpoint_id, at, id)`,
		`CREATE INDEX ON %[9]s (at, id) WHERE dead`,
	},
	{
		// The change log (store.ChangeLog), written only once LogChanges
		// is called.
		`CREATE TABLE %[10]s (
			seq           bigserial   PRIMARY KEY,
			upload_id     text        COLLATE "C" NOT NULL,
			from_state    text        NOT NULL,
			deleted       boolean     NOT NULL,
			record        jsonb       NOT NULL,
			at            timestamptz NOT NULL,
			claimed_until timestamptz -- NULL: not claimed
		)`,
	},
	{
		// The W3C traceparent of the request that created the upload; ''
		// when it was not traced.
		`ALTER TABLE %[1]s ADD COLUMN trace text NOT NULL DEFAULT ''`,
	},
}

// Open connects to the database dsn names, with a pool of its own, and
// brings the table's schema up to date. It fails if the table's schema is
// newer than this package knows.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	s, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the connection string.
		return nil, errors.New("postgres: open: the connection string is malformed")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, hidePassword(fmt.Errorf("postgres: open: %w", err), cfg.ConnConfig.Password)
	}
	s.pool, s.owned = pool, true
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, hidePassword(err, cfg.ConnConfig.Password)
	}
	return s, nil
}

// passwordSetting matches a password setting of a key=value connection
// string or a URL's query, which a driver error may quote when the string
// was quoted wrongly.
var passwordSetting = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s&]+)`)

// hidePassword returns err's text without the password, in any of its
// forms, as a new error: no chain leads back to the configuration.
func hidePassword(err error, password string) error {
	msg := err.Error()
	if password != "" {
		for _, p := range []string{password, url.PathEscape(password), url.QueryEscape(password)} {
			msg = strings.ReplaceAll(msg, p, "REDACTED")
		}
	}
	msg = passwordSetting.ReplaceAllString(msg, "${1}REDACTED")
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// New uses pool, which stays the caller's: Close leaves it open. It brings
// the table's schema up to date like Open.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: open: nil pool")
	}
	s, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	s.pool = pool
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newStore(opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !identifier.MatchString(o.Table) || o.Table == versionTable {
		return nil, fmt.Errorf("postgres: open: invalid table name %q", o.Table)
	}
	if o.Schema != "" && !identifier.MatchString(o.Schema) {
		return nil, fmt.Errorf("postgres: open: invalid schema name %q", o.Schema)
	}
	if o.Timeout < 0 {
		return nil, errors.New("postgres: open: negative timeout")
	}
	if o.MaxLocks < 0 {
		return nil, errors.New("postgres: open: Options.MaxLocks must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return &Store{
		table:             qualify(o.Schema, o.Table),
		name:              o.Table,
		schema:            o.Schema,
		quotaUsage:        qualify(o.Schema, derived(o.Table, "quota_usage")),
		quotaReservations: qualify(o.Schema, derived(o.Table, "quota_reservations")),
		quotaLimits:       qualify(o.Schema, derived(o.Table, "quota_limits")),
		keys:              qualify(o.Schema, derived(o.Table, "keys")),
		audit:             qualify(o.Schema, derived(o.Table, "audit")),
		endpoints:         qualify(o.Schema, derived(o.Table, "webhook_endpoints")),
		events:            qualify(o.Schema, derived(o.Table, "webhook_events")),
		deliveries:        qualify(o.Schema, derived(o.Table, "webhook_deliveries")),
		changes:           qualify(o.Schema, derived(o.Table, "changes")),
		lockKey:           lockKey("table", o.Schema, o.Table),
		timeout:           o.Timeout,
		maxLocks:          cmp.Or(o.MaxLocks, DefaultMaxLocks),
	}, nil
}

// derived names a table that belongs to table: "<table>_<suffix>". When
// that is longer than PostgreSQL's 63 bytes, which would truncate it and
// could make two tables' names collide, table is shortened and a hash of
// its whole name added.
func derived(table, suffix string) string {
	const maxLen = 63
	if name := table + "_" + suffix; len(name) <= maxLen {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	keep := maxLen - len(suffix) - len("_12345678_")
	return fmt.Sprintf("%s_%08x_%s", table[:keep], h.Sum32(), suffix)
}

// tables are the arguments of the migrations' statements.
func (s *Store) tables() []any {
	return []any{s.table, s.quotaUsage, s.quotaReservations, s.quotaLimits, s.keys, s.audit, s.endpoints, s.events, s.deliveries, s.changes}
}

// qualify quotes name, prefixed by schema when that is not empty.
func qualify(schema, name string) string {
	if schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

// lockKey derives an advisory lock key from names, so that every instance
// computes the same key for the same table.
func lockKey(names ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/carcosa-dev/carcosa/store/postgres"))
	for _, n := range names {
		h.Write([]byte{0})
		h.Write([]byte(n))
	}
	return int64(h.Sum64())
}

// querier is what pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// version reads the table's schema version: 0 when the version table or
// the table's row in it does not exist yet.
func (s *Store) version(ctx context.Context, q querier) (int, error) {
	vt := qualify(s.schema, versionTable)
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, vt).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRow(ctx, `SELECT version FROM `+vt+` WHERE table_name = $1`, s.name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// migrate applies the migrations the table lacks, in one transaction under
// the table's advisory lock, so that concurrent Opens wait for each other
// and a crash leaves no half-migrated schema.
func (s *Store) migrate(ctx context.Context) error {
	want := len(migrations)
	v, err := s.version(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("postgres: open: read schema version: %w", err)
	}
	if v > want {
		return fmt.Errorf("postgres: open: schema version %d is newer than supported version %d", v, want)
	}
	if v == want {
		return nil
	}
	if err := s.createVersionTable(ctx); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: open: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey); err != nil {
		return fmt.Errorf("postgres: open: lock: %w", err)
	}
	// Read again under the lock: another instance may have migrated in the
	// meantime.
	if v, err = s.version(ctx, tx); err != nil {
		return fmt.Errorf("postgres: open: read schema version: %w", err)
	}
	if v > want {
		return fmt.Errorf("postgres: open: schema version %d is newer than supported version %d", v, want)
	}
	if v == want {
		return nil
	}
	for i := v; i < want; i++ {
		for _, stmt := range migrations[i] {
			if _, err := tx.Exec(ctx, fmt.Sprintf(stmt, s.tables()...)); err != nil {
				return fmt.Errorf("postgres: open: migration %d: %w", i+1, err)
			}
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO `+qualify(s.schema, versionTable)+` (table_name, version, migrated_at)
		VALUES ($1, $2, now())
		ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version, migrated_at = EXCLUDED.migrated_at`,
		s.name, want)
	if err != nil {
		return fmt.Errorf("postgres: open: set schema version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: open: commit: %w", err)
	}
	return nil
}

// createVersionTable creates the version table if it is missing. CREATE
// TABLE IF NOT EXISTS is not safe against a concurrent creation of the same
// table, so it runs under an advisory lock of its own, shared by every
// table of the schema.
func (s *Store) createVersionTable(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("versions", s.schema)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+qualify(s.schema, versionTable)+` (
			table_name  text        NOT NULL PRIMARY KEY,
			version     integer     NOT NULL,
			migrated_at timestamptz NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: open: create version table: %w", err)
	}
	return nil
}

const columns = `id, route, owner, tenant, via, name, claimed_type, type, size, sha256, key, bucket, scan, signature, derivatives, duration_ms,
	state, error_code, error_message, input, metadata, result, partial, created_at, updated_at, trace`

func args(u *store.Upload) []any {
	return []any{
		u.ID, u.Route, u.Owner, u.Tenant, u.Via, u.Name, u.ClaimedType, u.Type, u.Size, u.SHA256, u.Key, u.Bucket, string(u.Scan), u.Signature, store.EncodeDerivatives(u.Derivatives), u.Duration.Milliseconds(),
		string(u.State), u.ErrorCode, u.ErrorMessage, raw(u.Input), raw(u.Metadata), raw(u.Result),
		u.Partial, u.CreatedAt, u.UpdatedAt, u.Trace,
	}
}

// raw keeps nil distinct from empty: nil is stored as NULL.
func raw(r json.RawMessage) any {
	if r == nil {
		return nil
	}
	return []byte(r)
}

func scan(row pgx.Row) (*store.Upload, error) {
	var (
		u                         store.Upload
		state, scanResult, derivs string
		durationMS                int64
		input, metadata, result   []byte
	)
	err := row.Scan(&u.ID, &u.Route, &u.Owner, &u.Tenant, &u.Via, &u.Name, &u.ClaimedType, &u.Type, &u.Size, &u.SHA256, &u.Key, &u.Bucket, &scanResult, &u.Signature, &derivs, &durationMS,
		&state, &u.ErrorCode, &u.ErrorMessage, &input, &metadata, &result, &u.Partial, &u.CreatedAt, &u.UpdatedAt, &u.Trace)
	if err != nil {
		return nil, err
	}
	u.State = store.State(state)
	u.Scan = store.ScanResult(scanResult)
	u.Duration = time.Duration(durationMS) * time.Millisecond
	if u.Derivatives, err = store.DecodeDerivatives(derivs); err != nil {
		return nil, err
	}
	// Scan copies bytea into fresh slices and leaves NULL as nil.
	u.Input, u.Metadata, u.Result = input, metadata, result
	u.CreatedAt = u.CreatedAt.UTC()
	u.UpdatedAt = u.UpdatedAt.UTC()
	return &u, nil
}

// op bounds one operation by the store's timeout.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// retryable reports whether a failed transaction may simply be run again.
func retryable(err error) bool {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code == "40001" || e.Code == "40P01" // serialization_failure, deadlock_detected
	}
	return pgconn.SafeToRetry(err)
}

// retry runs f until it succeeds, fails for a reason retrying cannot help,
// has been tried maxAttempts times, or ctx ends.
func retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := range maxAttempts {
		if attempt > 0 {
			wait := time.Duration(rand.Int64N(int64(10*time.Millisecond<<attempt))) + time.Millisecond
			select {
			case <-ctx.Done():
				return err
			case <-time.After(wait):
			}
		}
		if err = f(); err == nil || !retryable(err) {
			return err
		}
	}
	return err
}

// isUnique reports whether err is a PRIMARY KEY or UNIQUE violation.
func isUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// micro truncates t to the microsecond, the precision of timestamptz, so
// that the records the store returns equal what it stored.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// Create implements store.Store. A non-empty Key already held by another
// record is reported as store.ErrExists, like a duplicate ID.
func (s *Store) Create(ctx context.Context, u *store.Upload) error {
	if u.ID == "" {
		return errors.New("postgres: create: empty ID")
	}
	if !u.State.Valid() {
		return errors.New("postgres: create: invalid state")
	}
	c := *u // the times are filled in on a copy; the caller's record is left alone
	now := time.Now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	c.CreatedAt, c.UpdatedAt = micro(c.CreatedAt), micro(c.UpdatedAt)
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		return s.inChangeTx(ctx, func(q querier) error {
			_, err := q.Exec(ctx, `INSERT INTO `+s.table+` (`+columns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`, args(&c)...)
			if err != nil {
				return err
			}
			return s.logChange(ctx, q, "", false, &c)
		})
	})
	if isUnique(err) {
		return fmt.Errorf("postgres: create: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create: %w", err)
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (*store.Upload, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var u *store.Upload
	err := retry(ctx, func() (err error) {
		u, err = scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM `+s.table+` WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get: %w", err)
	}
	return u, nil
}

// GetByKey implements store.Store. The empty key never matches.
func (s *Store) GetByKey(ctx context.Context, key string) (*store.Upload, error) {
	if key == "" {
		return nil, fmt.Errorf("postgres: get by key: %w", store.ErrNotFound)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var u *store.Upload
	err := retry(ctx, func() (err error) {
		// The key <> '' term lets PostgreSQL use the partial unique index.
		u, err = scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM `+s.table+` WHERE key = $1 AND key <> ''`, key))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get by key: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get by key: %w", err)
	}
	return u, nil
}

// Update implements store.Store. The record is read with SELECT … FOR
// UPDATE, so fn runs while the row is locked against Updates and Deletes
// from every instance; it should be quick, and must not write the same
// record through this or another Store, which would wait for the lock fn's
// transaction holds.
//
// A transaction that fails with a serialization failure or a deadlock is run
// again, calling fn again on a fresh copy: fn must change only its argument.
func (s *Store) Update(ctx context.Context, id string, fn func(u *store.Upload) error) (*store.Upload, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out *store.Upload
	err := retry(ctx, func() (err error) {
		out, err = s.update(ctx, id, fn)
		return err
	})
	return out, err
}

func (s *Store) update(ctx context.Context, id string, fn func(u *store.Upload) error) (*store.Upload, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: update: begin: %w", err)
	}
	// Rolling back after a commit does nothing. The rollback runs even when
	// ctx has ended; if it fails, pgx closes the connection, which ends the
	// transaction on the server.
	defer tx.Rollback(context.WithoutCancel(ctx))

	old, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM `+s.table+` WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: update: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update: read: %w", err)
	}
	work := old.Clone()
	if err := fn(work); err != nil {
		return nil, err
	}
	// Copy so that a pointer fn kept cannot change what is returned.
	c := work.Clone()
	c.ID = old.ID
	c.CreatedAt = old.CreatedAt
	if !store.CanTransition(old.State, c.State) {
		return nil, fmt.Errorf("postgres: update: %q to %q: %w", old.State, c.State, store.ErrTransition)
	}
	c.UpdatedAt = micro(time.Now().UTC())
	_, err = tx.Exec(ctx, `UPDATE `+s.table+` SET
		route = $1, owner = $2, via = $3, name = $4, claimed_type = $5, type = $6, size = $7, sha256 = $8, key = $9,
		bucket = $10, state = $11, error_code = $12, error_message = $13, input = $14, metadata = $15, result = $16,
		partial = $17, updated_at = $18, scan = $20, signature = $21, derivatives = $22, duration_ms = $23,
		tenant = $24, trace = $25
		WHERE id = $19`,
		c.Route, c.Owner, c.Via, c.Name, c.ClaimedType, c.Type, c.Size, c.SHA256, c.Key,
		c.Bucket,
		string(c.State), c.ErrorCode, c.ErrorMessage, raw(c.Input), raw(c.Metadata), raw(c.Result),
		c.Partial, c.UpdatedAt,
		c.ID, string(c.Scan), c.Signature, store.EncodeDerivatives(c.Derivatives), c.Duration.Milliseconds(),
		c.Tenant, c.Trace)
	if isUnique(err) {
		return nil, fmt.Errorf("postgres: update: key: %w", store.ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update: write: %w", err)
	}
	if old.State != c.State {
		if err := s.logChange(ctx, tx, old.State, false, c); err != nil {
			return nil, fmt.Errorf("postgres: update: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres: update: commit: %w", err)
	}
	return c, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		return s.inChangeTx(ctx, func(q querier) error {
			last, err := scan(q.QueryRow(ctx, `DELETE FROM `+s.table+` WHERE id = $1 RETURNING `+columns, id))
			if err != nil {
				return err
			}
			return s.logChange(ctx, q, last.State, true, last)
		})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: delete: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: delete: %w", err)
	}
	return nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q store.Query) ([]*store.Upload, error) {
	q, err := q.Check()
	if err != nil {
		return nil, err
	}
	c := ledger.Conds{Numbered: true}
	for _, f := range []struct{ column, value string }{
		{"state", string(q.State)}, {"owner", q.Owner}, {"tenant", q.Tenant}, {"route", q.Route},
	} {
		if f.value != "" {
			c.Add(f.column+" = ?", f.value)
		}
	}
	if !q.UpdatedBefore.IsZero() {
		// Stored times are whole microseconds, so "before t" is "before t
		// rounded up to the microsecond".
		before := micro(q.UpdatedBefore)
		if before.Before(q.UpdatedBefore) {
			before = before.Add(time.Microsecond)
		}
		c.Add("updated_at < ?", before)
	}
	cmp, order := ">", "updated_at, id"
	if q.Newest {
		cmp, order = "<", "updated_at DESC, id DESC"
	}
	if !q.After.IsZero() {
		after := micro(q.After.UpdatedAt)
		switch {
		case after.Equal(q.After.UpdatedAt):
			c.Add("(updated_at, id) "+cmp+" (?, ?)", after, q.After.ID)
		case q.Newest:
			// No stored time equals a cursor time with a fraction of a
			// microsecond: the records before it are those at or before
			// its microsecond.
			c.Add("updated_at <= ?", after)
		default:
			// No stored time equals a cursor time with a fraction of a
			// microsecond, so the ID does not matter.
			c.Add("updated_at > ?", after)
		}
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	sql := `SELECT ` + columns + ` FROM ` + s.table + c.Where() + ` ORDER BY ` + order + ` LIMIT ` + c.Arg(q.Limit)
	rows, err := s.pool.Query(ctx, sql, c.Args()...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	defer rows.Close()
	var out []*store.Upload
	for rows.Next() {
		u, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	return out, nil
}

// Stats implements store.Store. Buckets and routes are ordered by their
// bytes, as Go compares strings, whatever the columns' collation.
func (s *Store) Stats(ctx context.Context) ([]store.Stat, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out []store.Stat
	err := retry(ctx, func() error {
		// sum of bigint is numeric; a total beyond bigint fails the cast
		// instead of losing precision.
		rows, err := s.pool.Query(ctx, `SELECT bucket, route, count(*), coalesce(sum(size), 0)::bigint
			FROM `+s.table+` WHERE state = 'ready'
			GROUP BY bucket, route ORDER BY bucket COLLATE "C", route COLLATE "C"`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (st store.Stat, err error) {
			err = row.Scan(&st.Bucket, &st.Route, &st.Files, &st.Bytes)
			return st, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: stats: %w", err)
	}
	return out, nil
}

// Close closes the pool Open made, waiting for connections in use to be
// returned; a pool given to New is left open. It may be called more than
// once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.locksOnce.Do(func() {}) // no lock pool after Close
		if s.locks != nil {
			s.locks.Close()
		}
		if s.owned {
			s.pool.Close()
		}
	})
	return nil
}
