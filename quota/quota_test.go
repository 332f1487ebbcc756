package quota_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

func TestReserveReportSet(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	m, err := quota.New(st, st, quota.Policy{
		Owner:  quota.Limits{Bytes: 1000},
		Tenant: quota.Limits{Files: 3},
		Routes: map[string]quota.RouteLimits{"docs": {Owner: quota.Limits{Files: 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	alice := quota.Subject{Tenant: "acme", Owner: "alice", Route: "files"}
	if err := m.Reserve(ctx, "u1", 600, alice); err != nil {
		t.Fatal(err)
	}
	// Over the owner's bytes: which scope, what is left, and that it could
	// fit in an empty scope.
	err = m.Reserve(ctx, "u2", 500, alice)
	var e *quota.ExceededError
	if !errors.As(err, &e) || !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("over the bytes: %v", err)
	}
	if e.Scope.Kind != store.ScopeOwner || e.Scope.Route != "" || e.Left() != (quota.Usage{Bytes: 400, Files: -1}) || e.Never() {
		t.Fatalf("error: %+v, left %+v, never %v", e, e.Left(), e.Never())
	}
	// Larger than the quota itself.
	if err := m.Reserve(ctx, "u3", 2000, alice); !errors.As(err, &e) || !e.Never() {
		t.Fatalf("larger than the quota: %v", err)
	}
	// The route's own quota.
	docs := alice
	docs.Route = "docs"
	if err := m.Reserve(ctx, "d1", 10, docs); err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve(ctx, "d2", 10, docs); !errors.As(err, &e) || e.Scope.Route != "docs" || e.Left().Files != 0 {
		t.Fatalf("the route's quota: %v", err)
	}

	reps, err := m.Report(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	want := []quota.ScopeReport{
		{Scope: quota.Scope{Kind: store.ScopeOwner, Tenant: "acme", Owner: "alice"}, Limits: quota.Limits{Bytes: 1000},
			Used: quota.Usage{Bytes: 610, Files: 2}, Left: quota.Usage{Bytes: 390, Files: -1}},
		{Scope: quota.Scope{Kind: store.ScopeOwner, Tenant: "acme", Owner: "alice", Route: "docs"}, Limits: quota.Limits{Files: 1},
			Used: quota.Usage{Bytes: 10, Files: 1}, Left: quota.Usage{Bytes: -1, Files: 0}},
		{Scope: quota.Scope{Kind: store.ScopeTenant, Tenant: "acme"}, Limits: quota.Limits{Files: 3},
			Used: quota.Usage{Bytes: 610, Files: 2}, Left: quota.Usage{Bytes: -1, Files: 1}},
		{Scope: quota.Scope{Kind: store.ScopeTenant, Tenant: "acme", Route: "docs"},
			Used: quota.Usage{Bytes: 10, Files: 1}, Left: quota.Usage{Bytes: -1, Files: -1}},
	}
	if len(reps) != len(want) {
		t.Fatalf("report: %+v", reps)
	}
	for i := range want {
		if reps[i] != want[i] {
			t.Errorf("report[%d] = %+v, want %+v", i, reps[i], want[i])
		}
	}

	// Settling and releasing move the usage.
	if err := m.Settle(ctx, "u1", 100); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	reps, _ = m.Report(ctx, alice)
	if reps[0].Used != (quota.Usage{Bytes: 100, Files: 1}) {
		t.Fatalf("after settling and releasing: %+v", reps[0])
	}

	// Stored limits win and are audited.
	scope := quota.Scope{Kind: store.ScopeOwner, Tenant: "acme", Owner: "alice"}
	if err := m.Set(ctx, scope, &quota.Limits{Bytes: 5000}, "ops"); err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve(ctx, "u4", 3000, alice); err != nil {
		t.Fatalf("after raising: %v", err)
	}
	events, err := st.ListAudit(ctx, store.AuditQuery{Action: store.AuditQuotaChanged})
	if err != nil || len(events) != 1 {
		t.Fatalf("audit: %+v %v", events, err)
	}
	var detail struct {
		Scope  quota.Scope
		Limits *quota.Limits
	}
	if err := json.Unmarshal(events[0].Detail, &detail); err != nil || detail.Scope != scope || detail.Limits.Bytes != 5000 || events[0].Actor != "ops" {
		t.Fatalf("audit event: %+v %s (%v)", events[0], events[0].Detail, err)
	}
	if err := m.Set(ctx, scope, nil, "ops"); err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve(ctx, "u5", 1000, alice); !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("back on the policy: %v", err)
	}
	if err := m.Set(ctx, scope, &quota.Limits{Bytes: -1}, "ops"); err == nil {
		t.Fatal("a negative limit was taken")
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := quota.New(nil, nil, quota.Policy{}); err == nil {
		t.Error("no store: no error")
	}
	st := memstore.New()
	if _, err := quota.New(st, nil, quota.Policy{Routes: map[string]quota.RouteLimits{"x": {Tenant: quota.Limits{Files: -1}}}}); err == nil {
		t.Error("a negative limit: no error")
	}
}
