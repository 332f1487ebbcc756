package postgres

import (
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/storetest"
)

// TestLedgerTablesOfLongNames opens two stores whose table names are as
// long as allowed and differ only at the end: the ledger's tables are
// shortened to fit, and stay apart.
func TestLedgerTablesOfLongNames(t *testing.T) {
	admin := newPool(t, 2)
	a, b := strings.Repeat("x", 62)+"a", strings.Repeat("x", 62)+"b"
	for _, name := range []string{a, b} {
		t.Cleanup(func() { dropTable(t, admin, "", name) })
	}
	sa, sb := open(t, &Options{Table: a}), open(t, &Options{Table: b})
	for _, n := range append(ledgerTables(a), ledgerTables(b)...) {
		if len(n) > 63 {
			t.Errorf("table name %q is longer than 63 bytes", n)
		}
	}
	scope := store.QuotaScope{Kind: store.ScopeTenant, Tenant: "t"}
	if err := sa.Reserve(ctx, "u1", 10, []store.QuotaCheck{{Scope: scope}}); err != nil {
		t.Fatal(err)
	}
	if u, err := sb.QuotaUsage(ctx, scope); err != nil || u != (store.QuotaUsage{}) {
		t.Fatalf("the other store's usage = %+v, %v; want none", u, err)
	}
	if u, err := sa.QuotaUsage(ctx, scope); err != nil || u != (store.QuotaUsage{Bytes: 10, Files: 1}) {
		t.Fatalf("usage = %+v, %v", u, err)
	}
}

// BenchmarkQuotaReserve measures Reserve with 100 concurrent creators,
// through a pool of 8 connections: on one owner and one tenant (shared;
// more connections only add contention for the two scopes' rows), and
// each on its own.
func BenchmarkQuotaReserve(b *testing.B) {
	for _, shared := range []bool{true, false} {
		b.Run(map[bool]string{true: "shared", false: "apart"}[shared], func(b *testing.B) {
			pool := newPool(b, 8)
			s, err := New(ctx, pool, &Options{Table: tempTable(b, pool)})
			if err != nil {
				b.Fatal(err)
			}
			storetest.BenchmarkReserve(b, s, 100, shared)
		})
	}
}
