package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/store"
)

// lockHolders returns the server process IDs of the sessions holding s's
// lock named key.
func lockHolders(t *testing.T, admin *pgxpool.Pool, s *Store, key string) []uint32 {
	t.Helper()
	id, _ := s.lockName(key)
	// A bigint advisory lock shows its high half as classid, its low half
	// as objid, and 1 as objsubid.
	rows, err := admin.Query(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1 AND objid = $2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		uint32(uint64(id)>>32), uint32(id))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []uint32
	for rows.Next() {
		var pid uint32
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pids
}

// mustLock takes s's lock named key, waiting at most 10 seconds.
func mustLock(t *testing.T, s *Store, key string, release func()) func() error {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	unlock, err := s.Lock(c, key, release)
	if err != nil {
		t.Fatalf("Lock(%q): %v", key, err)
	}
	return unlock
}

// newStoreOn returns a Store on table using pool.
func newStoreOn(t *testing.T, pool *pgxpool.Pool, table string) *Store {
	t.Helper()
	s, err := New(ctx, pool, &Options{Table: table})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLockName(t *testing.T) {
	a, err := newStore(&Options{Table: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newStore(&Options{Table: "t2"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := newStore(&Options{Schema: "s", Table: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	channels := map[string]bool{}
	for _, s := range []*Store{a, b, c} {
		for _, key := range []string{"", "k", "tus/abc", "k\x00"} {
			id, ch := s.lockName(key)
			if !identifier.MatchString(ch) {
				t.Errorf("channel %q is not a valid identifier", ch)
			}
			ids[id], channels[ch] = true, true
		}
	}
	if len(ids) != 12 || len(channels) != 12 {
		t.Errorf("%d lock keys and %d channels for 12 locks", len(ids), len(channels))
	}
	id1, ch1 := a.lockName("k")
	if id2, ch2 := a.lockName("k"); id1 != id2 || ch1 != ch2 {
		t.Error("lockName is not deterministic")
	}
}

// TestLockExclusive stands in for two processes: each Store has its own
// pool, so they meet only in PostgreSQL.
func TestLockExclusive(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	a, b := open(t, &Options{Table: table}), open(t, &Options{Table: table})

	unlockA := mustLock(t, a, "k", nil)
	if got := lockHolders(t, admin, a, "k"); len(got) != 1 {
		t.Fatalf("%d sessions hold the lock, want 1", len(got))
	}
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	unlockB, err := b.Lock(c, "k", nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		if unlockB != nil {
			unlockB()
		}
		t.Fatalf("b's Lock while a holds: error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("b gave up after %v, before its deadline", d)
	}
	if err := unlockA(); err != nil {
		t.Fatalf("a's unlock: %v", err)
	}
	if err := unlockA(); err != nil {
		t.Errorf("a's second unlock: %v", err)
	}
	unlockB = mustLock(t, b, "k", nil)
	if err := unlockB(); err != nil {
		t.Fatalf("b's unlock: %v", err)
	}
	if got := lockHolders(t, admin, a, "k"); len(got) != 0 {
		t.Errorf("%d sessions hold the lock after unlock, want 0", len(got))
	}
	for name, s := range map[string]*Store{"a": a, "b": b} {
		if n := s.locks.Stat().AcquiredConns(); n != 0 {
			t.Errorf("%s: %d connections still acquired", name, n)
		}
	}
}

func TestLockReleaseRequest(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	a, b := open(t, &Options{Table: table}), open(t, &Options{Table: table})

	var calls atomic.Int32
	unlockCh := make(chan func() error, 1)
	unlocked := make(chan error, 1)
	unlockA := mustLock(t, a, "k", func() {
		calls.Add(1)
		// release may call unlock.
		unlocked <- (<-unlockCh)()
	})
	unlockCh <- unlockA

	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	unlockB, err := b.Lock(c, "k", nil)
	if err != nil {
		t.Fatalf("b's Lock: %v", err)
	}
	defer unlockB()
	select {
	case err := <-unlocked:
		if err != nil {
			t.Errorf("a's unlock from release: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a's release did not unlock")
	}
	// Give a repeated request the time to arrive.
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Errorf("release called %d times, want 1", n)
	}
	if err := unlockA(); err != nil {
		t.Errorf("a's second unlock: %v", err)
	}
	if n := a.locks.Stat().AcquiredConns(); n != 0 {
		t.Errorf("a: %d connections still acquired", n)
	}
}

// TestLockDeadHolder ends the holder's server session, as PostgreSQL does
// when the holder's process dies.
func TestLockDeadHolder(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	a, b := open(t, &Options{Table: table}), open(t, &Options{Table: table})

	lost := make(chan struct{}, 2)
	unlockA := mustLock(t, a, "k", func() { lost <- struct{}{} })
	pids := lockHolders(t, admin, a, "k")
	if len(pids) != 1 {
		t.Fatalf("%d sessions hold the lock, want 1", len(pids))
	}
	var ok bool
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend: %v, %v", ok, err)
	}
	unlockB := mustLock(t, b, "k", nil)
	defer unlockB()
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Error("release was not called when a's connection broke")
	}
	if err := unlockA(); err == nil {
		t.Error("a's unlock after its session ended succeeded")
	}
	if n := a.locks.Stat().AcquiredConns(); n != 0 {
		t.Errorf("a: %d connections still acquired", n)
	}
	// a's pool still works.
	unlockB()
	if err := mustLock(t, a, "k", nil)(); err != nil {
		t.Fatal(err)
	}
}

func TestLockKeysApart(t *testing.T) {
	admin := newPool(t, 2)
	t1, t2 := tempTable(t, admin), tempTable(t, admin)
	a, b := open(t, &Options{Table: t1}), open(t, &Options{Table: t1})
	other := open(t, &Options{Table: t2})

	unlock := mustLock(t, a, "k1", nil)
	defer unlock()
	for name, l := range map[string]struct {
		s   *Store
		key string
	}{
		"another key":                   {b, "k2"},
		"the same key in another table": {other, "k1"},
	} {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		u, err := l.s.Lock(c, l.key, func() { t.Errorf("%s: release called", name) })
		cancel()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := u(); err != nil {
			t.Errorf("%s: unlock: %v", name, err)
		}
	}
}

// TestLockNoLeak checks that neither held nor abandoned locks leave a
// connection acquired, or holding a lock, or listening.
func TestLockNoLeak(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	const maxConns = 4
	pool := newPool(t, maxConns)
	s := newStoreOn(t, pool, table)
	s.maxLocks = maxConns
	holder := open(t, &Options{Table: table})

	keys := []string{"a", "b", "c", "busy"}
	for i := range 20 {
		key := keys[i%3]
		if err := mustLock(t, s, key, nil)(); err != nil {
			t.Fatal(err)
		}

		unlockHolder := mustLock(t, holder, "busy", nil)
		// A wait that times out.
		c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if _, err := s.Lock(c, "busy", nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock of a held lock: error = %v, want DeadlineExceeded", err)
		}
		cancel()
		// A wait that is cancelled.
		c, cancel = context.WithCancel(ctx)
		time.AfterFunc(time.Duration(i%5)*time.Millisecond, cancel)
		if _, err := s.Lock(c, "busy", nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Lock of a held lock: error = %v, want Canceled", err)
		}
		cancel()
		// A wait that ends before it starts.
		if _, err := s.Lock(c, "busy", nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Lock with a cancelled context: error = %v, want Canceled", err)
		}
		if err := unlockHolder(); err != nil {
			t.Fatal(err)
		}

		// A holder asked to release by a waiter of the same pool.
		released := make(chan struct{})
		var once sync.Once
		unlock := mustLock(t, s, key, func() { once.Do(func() { close(released) }) })
		done := make(chan error, 1)
		go func() {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			u, err := s.Lock(c, key, nil)
			if err == nil {
				err = u()
			}
			done <- err
		}()
		select {
		case <-released:
		case <-time.After(5 * time.Second):
			t.Fatal("release not called")
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("waiter: %v", err)
		}
	}

	stat := s.locks.Stat()
	if n := stat.AcquiredConns(); n != 0 {
		t.Errorf("%d connections still acquired", n)
	}
	if n := stat.TotalConns(); n > maxConns {
		t.Errorf("%d connections, more than the pool's %d", n, maxConns)
	}
	t.Logf("connections: %d open, %d made", stat.TotalConns(), stat.NewConnsCount())
	for _, key := range keys {
		if got := lockHolders(t, admin, s, key); len(got) != 0 {
			t.Errorf("lock %q still held by %v", key, got)
		}
	}
	conns := s.locks.AcquireAllIdle(ctx)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	if len(conns) == 0 {
		t.Fatal("no idle connections to check")
	}
	for _, c := range conns {
		var locks, channels int
		if err := c.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
			(SELECT count(*) FROM pg_listening_channels())`).Scan(&locks, &channels); err != nil {
			t.Fatal(err)
		}
		if locks != 0 || channels != 0 {
			t.Errorf("pooled connection holds %d advisory locks and listens on %d channels", locks, channels)
		}
	}
}

func TestLockConcurrent(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	stores := []*Store{newStoreOn(t, newPool(t, 8), table), newStoreOn(t, newPool(t, 8), table)}

	const goroutines, rounds = 8, 20
	var (
		counter int // guarded by the lock alone
		inside  atomic.Bool
		wg      sync.WaitGroup
	)
	for g := range goroutines {
		s := stores[g%len(stores)]
		wg.Go(func() {
			for range rounds {
				c, cancel := context.WithTimeout(ctx, 30*time.Second)
				unlock, err := s.Lock(c, "counter", func() {})
				cancel()
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				if !inside.CompareAndSwap(false, true) {
					t.Error("two holders at once")
				}
				counter++
				inside.Store(false)
				if err := unlock(); err != nil {
					t.Errorf("unlock: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if counter != goroutines*rounds {
		t.Errorf("counter = %d, want %d", counter, goroutines*rounds)
	}
	for i, s := range stores {
		if n := s.locks.Stat().AcquiredConns(); n != 0 {
			t.Errorf("store %d: %d connections still acquired", i, n)
		}
	}
}

// TestLocksKeepRecordsFree checks that locks held in numbers beyond the
// records' pool leave the records' operations their connections.
func TestLocksKeepRecordsFree(t *testing.T) {
	admin := newPool(t, 2)
	table := tempTable(t, admin)
	s := newStoreOn(t, newPool(t, 2), table)
	var unlocks []func() error
	for i := range 6 {
		unlocks = append(unlocks, mustLock(t, s, fmt.Sprint("k", i), nil))
	}
	u := &store.Upload{ID: "rec-free", Route: "r", Via: "tus", State: store.Uploading, Size: 1}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Create(c, u); err != nil {
		t.Fatalf("Create while 6 locks are held on a pool of 2: %v", err)
	}
	if _, err := s.Get(c, u.ID); err != nil {
		t.Fatalf("Get while 6 locks are held on a pool of 2: %v", err)
	}
	for _, unlock := range unlocks {
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
	}
}
