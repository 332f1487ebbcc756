// Package quota bounds what each owner and each tenant may keep: bytes and
// files, across all routes and per route.
//
// A Policy says what the limits are; a Manager applies them to a Store that
// keeps usage (store.Quotas, which the memstore, sqlite and postgres Stores
// implement). An upload reserves its declared size when it is created, all
// or nothing against every scope it counts in, atomically under any
// concurrency: a hundred parallel creations against a nearly full quota
// never take it over. The reservation is settled to the file's real size
// when it is ready, and released when the upload is rejected, deleted or
// expires.
//
// Limits may be changed at run time per scope with Manager.Set; such limits
// are kept in the Store and replace the Policy's for that scope.
package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/carcosa-dev/carcosa/store"
)

// Limits bounds a scope. Zero means no limit.
type Limits = store.QuotaLimits

// Usage is what a scope holds.
type Usage = store.QuotaUsage

// Scope names what a quota counts against.
type Scope = store.QuotaScope

// Policy is the default limits. Each upload counts against its owner (within
// its tenant) and, when it has a tenant, against the tenant; on every route
// and on its own route.
type Policy struct {
	Owner  Limits // each owner, all routes together
	Tenant Limits // each tenant, all routes together

	// Routes adds limits that apply to one route's files only.
	Routes map[string]RouteLimits
}

// RouteLimits are the limits of one route.
type RouteLimits struct {
	Owner  Limits // each owner's files of the route
	Tenant Limits // each tenant's files of the route
}

// Subject is who an upload counts against.
type Subject struct {
	Tenant string // "" for none: no tenant scopes apply
	Owner  string
	Route  string
}

// scopes lists the scopes s counts in, each with the policy's limits,
// broadest first.
func (p *Policy) checks(s Subject) []store.QuotaCheck {
	rl := p.Routes[s.Route]
	cs := []store.QuotaCheck{
		{Scope: Scope{Kind: store.ScopeOwner, Tenant: s.Tenant, Owner: s.Owner}, Limits: p.Owner},
		{Scope: Scope{Kind: store.ScopeOwner, Tenant: s.Tenant, Owner: s.Owner, Route: s.Route}, Limits: rl.Owner},
	}
	if s.Tenant != "" {
		cs = append(cs,
			store.QuotaCheck{Scope: Scope{Kind: store.ScopeTenant, Tenant: s.Tenant}, Limits: p.Tenant},
			store.QuotaCheck{Scope: Scope{Kind: store.ScopeTenant, Tenant: s.Tenant, Route: s.Route}, Limits: rl.Tenant},
		)
	}
	return cs
}

// ErrExceeded is matched by every *ExceededError.
var ErrExceeded = store.ErrQuotaExceeded

// ExceededError is a refused reservation: which scope it would have
// overrun, its limits and what was left.
type ExceededError struct {
	Scope  Scope
	Limits Limits
	Used   Usage
	Size   int64 // the size the upload asked for
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("quota: %s quota exceeded (asked %d bytes; left %d bytes, %d files)",
		e.Scope.Kind, e.Size, e.Left().Bytes, e.Left().Files)
}

func (e *ExceededError) Is(target error) bool { return target == ErrExceeded }

// Left is what the scope had left: -1 in a dimension without a limit.
func (e *ExceededError) Left() Usage { return left(e.Limits, e.Used) }

// Never reports whether the upload could not fit even in an empty scope:
// it is larger than the scope's byte limit.
func (e *ExceededError) Never() bool { return e.Limits.Bytes > 0 && e.Size > e.Limits.Bytes }

func left(l Limits, u Usage) Usage {
	out := Usage{Bytes: -1, Files: -1}
	if l.Bytes > 0 {
		out.Bytes = max(l.Bytes-u.Bytes, 0)
	}
	if l.Files > 0 {
		out.Files = max(l.Files-u.Files, 0)
	}
	return out
}

// Manager applies a Policy to a store.
type Manager struct {
	ledger store.Quotas
	audit  store.AuditLog
	policy Policy
}

// New returns a Manager keeping usage in ledger. audit, when not nil,
// records every change of limits.
func New(ledger store.Quotas, audit store.AuditLog, p Policy) (*Manager, error) {
	if ledger == nil {
		return nil, errors.New("quota: a store keeping quota usage is required (store.Quotas)")
	}
	for _, l := range append([]Limits{p.Owner, p.Tenant}, routeLimits(p)...) {
		if l.Bytes < 0 || l.Files < 0 {
			return nil, errors.New("quota: limits must not be negative (0 means no limit)")
		}
	}
	return &Manager{ledger: ledger, audit: audit, policy: p}, nil
}

func routeLimits(p Policy) []Limits {
	var ls []Limits
	for _, r := range p.Routes {
		ls = append(ls, r.Owner, r.Tenant)
	}
	return ls
}

// Reserve counts size bytes and one file for upload id against every scope
// of s, or returns an *ExceededError and counts nothing. Reserving again
// for the same id changes nothing.
func (m *Manager) Reserve(ctx context.Context, id string, size int64, s Subject) error {
	err := m.ledger.Reserve(ctx, id, max(size, 0), m.policy.checks(s))
	var e *store.QuotaExceededError
	if errors.As(err, &e) {
		return &ExceededError{Scope: e.Scope, Limits: e.Limits, Used: e.Used, Size: size}
	}
	return err
}

// Settle replaces the size reserved for id by its final size.
func (m *Manager) Settle(ctx context.Context, id string, size int64) error {
	return m.ledger.Settle(ctx, id, size)
}

// Release gives back what id reserved.
func (m *Manager) Release(ctx context.Context, id string) error {
	return m.ledger.Release(ctx, id)
}

// ScopeReport is one scope's limits, usage and what is left (-1 where there
// is no limit).
type ScopeReport struct {
	Scope  Scope
	Limits Limits
	Used   Usage
	Left   Usage
}

// Report returns every scope s counts in, broadest first, with its limits
// in force (stored ones win over the policy's) and its usage.
func (m *Manager) Report(ctx context.Context, s Subject) ([]ScopeReport, error) {
	var out []ScopeReport
	for _, c := range m.policy.checks(s) {
		l := c.Limits
		stored, ok, err := m.ledger.QuotaLimits(ctx, c.Scope)
		if err != nil {
			return nil, err
		}
		if ok {
			l = stored
		}
		u, err := m.ledger.QuotaUsage(ctx, c.Scope)
		if err != nil {
			return nil, err
		}
		out = append(out, ScopeReport{Scope: c.Scope, Limits: l, Used: u, Left: left(l, u)})
	}
	return out, nil
}

// Set stores limits for one scope, replacing the policy's for it; nil goes
// back to the policy. actor (who changed it) is written to the audit log.
// Lowering a limit below what the scope holds refuses new uploads until
// enough is deleted; nothing stored is removed.
func (m *Manager) Set(ctx context.Context, scope Scope, limits *Limits, actor string) error {
	if !scope.Valid() {
		return errors.New("quota: invalid scope")
	}
	if limits != nil && (limits.Bytes < 0 || limits.Files < 0) {
		return errors.New("quota: limits must not be negative (0 means no limit)")
	}
	if err := m.ledger.SetQuotaLimits(ctx, scope, limits); err != nil {
		return err
	}
	if m.audit == nil {
		return nil
	}
	detail, _ := json.Marshal(struct {
		Scope  Scope   `json:"scope"`
		Limits *Limits `json:"limits"`
	}{scope, limits})
	return m.audit.AppendAudit(ctx, &store.AuditEvent{
		Action: store.AuditQuotaChanged, Actor: actor, Tenant: scope.Tenant,
		Subject: scope.String(), Detail: detail,
	})
}
