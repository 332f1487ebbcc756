package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/storetest"
)

var ctx = context.Background()

// dsn returns the test database's connection string (testenv.Postgres).
// Every test uses tables of its own, with random names, and drops them when
// it ends.
func dsn(t testing.TB) string {
	t.Helper()
	return testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

// newPool returns a pool on the test database, closed when the test ends.
func newPool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func randomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// tempTable returns a new table name and drops the table, and its version
// row, when the test ends.
func tempTable(t testing.TB, admin *pgxpool.Pool) string {
	t.Helper()
	name := randomName("carcosa_test_")
	t.Cleanup(func() { dropTable(t, admin, "", name) })
	return name
}

func dropTable(t testing.TB, admin *pgxpool.Pool, schema, name string) {
	t.Helper()
	for _, table := range append([]string{name}, ledgerTables(name)...) {
		if _, err := admin.Exec(ctx, `DROP TABLE IF EXISTS `+qualify(schema, table)); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	}
	if _, err := admin.Exec(ctx, `DELETE FROM `+qualify(schema, versionTable)+` WHERE table_name = $1`, name); err != nil {
		t.Errorf("forget %s: %v", name, err)
	}
}

// ledgerTables names the tables of the ledger, of webhooks and of the
// change log that belong to table.
func ledgerTables(table string) []string {
	var out []string
	for _, suffix := range []string{"quota_usage", "quota_reservations", "quota_limits", "keys", "audit",
		"webhook_endpoints", "webhook_events", "webhook_deliveries", "changes"} {
		out = append(out, derived(table, suffix))
	}
	return out
}

func open(t *testing.T, opts *Options) *Store {
	t.Helper()
	s, err := Open(ctx, dsn(t), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	// One pool for all the parallel subtests keeps the number of
	// connections bounded however many CPUs run them.
	pool := newPool(t, 8)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := New(ctx, pool, &Options{Table: tempTable(t, pool)})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}

func TestSchema(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	s := open(t, &Options{Table: table})
	var v int
	if err := admin.QueryRow(ctx, `SELECT version FROM `+versionTable+` WHERE table_name = $1`, table).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != len(migrations) {
		t.Errorf("schema version %d, want %d", v, len(migrations))
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = $1`, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("%d indexes, want 6", n)
	}
	// The ledger's tables are there, beside the table, named after it.
	for _, lt := range ledgerTables(table) {
		var exists bool
		if err := admin.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, lt).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s: exists %t, %v", lt, exists, err)
		}
	}
	// The state check is the database's too, not only the store's.
	if err := s.Create(ctx, storetest.Sample("u1")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `UPDATE `+table+` SET state = 'bogus'`); err == nil {
		t.Error("the table accepted an invalid state")
	}
	// List pages in byte order of IDs, like store.Cursor.Less, whatever the
	// database's collation.
	for _, id := range []string{"a-2", "A1", "a1", "_z", "b"} {
		u := storetest.Sample(id)
		u.Key = ""
		u.State = store.Processing
		u.UpdatedAt = storetest.Sample("x").UpdatedAt
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	us, err := s.List(ctx, store.Query{State: store.Processing})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(us); i++ {
		if !us[i-1].Cursor().Less(us[i].Cursor()) {
			t.Errorf("List order: %s before %s", us[i-1].ID, us[i].ID)
		}
	}
}

// TestReopen checks that migrating is idempotent and keeps the data.
func TestReopen(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	s, err := Open(ctx, dsn(t), &Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	want := storetest.Sample("u1")
	want.Size = -1
	if err := s.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get(ctx, "u1"); err == nil {
		t.Error("Get on a closed Store succeeded")
	}
	for range 2 {
		s = open(t, &Options{Table: table})
		got, err := s.Get(ctx, "u1")
		if err != nil {
			t.Fatalf("Get after reopen: %v", err)
		}
		storetest.RequireEqual(t, "after reopen", want, got)
	}
}

// TestConcurrentOpen starts several instances at once on fresh tables of a
// fresh schema, so that they race to create the version table as well as
// the tables: all must succeed and each migration must run once.
func TestConcurrentOpen(t *testing.T) {
	admin := newPool(t, 2)
	schema := randomName("carcosa_test_schema_")
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	tables := []string{"uploads_a", "uploads_b"}
	const perTable = 4
	stores := make([]*Store, len(tables)*perTable)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = Open(ctx, dsn(t), &Options{Schema: schema, Table: tables[i%len(tables)]})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	rows, err := admin.Query(ctx, `SELECT table_name, version FROM `+qualify(schema, versionTable)+` ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name string
		var v int
		if err := rows.Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		if v != len(migrations) {
			t.Errorf("%s: version %d, want %d", name, v, len(migrations))
		}
		got = append(got, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(tables, ",") {
		t.Errorf("version rows for %v, want %v", got, tables)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// The version table's key, and each table's: six on the uploads, then
	// the ledger's keys (three quota tables, keys, audit) and three more on
	// the audit log and one on the keys, then webhooks' keys (endpoints,
	// events, deliveries) and two more on the endpoints, one on the events
	// and four on the deliveries, then the change log's key.
	if want := 1 + (6+5+3+1+3+2+1+4+1)*len(tables); n != want {
		t.Errorf("%d indexes in the schema, want %d", n, want)
	}
	// The tables are apart: a record in one is not in the other.
	if err := stores[0].Create(ctx, storetest.Sample("u1")); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[1].Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other table: error = %v, want ErrNotFound", err)
	}
	if _, err := stores[2].Get(ctx, "u1"); err != nil {
		t.Errorf("same table through another instance: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	open(t, &Options{Table: table})
	if _, err := admin.Exec(ctx, `UPDATE `+versionTable+` SET version = 99 WHERE table_name = $1`, table); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn(t), &Options{Table: table})
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a table from a newer version")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error = %v, want one about a newer schema", err)
	}
}

func TestCallerOwnedPool(t *testing.T) {
	pool := newPool(t, 2)
	table := tempTable(t, pool)
	s, err := New(ctx, pool, &Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, storetest.Sample("u1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("pool closed by Store.Close: %v", err)
	}
	// A second Store on the same pool and table finds the record.
	s2, err := New(ctx, pool, &Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Get(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
}

// TestInvalidOptions needs no database: names are checked before
// connecting.
func TestInvalidOptions(t *testing.T) {
	const unreachable = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	for _, o := range []Options{
		{Table: "Uploads"},
		{Table: "1uploads"},
		{Table: "up-loads"},
		{Table: "uploads; DROP TABLE x"},
		{Table: `up"loads`},
		{Table: "ü"},
		{Table: strings.Repeat("a", 64)},
		{Table: versionTable},
		{Schema: "Public"},
		{Schema: "a.b"},
		{Schema: strings.Repeat("s", 64)},
	} {
		if s, err := Open(ctx, unreachable, &o); err == nil {
			s.Close()
			t.Errorf("Open with %+v succeeded", o)
		} else if !strings.Contains(err.Error(), "invalid") {
			t.Errorf("Open with %+v: error = %v, want a refused name", o, err)
		}
	}
	if _, err := New(ctx, nil, nil); err == nil {
		t.Error("New with a nil pool succeeded")
	}
	// The longest valid names are accepted by the check.
	for _, o := range []*Options{nil, {Table: "_" + strings.Repeat("a", 62)}, {Schema: "s_1", Table: "t9"}} {
		if _, err := newStore(o); err != nil {
			t.Errorf("newStore(%+v): %v", o, err)
		}
	}
}

// TestTwoInstances stands in for two processes sharing a table: each Store
// has its own pool, so their Updates meet only in PostgreSQL's row lock.
func TestTwoInstances(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	a, b := open(t, &Options{Table: table}), open(t, &Options{Table: table})

	u := storetest.Sample("u1")
	u.Size = 0
	if err := a.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "u1"); err != nil {
		t.Fatalf("b cannot see a's record: %v", err)
	} else {
		storetest.RequireEqual(t, "b's view", u, got)
	}
	if err := b.Create(ctx, storetest.Sample("u1")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("b duplicating a's record: error = %v, want ErrExists", err)
	}

	const perStore = 50
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		for range perStore {
			wg.Go(func() {
				if _, err := s.Update(ctx, "u1", func(u *store.Upload) error {
					// Widen the window between read and write, so that
					// Updates that do not lock the row lose increments.
					time.Sleep(100 * time.Microsecond)
					u.Size++
					return nil
				}); err != nil {
					t.Errorf("Update: %v", err)
				}
			})
		}
	}
	wg.Wait()
	for name, s := range map[string]*Store{"a": a, "b": b} {
		got, err := s.Get(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Size != 2*perStore {
			t.Errorf("%s sees Size %d, want %d", name, got.Size, 2*perStore)
		}
	}
	if err := a.Delete(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b after a's delete: error = %v, want ErrNotFound", err)
	}
}

func TestErrorsCarryNoUserData(t *testing.T) {
	admin := newPool(t, 2)
	s := open(t, &Options{Table: tempTable(t, admin)})
	u := storetest.Sample("secret-id-1234")
	u.Key = "secret-key-5678"
	if err := s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	v := storetest.Sample("other")
	v.Key = u.Key
	w := storetest.Sample("other2")
	if err := s.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	errs := []error{s.Create(ctx, u), s.Create(ctx, v)}
	_, err := s.Update(ctx, "other-missing", func(*store.Upload) error { return nil })
	errs = append(errs, err)
	_, err = s.Update(ctx, "other2", func(x *store.Upload) error { x.Key = u.Key; return nil })
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		if msg := err.Error(); strings.Contains(msg, "secret") {
			t.Errorf("error exposes user data: %q", msg)
		}
	}
}

// TestUpdateCanceledMidTransaction checks that a transaction abandoned
// because its context ended releases the row lock.
func TestUpdateCanceledMidTransaction(t *testing.T) {
	pool := newPool(t, 2)
	s, err := New(ctx, pool, &Options{Table: tempTable(t, pool)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Create(ctx, storetest.Sample("u1")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		cctx, cancel := context.WithCancel(ctx)
		_, err := s.Update(cctx, "u1", func(u *store.Upload) error {
			cancel()
			u.Name = "never"
			return nil
		})
		if err == nil {
			t.Fatal("Update with a context canceled inside fn succeeded")
		}
	}
	got, err := s.Update(ctx, "u1", func(u *store.Upload) error { u.Size = 7; return nil })
	if err != nil {
		t.Fatalf("Update after canceled ones: %v", err)
	}
	if got.Name == "never" || got.Size != 7 {
		t.Fatalf("got name %q size %d", got.Name, got.Size)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for name, err := range map[string]error{
		"Get":    func() error { _, err := s.Get(cctx, "u1"); return err }(),
		"Update": func() error { _, err := s.Update(cctx, "u1", func(*store.Upload) error { return nil }); return err }(),
		"List":   func() error { _, err := s.List(cctx, store.Query{State: store.Uploading}); return err }(),
		"Delete": s.Delete(cctx, "u1"),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error = %v, want context.Canceled", name, err)
		}
	}
	if _, err := s.Get(ctx, "u1"); err != nil {
		t.Fatalf("record gone after a canceled Delete: %v", err)
	}
}

// An Update that waits for a row another transaction holds gives up after
// Options.Timeout, and succeeds once the row is free.
func TestTimeout(t *testing.T) {
	pool := newPool(t, 4)
	// Migrate with the default timeout first: creating every table on a
	// slow disk can take longer than the short timeout under test.
	table := tempTable(t, pool)
	if _, err := New(ctx, pool, &Options{Table: table}); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, pool, &Options{Table: table, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Create(ctx, storetest.Sample("u1")); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT id FROM `+s.table+` WHERE id = 'u1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Update(ctx, "u1", func(u *store.Upload) error { u.Size = 1; return nil })
	if err == nil {
		t.Fatal("Update of a locked row succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Update gave up after %v, want about 300ms", d)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Update(ctx, "u1", func(u *store.Upload) error { u.Size = 2; return nil })
	if err != nil || got.Size != 2 {
		t.Fatalf("Update after the lock is released: %v, size %d", err, got.Size)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40001"}), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{pgx.ErrNoRows, false},
		{context.DeadlineExceeded, false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	// retry stops at the first error it should not retry, and after
	// maxAttempts of those it should.
	calls := 0
	err := retry(ctx, func() error { calls++; return &pgconn.PgError{Code: "40P01"} })
	if err == nil || calls != maxAttempts {
		t.Errorf("deadlocks: %d calls, error %v; want %d calls and the error", calls, err, maxAttempts)
	}
	calls = 0
	retry(ctx, func() error { calls++; return pgx.ErrNoRows })
	if calls != 1 {
		t.Errorf("not found: %d calls, want 1", calls)
	}
}

func TestMalformedDSNIsNotEchoed(t *testing.T) {
	_, err := Open(ctx, "postgres://user:s3cret@host:notaport/db", nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open with a malformed DSN: %v", err)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=2",
		"host=127.0.0.1 port=1 user=u password=s3cret dbname=x connect_timeout=2",
		"host='127.0.0.1 password=s3cret' port=1 user=u dbname=x connect_timeout=2",
	} {
		_, err := Open(ctx, dsn, &Options{Timeout: 5 * time.Second})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

// TestUpgradeAddsBucket opens a table left at schema version 1, the last
// one without buckets, holding records: the upgrade keeps them, puts them
// in the default bucket "", and the new column then works like the others.
func TestUpgradeAddsBucket(t *testing.T) {
	const before = 1
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	old, err := newStore(&Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	old.pool = admin
	if err := old.createVersionTable(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:before] {
		for _, stmt := range m {
			if _, err := admin.Exec(ctx, fmt.Sprintf(stmt, old.table)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := admin.Exec(ctx, `INSERT INTO `+versionTable+` (table_name, version, migrated_at) VALUES ($1, $2, now())`, table, before); err != nil {
		t.Fatal(err)
	}
	// Rows as version 1 wrote them, with its column list.
	recs := []*store.Upload{storetest.Sample("ready1"), storetest.Sample("ready2"), storetest.Sample("up")}
	recs[0].State, recs[1].State = store.Ready, store.Ready
	recs[1].Size = 1000
	for _, u := range recs {
		u.Bucket, u.Scan, u.Signature, u.Derivatives, u.Duration, u.Tenant, u.Trace = "", store.ScanNone, "", nil, 0, "", "" // columns the old schema lacks
		_, err := admin.Exec(ctx, `INSERT INTO `+old.table+` (id, route, owner, via, name, claimed_type, type,
			size, sha256, key, state, error_code, error_message, input, metadata, result, partial,
			created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			u.ID, u.Route, u.Owner, u.Via, u.Name, u.ClaimedType, u.Type,
			u.Size, u.SHA256, u.Key, string(u.State), u.ErrorCode, u.ErrorMessage, raw(u.Input), raw(u.Metadata), raw(u.Result), u.Partial,
			u.CreatedAt, u.UpdatedAt)
		if err != nil {
			t.Fatal(err)
		}
	}

	s := open(t, &Options{Table: table})
	if v, err := s.version(ctx, admin); err != nil || v != len(migrations) {
		t.Fatalf("schema version after upgrade: %d, %v; want %d", v, err, len(migrations))
	}
	for _, want := range recs {
		got, err := s.Get(ctx, want.ID)
		if err != nil {
			t.Fatalf("Get(%s) after upgrade: %v", want.ID, err)
		}
		storetest.RequireEqual(t, "record written before the upgrade", want, got)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := storetest.Sample("x").Route
	if want := []store.Stat{{Bucket: "", Route: r, Files: 2, Bytes: recs[0].Size + 1000}}; !slices.Equal(st, want) {
		t.Fatalf("Stats after upgrade = %+v, want %+v", st, want)
	}
	if _, err := s.Update(ctx, "ready1", func(u *store.Upload) error { u.Bucket = "cold"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetByKey(ctx, recs[0].Key); err != nil || got.Bucket != "cold" {
		t.Fatalf("GetByKey after moving an old record: %v, %v", got, err)
	}
	u := storetest.Sample("new")
	if err := s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "new"); err != nil || got.Bucket != u.Bucket {
		t.Fatalf("record created after the upgrade: %v, %v", got, err)
	}
}

// TestStatsByteOrder gives the route and bucket columns a linguistic
// collation, as a database's default collation may be: Stats still orders
// them by bytes.
func TestStatsByteOrder(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	s := open(t, &Options{Table: table})
	var icu string
	err := admin.QueryRow(ctx, `SELECT collname FROM pg_collation WHERE collname IN ('en-US-x-icu', 'en_US.utf8', 'en_US.UTF-8') ORDER BY collname LIMIT 1`).Scan(&icu)
	if errors.Is(err, pgx.ErrNoRows) {
		t.Skip("no English collation in this server")
	}
	if err != nil {
		t.Fatal(err)
	}
	coll := pgx.Identifier{icu}.Sanitize()
	for _, col := range []string{"route", "bucket"} {
		if _, err := admin.Exec(ctx, `ALTER TABLE `+s.table+` ALTER COLUMN `+col+` TYPE text COLLATE `+coll); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"b", "_x", "B", "a", "Z"}
	for i, b := range names {
		for j, r := range names {
			u := storetest.Sample(fmt.Sprintf("u%d-%d", i, j))
			u.Bucket, u.Route, u.State = b, r, store.Ready
			if err := s.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(names)*len(names) {
		t.Fatalf("%d Stats, want %d", len(st), len(names)*len(names))
	}
	less := func(a, b store.Stat) bool { return a.Bucket < b.Bucket || a.Bucket == b.Bucket && a.Route < b.Route }
	for i := 1; i < len(st); i++ {
		if !less(st[i-1], st[i]) {
			t.Errorf("Stats order: %q/%q before %q/%q", st[i-1].Bucket, st[i-1].Route, st[i].Bucket, st[i].Route)
		}
	}
}
