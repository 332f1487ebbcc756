package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// This file declares what a Store may keep besides upload records: quota
// usage, API keys and an audit log. Each is an optional interface; the
// memstore, sqlite and postgres Stores implement all three, and the Router
// asks for one only when a feature needs it.

// Quota scope kinds.
const (
	ScopeOwner  = "owner"
	ScopeTenant = "tenant"
)

// QuotaScope names what a quota counts against: one owner's or one
// tenant's files, on every route (Route "") or on one route. An owner is
// counted within its tenant: the same owner name in two tenants is two
// scopes.
type QuotaScope struct {
	Kind   string `json:"kind"`             // ScopeOwner or ScopeTenant
	Tenant string `json:"tenant,omitempty"` // the tenant; "" for none
	Owner  string `json:"owner,omitempty"`  // the owner, when Kind is ScopeOwner
	Route  string `json:"route,omitempty"`  // "" for every route
}

// Valid reports whether s names a scope.
func (s QuotaScope) Valid() bool {
	switch s.Kind {
	case ScopeOwner:
		return true
	case ScopeTenant:
		return s.Owner == ""
	}
	return false
}

// String is s in a stable text form, usable as a key.
func (s QuotaScope) String() string {
	b, _ := json.Marshal([]string{s.Kind, s.Tenant, s.Owner, s.Route})
	return string(b)
}

// QuotaLimits bounds a scope. Zero means no limit.
type QuotaLimits struct {
	Bytes int64 `json:"bytes"` // total bytes of the scope's files, reserved or stored
	Files int64 `json:"files"` // number of the scope's files, reserved or stored
}

// QuotaUsage is what a scope holds: files being uploaded count at their
// reserved size, stored ones at their size.
type QuotaUsage struct {
	Bytes int64 `json:"bytes"`
	Files int64 `json:"files"`
}

// QuotaCheck is one scope a reservation counts against, with the limits
// that apply to it unless limits were stored for the scope with
// SetQuotaLimits (those win).
type QuotaCheck struct {
	Scope  QuotaScope
	Limits QuotaLimits
}

// ErrSettleGrows is returned by Quotas.Settle for a final size larger
// than what was reserved.
var ErrSettleGrows = errors.New("store: settled size exceeds the reservation")

// ErrQuotaExceeded is matched by every *QuotaExceededError.
var ErrQuotaExceeded = errors.New("store: quota exceeded")

// QuotaExceededError says which scope a reservation would have overrun.
type QuotaExceededError struct {
	Scope  QuotaScope
	Limits QuotaLimits // the limits in force
	Used   QuotaUsage  // the usage before the refused reservation
}

func (e *QuotaExceededError) Error() string {
	return fmt.Sprintf("store: quota exceeded for %s (limits %d bytes, %d files; used %d bytes, %d files)",
		e.Scope, e.Limits.Bytes, e.Limits.Files, e.Used.Bytes, e.Used.Files)
}

func (e *QuotaExceededError) Is(target error) bool { return target == ErrQuotaExceeded }

// Quotas keeps quota usage. Every method is atomic, and correct with many
// callers in many processes at once (where the backend is shared).
type Quotas interface {
	// Reserve counts size bytes and one file, for the upload id, against
	// every scope of checks, all or none: when any scope would go over its
	// limits, nothing is counted and a *QuotaExceededError for the first
	// such scope (in the order of checks) is returned. Reserving again for
	// an id that holds a reservation changes nothing and returns nil.
	// size must be >= 0.
	Reserve(ctx context.Context, id string, size int64, checks []QuotaCheck) error

	// Settle replaces the size reserved for id by its final size, in every
	// scope it was reserved in. A reservation is the most its upload may
	// take, so settling never adds to a scope's usage: a final size above
	// the reservation is refused with ErrSettleGrows and changes nothing.
	// An id with no reservation is not an error.
	Settle(ctx context.Context, id string, size int64) error

	// Release gives back everything reserved for id. Releasing an id with
	// no reservation is not an error.
	Release(ctx context.Context, id string) error

	// QuotaUsage returns what scope holds; zero for a scope never used.
	QuotaUsage(ctx context.Context, scope QuotaScope) (QuotaUsage, error)

	// SetQuotaLimits stores limits for scope that replace the limits its
	// checks carry; nil removes them.
	SetQuotaLimits(ctx context.Context, scope QuotaScope, limits *QuotaLimits) error

	// QuotaLimits returns the limits stored for scope, and false when none
	// are.
	QuotaLimits(ctx context.Context, scope QuotaScope) (QuotaLimits, bool, error)
}

// APIKey is the record of an API key. The secret itself is never stored,
// only its SHA-256.
type APIKey struct {
	ID     string   // public, unique; the lookup prefix embedded in the secret
	Hash   []byte   // SHA-256 of the whole secret
	Name   string   // a label for people
	Owner  string   // the identity the key acts as
	Tenant string   // the tenant it belongs to; "" for none
	Routes []string // the routes it may be used on; nil or empty for all

	CreatedAt  time.Time
	ExpiresAt  time.Time // zero for never
	LastUsedAt time.Time // zero until first used
	RevokedAt  time.Time // zero unless revoked
}

// KeyQuery selects keys for ListKeys.
type KeyQuery struct {
	Tenant string // "" for every tenant
	Owner  string // "" for every owner
	After  string // the ID of the last key of the previous page
	Limit  int    // 1 to MaxLimit; 0 means DefaultLimit
}

// Keys keeps API keys.
type Keys interface {
	// CreateKey stores a copy of k; ErrExists when its ID is taken.
	// CreatedAt is set by the store when zero.
	CreateKey(ctx context.Context, k *APIKey) error

	// GetKey returns the key with the given ID, or ErrNotFound.
	GetKey(ctx context.Context, id string) (*APIKey, error)

	// ListKeys returns keys ordered by ID, revoked ones included.
	ListKeys(ctx context.Context, q KeyQuery) ([]*APIKey, error)

	// RevokeKey marks the key revoked at t. Revoking a revoked key keeps
	// the first time. ErrNotFound when there is no such key.
	RevokeKey(ctx context.Context, id string, t time.Time) error

	// TouchKey records a use of the key at t: LastUsedAt becomes t unless
	// it is already later. ErrNotFound when there is no such key.
	TouchKey(ctx context.Context, id string, t time.Time) error
}

// Audit actions the Router records.
const (
	AuditKeyCreated         = "key.created"
	AuditKeyRevoked         = "key.revoked"
	AuditFileDeleted        = "file.deleted"
	AuditFileRenamed        = "file.renamed"
	AuditQuarantineReleased = "quarantine.released"
	AuditQuarantineDeleted  = "quarantine.deleted"
	AuditQuotaChanged       = "quota.changed"
)

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	ID      string          // unique; set by the store when empty
	Time    time.Time       // set by the store when zero
	Action  string          // one of the Audit* constants, or the caller's own
	Actor   string          // who did it: an owner, "key:<id>", "server" for the Go API
	Tenant  string          // the tenant concerned; "" for none
	Subject string          // what it was done to: an upload ID, a key ID, a quota scope
	Detail  json.RawMessage // more, as JSON; may be nil
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	Action  string    // "" for every action
	Tenant  string    // "" for every tenant
	Subject string    // "" for every subject
	Since   time.Time // when not zero, only events at or after it
	Before  AuditCursor
	Limit   int // 1 to MaxLimit; 0 means DefaultLimit
}

// AuditCursor is a position in the audit log's order (newest first): pass
// the cursor of a page's last event to get the next page.
type AuditCursor struct {
	Time time.Time
	ID   string
}

// Cursor is e's position in the audit log's order.
func (e *AuditEvent) Cursor() AuditCursor { return AuditCursor{Time: e.Time, ID: e.ID} }

// AuditLog keeps the audit log. Events are never changed once appended.
type AuditLog interface {
	AppendAudit(ctx context.Context, e *AuditEvent) error
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditEvent, error)
}
