package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/storetest"
)

var ctx = context.Background()

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "carcosa.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestPragmasAndSchema(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "carcosa.db"))
	// Pin several connections at once so the check covers more than one.
	for i := range 3 {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"busy_timeout": "5000",
			"foreign_keys": "1",
			"synchronous":  "1", // NORMAL
			"user_version": strconv.Itoa(len(migrations)),
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != want {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, pragma, got, want)
			}
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name IN ('uploads', 'uploads_key')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("schema objects: %d, %v; want 2", n, err)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "carcosa.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := storetest.Sample("u1")
	want.Size = -1
	if err := s.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	gone := storetest.Sample("u2")
	if err := s.Create(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Reopening must not run migration 1 again, and must keep the data.
	s = open(t, path)
	got, err := s.Get(ctx, "u1")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	storetest.RequireEqual(t, "after reopen", want, got)
	if got, err := s.GetByKey(ctx, want.Key); err != nil || got.ID != "u1" {
		t.Fatalf("GetByKey after reopen: %v, %v", got, err)
	}
	if _, err := s.Get(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted record after reopen: error = %v, want ErrNotFound", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "carcosa.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer version")
	}
}

func TestOpenPathWithURISyntax(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%20e")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.db")
	s := open(t, path)
	if err := s.Create(ctx, storetest.Sample("u1")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	for _, bad := range []string{"", ":memory:", "file:x.db"} {
		if s, err := Open(bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func TestErrorsCarryNoUserData(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "carcosa.db"))
	u := storetest.Sample("secret-id-1234")
	u.Key = "secret-key-5678"
	if err := s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	v := storetest.Sample("other")
	v.Key = u.Key
	errs := []error{s.Create(ctx, u), s.Create(ctx, v)}
	_, err := s.Update(ctx, "other-missing", func(*store.Upload) error { return nil })
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
// because its context ended does not leave a connection holding the write
// lock.
func TestUpdateCanceledMidTransaction(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "carcosa.db"))
	if err := s.Create(ctx, storetest.Sample("u1")); err != nil {
		t.Fatal(err)
	}
	for range 10 {
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

	// A writer waiting for the slot gives up with its context.
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Update(cctx, "u1", func(*store.Upload) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Update waiting for the writer slot: error = %v, want context.Canceled", err)
	}
	unlock()
}

// TestTwoStoresOneFile stands in for two processes sharing a database: each
// Store has its own pool and writer queue, so their writes meet only in
// SQLite's locking.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "carcosa.db")
	a, b := open(t, path), open(t, path)

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
	if _, err := b.Update(ctx, "u1", func(u *store.Upload) error { u.State = store.Processing; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, "u1"); err != nil || got.State != store.Processing {
		t.Fatalf("a's view after b's update: %v, %v", got, err)
	}

	const perStore = 30
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		for range perStore {
			wg.Go(func() {
				if _, err := s.Update(ctx, "u1", func(u *store.Upload) error { u.Size++; return nil }); err != nil {
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

// TestUpgradeAddsBucket opens a database left at schema version 2, the last
// one without buckets, holding records: the upgrade keeps them, puts them
// in the default bucket "", and the new column then works like the others.
func TestUpgradeAddsBucket(t *testing.T) {
	const before = 2
	path := filepath.Join(t.TempDir(), "carcosa.db")
	dsn, err := dataSourceName(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:before] {
		for _, stmt := range m {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(before)); err != nil {
		t.Fatal(err)
	}
	// Rows as version 2 wrote them, with its column list.
	old := []*store.Upload{storetest.Sample("ready1"), storetest.Sample("ready2"), storetest.Sample("up")}
	old[0].State, old[1].State = store.Ready, store.Ready
	old[1].Size = 1000
	for _, u := range old {
		u.Bucket, u.Scan, u.Signature, u.Derivatives, u.Duration, u.Tenant, u.Trace = "", store.ScanNone, "", nil, 0, "", "" // columns the old schema lacks
		_, err := db.ExecContext(ctx, `INSERT INTO uploads (id, route, owner, via, name, claimed_type, type,
			size, sha256, key, state, error_code, error_message, input, metadata, result, partial,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Route, u.Owner, u.Via, u.Name, u.ClaimedType, u.Type,
			u.Size, u.SHA256, u.Key, string(u.State), u.ErrorCode, u.ErrorMessage, raw(u.Input), raw(u.Metadata), raw(u.Result), u.Partial,
			u.CreatedAt.UnixNano(), u.UpdatedAt.UnixNano())
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, path)
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("schema version after upgrade: %d, %v; want %d", v, err, len(migrations))
	}
	for _, want := range old {
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
	if want := []store.Stat{{Bucket: "", Route: r, Files: 2, Bytes: old[0].Size + 1000}}; !slices.Equal(st, want) {
		t.Fatalf("Stats after upgrade = %+v, want %+v", st, want)
	}
	if _, err := s.Update(ctx, "ready1", func(u *store.Upload) error { u.Bucket = "cold"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetByKey(ctx, old[0].Key); err != nil || got.Bucket != "cold" {
		t.Fatalf("GetByKey after moving an old record: %v, %v", got, err)
	}
	u := storetest.Sample("new")
	if err := s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "new"); err != nil || got.Bucket != u.Bucket {
		t.Fatalf("record created after the upgrade: %v, %v", got, err)
	}

	// Opening again finds the schema current and changes nothing.
	s.Close()
	s = open(t, path)
	if got, err := s.Get(ctx, "ready1"); err != nil || got.Bucket != "cold" {
		t.Fatalf("after reopening: %v, %v", got, err)
	}
}
