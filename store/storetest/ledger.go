package storetest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// The conformance tests of store.Quotas, store.Keys and store.AuditLog,
// which every Store implements.

func quotasOf(t *testing.T, s store.Store) store.Quotas {
	t.Helper()
	q, ok := s.(store.Quotas)
	if !ok {
		t.Fatalf("%T does not implement store.Quotas", s)
	}
	return q
}

func keysOf(t *testing.T, s store.Store) store.Keys {
	t.Helper()
	k, ok := s.(store.Keys)
	if !ok {
		t.Fatalf("%T does not implement store.Keys", s)
	}
	return k
}

func auditOf(t *testing.T, s store.Store) store.AuditLog {
	t.Helper()
	a, ok := s.(store.AuditLog)
	if !ok {
		t.Fatalf("%T does not implement store.AuditLog", s)
	}
	return a
}

func ownerScope(tenant, owner string) store.QuotaScope {
	return store.QuotaScope{Kind: store.ScopeOwner, Tenant: tenant, Owner: owner}
}

func tenantScope(tenant string) store.QuotaScope {
	return store.QuotaScope{Kind: store.ScopeTenant, Tenant: tenant}
}

func requireUsage(t *testing.T, q store.Quotas, scope store.QuotaScope, want store.QuotaUsage) {
	t.Helper()
	got, err := q.QuotaUsage(ctx, scope)
	if err != nil {
		t.Fatalf("QuotaUsage(%s): %v", scope, err)
	}
	if got != want {
		t.Fatalf("QuotaUsage(%s) = %+v, want %+v", scope, got, want)
	}
}

// requireExceeded checks that err is a *QuotaExceededError for scope, with
// the limits and usage given.
func requireExceeded(t *testing.T, err error, scope store.QuotaScope, limits store.QuotaLimits, used store.QuotaUsage) {
	t.Helper()
	if !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("error = %v, want ErrQuotaExceeded", err)
	}
	var qe *store.QuotaExceededError
	if !errors.As(err, &qe) {
		t.Fatalf("error %v is not a *QuotaExceededError", err)
	}
	if qe.Scope != scope || qe.Limits != limits || qe.Used != used {
		t.Fatalf("QuotaExceededError{%s, %+v, %+v}, want {%s, %+v, %+v}", qe.Scope, qe.Limits, qe.Used, scope, limits, used)
	}
}

// testQuotaReserveConcurrent races 100 reservations for a scope with room
// for exactly k of them, bounded by bytes, then by files.
func testQuotaReserveConcurrent(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	const (
		n    = 100
		k    = 37
		size = 1000
	)
	for _, tc := range []struct {
		name   string
		limits store.QuotaLimits
	}{
		{"bytes", store.QuotaLimits{Bytes: k*size + size - 1}},
		{"files", store.QuotaLimits{Files: k}},
	} {
		scope := ownerScope("acme", "racer-"+tc.name)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = q.Reserve(ctx, fmt.Sprintf("%s-%d", tc.name, i), size, []store.QuotaCheck{{Scope: scope, Limits: tc.limits}})
			})
		}
		wg.Wait()
		var won []string
		for i, err := range errs {
			switch {
			case err == nil:
				won = append(won, fmt.Sprintf("%s-%d", tc.name, i))
			case !errors.Is(err, store.ErrQuotaExceeded):
				t.Fatalf("%s: Reserve %d: %v", tc.name, i, err)
			default:
				var qe *store.QuotaExceededError
				if !errors.As(err, &qe) || qe.Scope != scope || qe.Limits != tc.limits || qe.Used != (store.QuotaUsage{Bytes: k * size, Files: k}) {
					t.Fatalf("%s: Reserve %d: %#v, want the scope full at %d files", tc.name, i, err, k)
				}
			}
		}
		if len(won) != k {
			t.Fatalf("%s: %d reservations succeeded, want %d", tc.name, len(won), k)
		}
		requireUsage(t, q, scope, store.QuotaUsage{Bytes: k * size, Files: k})
		for _, id := range won {
			if err := q.Release(ctx, id); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
		requireUsage(t, q, scope, store.QuotaUsage{})
	}
}

// testQuotaAllOrNothing checks a reservation against an owner and its
// tenant, where the tenant's limit binds: a refused reservation counts
// against neither.
func testQuotaAllOrNothing(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	ann, bob, acme := ownerScope("acme", "ann"), ownerScope("acme", "bob"), tenantScope("acme")
	ownerLimits := store.QuotaLimits{Bytes: 10_000, Files: 10}
	tenantLimits := store.QuotaLimits{Files: 3}
	checks := func(owner store.QuotaScope) []store.QuotaCheck {
		return []store.QuotaCheck{{Scope: owner, Limits: ownerLimits}, {Scope: acme, Limits: tenantLimits}}
	}
	for i, owner := range []store.QuotaScope{ann, ann, bob} {
		if err := q.Reserve(ctx, fmt.Sprintf("ok%d", i), 100, checks(owner)); err != nil {
			t.Fatalf("Reserve %d: %v", i, err)
		}
	}
	for i, owner := range []store.QuotaScope{ann, bob, ann} {
		err := q.Reserve(ctx, fmt.Sprintf("over%d", i), 100, checks(owner))
		requireExceeded(t, err, acme, tenantLimits, store.QuotaUsage{Bytes: 300, Files: 3})
	}
	requireUsage(t, q, ann, store.QuotaUsage{Bytes: 200, Files: 2})
	requireUsage(t, q, bob, store.QuotaUsage{Bytes: 100, Files: 1})
	requireUsage(t, q, acme, store.QuotaUsage{Bytes: 300, Files: 3})

	// A refused reservation holds nothing: releasing it changes nothing,
	// and the same ID reserves once there is room.
	if err := q.Release(ctx, "over0"); err != nil {
		t.Fatal(err)
	}
	requireUsage(t, q, acme, store.QuotaUsage{Bytes: 300, Files: 3})
	if err := q.Release(ctx, "ok0"); err != nil {
		t.Fatal(err)
	}
	if err := q.Reserve(ctx, "over0", 50, checks(bob)); err != nil {
		t.Fatalf("Reserve once there is room: %v", err)
	}
	requireUsage(t, q, ann, store.QuotaUsage{Bytes: 100, Files: 1})
	requireUsage(t, q, bob, store.QuotaUsage{Bytes: 150, Files: 2})
	requireUsage(t, q, acme, store.QuotaUsage{Bytes: 250, Files: 3})

	// When several scopes are full, the error names the first of the
	// checks.
	full := store.QuotaLimits{Files: 1}
	for _, order := range [][]store.QuotaScope{{bob, acme}, {acme, bob}} {
		err := q.Reserve(ctx, "refused", 1, []store.QuotaCheck{{Scope: order[0], Limits: full}, {Scope: order[1], Limits: full}})
		used := map[store.QuotaScope]store.QuotaUsage{bob: {Bytes: 150, Files: 2}, acme: {Bytes: 250, Files: 3}}
		requireExceeded(t, err, order[0], full, used[order[0]])
	}
	// A bytes limit binds like a files limit, and a reservation that
	// fills a scope exactly fits.
	bytesLimit := store.QuotaLimits{Bytes: 1000}
	if err := q.Reserve(ctx, "big", 751, []store.QuotaCheck{{Scope: bob}, {Scope: acme, Limits: bytesLimit}}); err == nil {
		t.Fatal("Reserve of 751 bytes over a 1000-byte limit with 250 used succeeded")
	}
	if err := q.Reserve(ctx, "big", 750, []store.QuotaCheck{{Scope: bob}, {Scope: acme, Limits: bytesLimit}}); err != nil {
		t.Fatalf("Reserve of exactly the room left: %v", err)
	}
	requireUsage(t, q, bob, store.QuotaUsage{Bytes: 900, Files: 3})
	requireUsage(t, q, acme, store.QuotaUsage{Bytes: 1000, Files: 4})
}

// testQuotaConcurrentReserveRelease mixes reservations, settlements and
// releases, some refused, some repeated, and checks that usage never
// exceeds the limit and ends at zero.
func testQuotaConcurrentReserveRelease(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	owner, tenant := ownerScope("t1", "o1"), tenantScope("t1")
	checks := []store.QuotaCheck{
		{Scope: owner, Limits: store.QuotaLimits{Files: 8}},
		{Scope: tenant, Limits: store.QuotaLimits{Bytes: 10 * 500}},
	}
	var (
		wg       sync.WaitGroup
		reserved atomic.Int64
		stop     = make(chan struct{})
	)
	for w := range 20 {
		wg.Go(func() {
			for i := range 5 {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := q.Reserve(ctx, id, int64(100+w), checks)
				if err != nil && !errors.Is(err, store.ErrQuotaExceeded) {
					t.Errorf("Reserve: %v", err)
					return
				}
				if err == nil {
					reserved.Add(1)
					if err := q.Settle(ctx, id, int64(50*(i%3))); err != nil {
						t.Errorf("Settle: %v", err)
					}
				}
				// Releasing twice, or a refused ID, is harmless.
				for range 1 + i%2 {
					if err := q.Release(ctx, id); err != nil {
						t.Errorf("Release: %v", err)
					}
				}
			}
		})
	}
	var checker sync.WaitGroup
	checker.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			u, err := q.QuotaUsage(ctx, owner)
			if err != nil {
				t.Errorf("QuotaUsage: %v", err)
				return
			}
			if u.Files > 8 || u.Files < 0 || u.Bytes < 0 {
				t.Errorf("usage %+v beyond the limit of 8 files", u)
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	close(stop)
	checker.Wait()
	if reserved.Load() == 0 {
		t.Fatal("no reservation succeeded")
	}
	requireUsage(t, q, owner, store.QuotaUsage{})
	requireUsage(t, q, tenant, store.QuotaUsage{})
}

// testQuotaSettle moves a reservation's size down, refuses to move it up,
// and releases it.
func testQuotaSettle(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	owner, tenant := ownerScope("t1", "o1"), tenantScope("t1")
	limits := store.QuotaLimits{Bytes: 1000}
	checks := []store.QuotaCheck{{Scope: owner, Limits: limits}, {Scope: tenant, Limits: limits}}
	if err := q.Reserve(ctx, "u1", 700, checks); err != nil {
		t.Fatal(err)
	}
	if err := q.Reserve(ctx, "u2", 300, checks); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		size int64
		want store.QuotaUsage
	}{
		{250, store.QuotaUsage{Bytes: 550, Files: 2}},
		{250, store.QuotaUsage{Bytes: 550, Files: 2}}, // settling again is harmless
		{40, store.QuotaUsage{Bytes: 340, Files: 2}},
	} {
		if err := q.Settle(ctx, "u1", step.size); err != nil {
			t.Fatalf("Settle(%d): %v", step.size, err)
		}
		requireUsage(t, q, owner, step.want)
		requireUsage(t, q, tenant, step.want)
	}
	// Settling never adds to the usage: above the reservation, nothing
	// changes.
	for _, size := range []int64{41, 5000} {
		if err := q.Settle(ctx, "u1", size); !errors.Is(err, store.ErrSettleGrows) {
			t.Fatalf("Settle(%d) over a reservation of 40: %v, want ErrSettleGrows", size, err)
		}
		requireUsage(t, q, owner, store.QuotaUsage{Bytes: 340, Files: 2})
		requireUsage(t, q, tenant, store.QuotaUsage{Bytes: 340, Files: 2})
	}
	if err := q.Settle(ctx, "u1", 0); err != nil {
		t.Fatal(err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 300, Files: 2})
	if err := q.Reserve(ctx, "u4", 700, checks); err != nil {
		t.Fatal(err)
	}
	// At the limit now, so nothing more fits.
	err := q.Reserve(ctx, "u3", 1, checks)
	requireExceeded(t, err, owner, limits, store.QuotaUsage{Bytes: 1000, Files: 3})
	// An ID without reservation is not an error and changes nothing.
	if err := q.Settle(ctx, "nope", 77); err != nil {
		t.Fatalf("Settle of an unknown ID: %v", err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 1000, Files: 3})
	if err := q.Settle(ctx, "u1", -1); err == nil {
		t.Error("Settle with a negative size succeeded")
	}
	// Release gives back the settled size.
	if err := q.Settle(ctx, "u4", 200); err != nil {
		t.Fatal(err)
	}
	if err := q.Release(ctx, "u4"); err != nil {
		t.Fatal(err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 300, Files: 2})
	requireUsage(t, q, tenant, store.QuotaUsage{Bytes: 300, Files: 2})
	if err := q.Release(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := q.Settle(ctx, "u1", 10); err != nil {
		t.Fatal(err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 300, Files: 1})
	if err := q.Release(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{})
	requireUsage(t, q, tenant, store.QuotaUsage{})
}

// testQuotaReserveIdempotent reserves the same ID again, with other sizes
// and limits, concurrently too.
func testQuotaReserveIdempotent(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	owner := ownerScope("", "o1")
	checks := []store.QuotaCheck{{Scope: owner, Limits: store.QuotaLimits{Files: 1}}}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := q.Reserve(ctx, "u1", 100, checks); err != nil {
				t.Errorf("Reserve: %v", err)
			}
		})
	}
	wg.Wait()
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 100, Files: 1})
	// The scope is full, but u1 holds its reservation already: nil, and
	// nothing changes, whatever the size.
	if err := q.Reserve(ctx, "u1", 999, checks); err != nil {
		t.Fatalf("Reserve again: %v", err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 100, Files: 1})
	requireExceeded(t, q.Reserve(ctx, "u2", 1, checks), owner, checks[0].Limits, store.QuotaUsage{Bytes: 100, Files: 1})
	// Releasing twice, and releasing what was never reserved, never takes
	// usage below zero.
	for _, id := range []string{"u1", "u1", "u2", "never"} {
		if err := q.Release(ctx, id); err != nil {
			t.Fatalf("Release(%s): %v", id, err)
		}
		requireUsage(t, q, owner, store.QuotaUsage{})
	}
	// A released ID may reserve again.
	if err := q.Reserve(ctx, "u1", 5, checks); err != nil {
		t.Fatal(err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 5, Files: 1})
	// An empty list of checks reserves nothing, and succeeds.
	if err := q.Reserve(ctx, "u9", 5, nil); err != nil {
		t.Fatalf("Reserve with no checks: %v", err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 5, Files: 1})
}

// testQuotaStoredLimits checks that limits stored with SetQuotaLimits win
// over the checks' limits, a zero one meaning none, until removed.
func testQuotaStoredLimits(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	owner, other := ownerScope("t1", "o1"), ownerScope("t1", "o2")
	requireLimits := func(scope store.QuotaScope, want *store.QuotaLimits) {
		t.Helper()
		got, ok, err := q.QuotaLimits(ctx, scope)
		switch {
		case err != nil:
			t.Fatalf("QuotaLimits: %v", err)
		case want == nil && ok:
			t.Fatalf("QuotaLimits(%s) = %+v, want none", scope, got)
		case want != nil && (!ok || got != *want):
			t.Fatalf("QuotaLimits(%s) = %+v, %t; want %+v", scope, got, ok, *want)
		}
	}
	requireLimits(owner, nil)
	one := &store.QuotaLimits{Bytes: 1 << 40, Files: 1}
	if err := q.SetQuotaLimits(ctx, owner, one); err != nil {
		t.Fatal(err)
	}
	requireLimits(owner, one)
	requireLimits(other, nil)
	loose := store.QuotaLimits{Files: 100}
	if err := q.Reserve(ctx, "u1", 10, []store.QuotaCheck{{Scope: owner, Limits: loose}}); err != nil {
		t.Fatal(err)
	}
	requireExceeded(t, q.Reserve(ctx, "u2", 10, []store.QuotaCheck{{Scope: owner, Limits: loose}}),
		owner, *one, store.QuotaUsage{Bytes: 10, Files: 1})
	// The stored limits are the scope's alone.
	if err := q.Reserve(ctx, "u3", 10, []store.QuotaCheck{{Scope: other, Limits: loose}}); err != nil {
		t.Fatal(err)
	}
	if err := q.Reserve(ctx, "u4", 10, []store.QuotaCheck{{Scope: other, Limits: loose}}); err != nil {
		t.Fatal(err)
	}
	// Stored zero limits lift the checks' limits.
	none := &store.QuotaLimits{}
	if err := q.SetQuotaLimits(ctx, owner, none); err != nil {
		t.Fatal(err)
	}
	requireLimits(owner, none)
	tight := store.QuotaLimits{Files: 1}
	if err := q.Reserve(ctx, "u2", 10, []store.QuotaCheck{{Scope: owner, Limits: tight}}); err != nil {
		t.Fatalf("Reserve under stored zero limits: %v", err)
	}
	// Removed, the checks' limits apply again.
	if err := q.SetQuotaLimits(ctx, owner, nil); err != nil {
		t.Fatal(err)
	}
	requireLimits(owner, nil)
	requireExceeded(t, q.Reserve(ctx, "u5", 10, []store.QuotaCheck{{Scope: owner, Limits: tight}}),
		owner, tight, store.QuotaUsage{Bytes: 20, Files: 2})
	if err := q.SetQuotaLimits(ctx, owner, nil); err != nil {
		t.Fatalf("removing limits twice: %v", err)
	}
	requireUsage(t, q, owner, store.QuotaUsage{Bytes: 20, Files: 2})
	requireUsage(t, q, other, store.QuotaUsage{Bytes: 20, Files: 2})
}

// testQuotaScopesApart checks that scopes differing in any part count
// apart, and that a scope never used has zero usage.
func testQuotaScopesApart(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	scopes := []store.QuotaScope{
		ownerScope("", "ann"),
		ownerScope("acme", "ann"),
		{Kind: store.ScopeOwner, Tenant: "acme", Owner: "ann", Route: "avatar"},
		tenantScope(""),
		tenantScope("acme"),
		{Kind: store.ScopeTenant, Tenant: "acme", Route: "avatar"},
		ownerScope("ac", "me\x00ann"), // a key built by joining parts would collide
	}
	for i, sc := range scopes {
		requireUsage(t, q, sc, store.QuotaUsage{})
		if err := q.Reserve(ctx, fmt.Sprintf("u%d", i), int64(i+1), []store.QuotaCheck{{Scope: sc}}); err != nil {
			t.Fatalf("Reserve(%s): %v", sc, err)
		}
	}
	for i, sc := range scopes {
		requireUsage(t, q, sc, store.QuotaUsage{Bytes: int64(i + 1), Files: 1})
	}
}

func testQuotaInvalid(t *testing.T, s store.Store) {
	q := quotasOf(t, s)
	ok := ownerScope("t", "o")
	for name, c := range map[string]struct {
		id     string
		size   int64
		checks []store.QuotaCheck
	}{
		"empty ID":       {"", 1, []store.QuotaCheck{{Scope: ok}}},
		"negative size":  {"u1", -1, []store.QuotaCheck{{Scope: ok}}},
		"no kind":        {"u1", 1, []store.QuotaCheck{{Scope: ok}, {Scope: store.QuotaScope{Owner: "o"}}}},
		"tenant owner":   {"u1", 1, []store.QuotaCheck{{Scope: ok}, {Scope: store.QuotaScope{Kind: store.ScopeTenant, Owner: "o"}}}},
		"negative limit": {"u1", 1, []store.QuotaCheck{{Scope: ok, Limits: store.QuotaLimits{Files: -1}}}},
		"scope twice":    {"u1", 1, []store.QuotaCheck{{Scope: ok}, {Scope: ok}}},
	} {
		if err := q.Reserve(ctx, c.id, c.size, c.checks); err == nil || errors.Is(err, store.ErrQuotaExceeded) {
			t.Errorf("Reserve with %s: error = %v, want an invalid-argument error", name, err)
		}
	}
	requireUsage(t, q, ok, store.QuotaUsage{})
	if err := q.SetQuotaLimits(ctx, store.QuotaScope{Kind: "bogus"}, &store.QuotaLimits{}); err == nil {
		t.Error("SetQuotaLimits of an invalid scope succeeded")
	}
	if err := q.SetQuotaLimits(ctx, ok, &store.QuotaLimits{Bytes: -1}); err == nil {
		t.Error("SetQuotaLimits with a negative limit succeeded")
	}
	if _, found, err := q.QuotaLimits(ctx, ok); err != nil || found {
		t.Errorf("QuotaLimits after refused SetQuotaLimits = %t, %v", found, err)
	}
}

// sampleKey returns a key with every field set.
func sampleKey(id string) *store.APIKey {
	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(i * 7)
	}
	return &store.APIKey{
		ID:         id,
		Hash:       hash,
		Name:       "CI deploy ünïcode",
		Owner:      "user-42",
		Tenant:     "acme",
		Routes:     []string{"avatar", "docs"},
		CreatedAt:  time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.FixedZone("X", 5*3600)),
		ExpiresAt:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		LastUsedAt: time.Date(2024, 3, 2, 8, 0, 0, 987000000, time.UTC),
	}
}

// keyDiff lists the fields in which got differs from want, comparing times
// to the millisecond, and nil Routes like empty ones.
func keyDiff(want, got *store.APIKey) []string {
	var d []string
	str := func(name, w, g string) {
		if w != g {
			d = append(d, fmt.Sprintf("%s: got %q, want %q", name, g, w))
		}
	}
	tm := func(name string, w, g time.Time) {
		if !w.Truncate(time.Millisecond).Equal(g.Truncate(time.Millisecond)) || w.IsZero() != g.IsZero() {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	str("ID", want.ID, got.ID)
	if !bytes.Equal(want.Hash, got.Hash) {
		d = append(d, fmt.Sprintf("Hash: got %x, want %x", got.Hash, want.Hash))
	}
	str("Name", want.Name, got.Name)
	str("Owner", want.Owner, got.Owner)
	str("Tenant", want.Tenant, got.Tenant)
	if !slices.Equal(want.Routes, got.Routes) {
		d = append(d, fmt.Sprintf("Routes: got %q, want %q", got.Routes, want.Routes))
	}
	tm("CreatedAt", want.CreatedAt, got.CreatedAt)
	tm("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	tm("LastUsedAt", want.LastUsedAt, got.LastUsedAt)
	tm("RevokedAt", want.RevokedAt, got.RevokedAt)
	return d
}

func requireKey(t *testing.T, k store.Keys, want *store.APIKey) *store.APIKey {
	t.Helper()
	got, err := k.GetKey(ctx, want.ID)
	if err != nil {
		t.Fatalf("GetKey(%s): %v", want.ID, err)
	}
	if d := keyDiff(want, got); len(d) > 0 {
		t.Fatalf("GetKey(%s) differs: %q", want.ID, d)
	}
	return got
}

func testKeys(t *testing.T, s store.Store) {
	k := keysOf(t, s)
	want := sampleKey("k1")
	in := sampleKey("k1")
	if err := k.CreateKey(ctx, in); err != nil {
		t.Fatal(err)
	}
	// The store kept a copy.
	in.Hash[0]++
	in.Routes[0] = "mutated"
	got := requireKey(t, k, want)
	got.Hash[0]++
	got.Routes[0] = "mutated"
	requireKey(t, k, want)

	if err := k.CreateKey(ctx, sampleKey("k1")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateKey of a taken ID: %v, want ErrExists", err)
	}
	if err := k.CreateKey(ctx, sampleKey("")); err == nil {
		t.Fatal("CreateKey with an empty ID succeeded")
	}
	if _, err := k.GetKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey of a missing key: %v, want ErrNotFound", err)
	}

	// Zero times: CreatedAt is set; the others stay zero. No routes means
	// every route.
	bare := &store.APIKey{ID: "k2", Hash: []byte{1, 2, 3}, Owner: "o"}
	before := time.Now()
	if err := k.CreateKey(ctx, bare); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if !bare.CreatedAt.IsZero() {
		t.Error("CreateKey changed the caller's key")
	}
	got, err := k.GetKey(ctx, "k2")
	if err != nil {
		t.Fatal(err)
	}
	if !inWindow(got.CreatedAt, before, after) {
		t.Errorf("CreatedAt = %v, want between %v and %v", got.CreatedAt, before, after)
	}
	wantBare := *bare
	wantBare.CreatedAt = got.CreatedAt
	if d := keyDiff(&wantBare, got); len(d) > 0 || len(got.Routes) != 0 {
		t.Fatalf("bare key differs: %q (Routes %q)", d, got.Routes)
	}
}

func testKeysRevokeTouch(t *testing.T, s store.Store) {
	k := keysOf(t, s)
	want := sampleKey("k1")
	want.LastUsedAt = time.Time{}
	if err := k.CreateKey(ctx, want); err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)

	// TouchKey keeps the latest use.
	for _, step := range []struct{ at, want time.Time }{{t2, t2}, {t1, t2}, {t3, t3}} {
		if err := k.TouchKey(ctx, "k1", step.at); err != nil {
			t.Fatal(err)
		}
		want.LastUsedAt = step.want
		requireKey(t, k, want)
	}
	// RevokeKey keeps the first revocation, later or earlier.
	for _, at := range []time.Time{t2, t3, t1} {
		if err := k.RevokeKey(ctx, "k1", at); err != nil {
			t.Fatal(err)
		}
		want.RevokedAt = t2
		requireKey(t, k, want)
	}
	// A revoked key is still touched, and kept.
	if err := k.TouchKey(ctx, "k1", t3.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	want.LastUsedAt = t3.Add(time.Minute)
	requireKey(t, k, want)
	if err := k.RevokeKey(ctx, "nope", t1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeKey of a missing key: %v, want ErrNotFound", err)
	}
	if err := k.TouchKey(ctx, "nope", t1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchKey of a missing key: %v, want ErrNotFound", err)
	}
	// Concurrent touches leave the latest.
	var wg sync.WaitGroup
	last := t3.Add(time.Hour)
	for i := range 20 {
		wg.Go(func() {
			if err := k.TouchKey(ctx, "k1", last.Add(-time.Duration(i)*time.Second)); err != nil {
				t.Errorf("TouchKey: %v", err)
			}
		})
	}
	wg.Wait()
	want.LastUsedAt = last
	requireKey(t, k, want)
}

func testKeysList(t *testing.T, s store.Store) {
	k := keysOf(t, s)
	type key struct{ id, tenant, owner string }
	keys := []key{
		{"k5", "acme", "ann"}, {"k1", "acme", "bob"}, {"K9", "", "ann"}, {"k3", "umbrella", "ann"},
		{"k2", "acme", "ann"}, {"k_4", "acme", "carol"}, {"k10", "umbrella", "bob"},
	}
	for _, c := range keys {
		kk := sampleKey(c.id)
		kk.Tenant, kk.Owner = c.tenant, c.owner
		if err := k.CreateKey(ctx, kk); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.RevokeKey(ctx, "k2", time.Now()); err != nil {
		t.Fatal(err)
	}
	list := func(q store.KeyQuery) []string {
		t.Helper()
		ks, err := k.ListKeys(ctx, q)
		if err != nil {
			t.Fatalf("ListKeys(%+v): %v", q, err)
		}
		out := []string{}
		for _, kk := range ks {
			out = append(out, kk.ID)
		}
		return out
	}
	// Byte order: upper case before lower case, "_" after digits.
	for _, tc := range []struct {
		q    store.KeyQuery
		want []string
	}{
		{store.KeyQuery{}, []string{"K9", "k1", "k10", "k2", "k3", "k5", "k_4"}},
		{store.KeyQuery{Tenant: "acme"}, []string{"k1", "k2", "k5", "k_4"}},
		{store.KeyQuery{Owner: "ann"}, []string{"K9", "k2", "k3", "k5"}},
		{store.KeyQuery{Tenant: "acme", Owner: "ann"}, []string{"k2", "k5"}},
		{store.KeyQuery{Tenant: "umbrella", Owner: "carol"}, []string{}},
		{store.KeyQuery{After: "k10"}, []string{"k2", "k3", "k5", "k_4"}},
		{store.KeyQuery{Owner: "ann", After: "k2", Limit: 1}, []string{"k3"}},
	} {
		if got := list(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("ListKeys(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	var paged []string
	q := store.KeyQuery{Limit: 3}
	for range 5 {
		page := list(q)
		if len(page) > 3 {
			t.Fatalf("page of %d keys with Limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		q.After = page[len(page)-1]
	}
	if want := list(store.KeyQuery{}); !slices.Equal(paged, want) {
		t.Errorf("paged ListKeys = %v, want %v", paged, want)
	}
	// Listed keys are whole.
	ks, err := k.ListKeys(ctx, store.KeyQuery{Tenant: "umbrella", Owner: "ann"})
	if err != nil || len(ks) != 1 {
		t.Fatalf("ListKeys = %v, %v", ks, err)
	}
	want := sampleKey("k3")
	want.Tenant, want.Owner = "umbrella", "ann"
	if d := keyDiff(want, ks[0]); len(d) > 0 {
		t.Errorf("listed key differs: %q", d)
	}
	for _, limit := range []int{-1, store.MaxLimit + 1} {
		if _, err := k.ListKeys(ctx, store.KeyQuery{Limit: limit}); err == nil {
			t.Errorf("ListKeys with Limit %d succeeded", limit)
		}
	}
}

func eventDiff(want, got *store.AuditEvent) []string {
	var d []string
	if want.ID != got.ID || want.Action != got.Action || want.Actor != got.Actor || want.Tenant != got.Tenant || want.Subject != got.Subject {
		d = append(d, fmt.Sprintf("got %+v, want %+v", got, want))
	}
	if !want.Time.Truncate(time.Millisecond).Equal(got.Time.Truncate(time.Millisecond)) {
		d = append(d, fmt.Sprintf("Time: got %v, want %v", got.Time, want.Time))
	}
	if !bytes.Equal(want.Detail, got.Detail) || (want.Detail == nil) != (got.Detail == nil) {
		d = append(d, fmt.Sprintf("Detail: got %q (nil %t), want %q", got.Detail, got.Detail == nil, want.Detail))
	}
	return d
}

func testAudit(t *testing.T, s store.Store) {
	a := auditOf(t, s)
	full := &store.AuditEvent{
		ID:      "e1",
		Time:    time.Date(2025, 2, 3, 4, 5, 6, 789000000, time.FixedZone("X", -3600)),
		Action:  store.AuditKeyRevoked,
		Actor:   "key:k7",
		Tenant:  "acme ünïcode",
		Subject: "k1",
		Detail:  json.RawMessage(`{"reason":  "leaked", "n": [1, 2]}`),
	}
	if err := a.AppendAudit(ctx, full); err != nil {
		t.Fatal(err)
	}
	if err := a.AppendAudit(ctx, &store.AuditEvent{ID: "e1", Action: "x"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("AppendAudit of a taken ID: %v, want ErrExists", err)
	}
	if err := a.AppendAudit(ctx, &store.AuditEvent{Action: "x", Detail: json.RawMessage(`{nope`)}); err == nil {
		t.Fatal("AppendAudit with a Detail that is not JSON succeeded")
	}
	// ID and Time are set by the store; the caller's event stays as it was.
	bare := &store.AuditEvent{Action: store.AuditFileDeleted, Actor: "server", Subject: "u1"}
	before := time.Now()
	for range 2 {
		if err := a.AppendAudit(ctx, bare); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Now()
	if bare.ID != "" || !bare.Time.IsZero() {
		t.Errorf("AppendAudit changed the caller's event: %+v", bare)
	}
	got, err := a.ListAudit(ctx, store.AuditQuery{Action: store.AuditFileDeleted})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID == got[1].ID {
		t.Fatalf("ListAudit = %+v, want two events with IDs of their own", got)
	}
	for _, e := range got {
		if b, err := hex.DecodeString(e.ID); err != nil || len(b) != 16 {
			t.Errorf("generated ID %q, want 16 bytes in hex", e.ID)
		}
		if !inWindow(e.Time, before, after) {
			t.Errorf("Time = %v, want between %v and %v", e.Time, before, after)
		}
		want := *bare
		want.ID, want.Time = e.ID, e.Time
		if d := eventDiff(&want, e); len(d) > 0 {
			t.Errorf("event differs: %q", d)
		}
	}
	got, err = a.ListAudit(ctx, store.AuditQuery{Subject: "k1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListAudit(subject k1) = %v, %v", got, err)
	}
	if d := eventDiff(full, got[0]); len(d) > 0 {
		t.Fatalf("event differs: %q", d)
	}
	// A returned event is the caller's to change.
	got[0].Detail[0] = 'X'
	if again, err := a.ListAudit(ctx, store.AuditQuery{Subject: "k1"}); err != nil || len(again) != 1 || eventDiff(full, again[0]) != nil {
		t.Fatalf("stored event changed through a returned one: %v, %v", again, err)
	}
}

func testAuditList(t *testing.T, s store.Store) {
	a := auditOf(t, s)
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	type ev struct {
		id      string
		sec     int
		action  string
		tenant  string
		subject string
	}
	// Appended out of order; e2, e3 and E9 share a time.
	evs := []ev{
		{"e3", 2, store.AuditFileDeleted, "acme", "u1"},
		{"e0", 0, store.AuditKeyCreated, "acme", "k1"},
		{"e5", 4, store.AuditKeyRevoked, "acme", "k1"},
		{"e2", 2, store.AuditFileRenamed, "umbrella", "u1"},
		{"e1", 1, store.AuditFileDeleted, "", "u2"},
		{"e4", 3, store.AuditFileDeleted, "acme", "u3"},
		{"E9", 2, store.AuditQuotaChanged, "acme", `["owner","acme","ann",""]`},
	}
	for _, e := range evs {
		err := a.AppendAudit(ctx, &store.AuditEvent{
			ID: e.id, Time: base.Add(time.Duration(e.sec) * time.Second), Action: e.action,
			Actor: "server", Tenant: e.tenant, Subject: e.subject,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	list := func(q store.AuditQuery) []*store.AuditEvent {
		t.Helper()
		es, err := a.ListAudit(ctx, q)
		if err != nil {
			t.Fatalf("ListAudit(%+v): %v", q, err)
		}
		return es
	}
	ids := func(es []*store.AuditEvent) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	all := []string{"e5", "e4", "e3", "e2", "E9", "e1", "e0"}
	for _, tc := range []struct {
		q    store.AuditQuery
		want []string
	}{
		{store.AuditQuery{}, all},
		{store.AuditQuery{Action: store.AuditFileDeleted}, []string{"e4", "e3", "e1"}},
		{store.AuditQuery{Tenant: "acme"}, []string{"e5", "e4", "e3", "E9", "e0"}},
		{store.AuditQuery{Subject: "u1"}, []string{"e3", "e2"}},
		{store.AuditQuery{Subject: "k1", Action: store.AuditKeyCreated}, []string{"e0"}},
		{store.AuditQuery{Tenant: "acme", Action: store.AuditFileDeleted}, []string{"e4", "e3"}},
		{store.AuditQuery{Since: base.Add(2 * time.Second)}, []string{"e5", "e4", "e3", "e2", "E9"}},
		{store.AuditQuery{Since: base.Add(2*time.Second + 1)}, []string{"e5", "e4"}},
		{store.AuditQuery{Since: base.Add(time.Hour)}, []string{}},
		{store.AuditQuery{Action: "nothing"}, []string{}},
		{store.AuditQuery{Before: store.AuditCursor{Time: base.Add(2 * time.Second), ID: "e3"}}, []string{"e2", "E9", "e1", "e0"}},
		{store.AuditQuery{Before: store.AuditCursor{Time: base.Add(2 * time.Second), ID: "e2"}, Limit: 1}, []string{"E9"}},
		{store.AuditQuery{Before: store.AuditCursor{Time: base.Add(2*time.Second + 1), ID: ""}}, []string{"e3", "e2", "E9", "e1", "e0"}},
		{store.AuditQuery{Tenant: "acme", Since: base.Add(time.Second), Before: store.AuditCursor{Time: base.Add(3 * time.Second), ID: "e4"}}, []string{"e3", "E9"}},
	} {
		if got := ids(list(tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("ListAudit(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Pages of two, through the cursor, give every event once, in order.
	var paged []string
	q := store.AuditQuery{Limit: 2}
	for range 10 {
		page := list(q)
		if len(page) > 2 {
			t.Fatalf("page of %d events with Limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		q.Before = page[len(page)-1].Cursor()
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged ListAudit = %v, want %v", paged, all)
	}
	// A nil Detail reads back as nil.
	for _, e := range list(store.AuditQuery{}) {
		if e.Detail != nil {
			t.Errorf("event %s: Detail %q, want nil", e.ID, e.Detail)
		}
	}
	for _, limit := range []int{-1, store.MaxLimit + 1} {
		if _, err := a.ListAudit(ctx, store.AuditQuery{Limit: limit}); err == nil {
			t.Errorf("ListAudit with Limit %d succeeded", limit)
		}
	}
}

// BenchmarkReserve measures Reserve with creators concurrent callers, each
// reserving for fresh IDs against limits that never refuse: all of them
// against the same owner and tenant scopes when shared is set, each
// against an owner and a tenant of its own otherwise. It reports
// reservations/s, and fails unless the usage counted equals the
// reservations made.
func BenchmarkReserve(b *testing.B, q store.Quotas, creators int, shared bool) {
	run := time.Now().UnixNano() // IDs are fresh across the runs of one store
	none := store.QuotaLimits{Bytes: 1 << 60, Files: 1 << 40}
	checks := make([][]store.QuotaCheck, creators)
	for c := range creators {
		who := c
		if shared {
			who = 0
		}
		checks[c] = []store.QuotaCheck{
			{Scope: ownerScope("bench", fmt.Sprint("owner-", run, "-", who)), Limits: none},
			{Scope: tenantScope(fmt.Sprint("tenant-", run, "-", who)), Limits: none},
		}
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	for c := range creators {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := q.Reserve(ctx, fmt.Sprintf("%d-%d", run, i), 1000, checks[c]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
	var files int64
	for c := range creators {
		if shared && c > 0 {
			break
		}
		u, err := q.QuotaUsage(ctx, checks[c][0].Scope)
		if err != nil {
			b.Fatal(err)
		}
		if t, err := q.QuotaUsage(ctx, checks[c][1].Scope); err != nil || t != u {
			b.Fatalf("tenant usage %+v, owner usage %+v (%v)", t, u, err)
		}
		if u.Bytes != 1000*u.Files {
			b.Fatalf("usage %+v", u)
		}
		files += u.Files
	}
	if files != int64(b.N) {
		b.Fatalf("%d files counted after %d reservations", files, b.N)
	}
}
