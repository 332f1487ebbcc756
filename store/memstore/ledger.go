package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

var (
	_ store.Quotas   = (*Store)(nil)
	_ store.Keys     = (*Store)(nil)
	_ store.AuditLog = (*Store)(nil)
)

// Reserve implements store.Quotas.
func (s *Store) Reserve(ctx context.Context, id string, size int64, checks []store.QuotaCheck) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ledger.CheckReserve(id, size, checks); err != nil {
		return fmt.Errorf("memstore: reserve: %w", err)
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	if _, ok := s.reservations[id]; ok || len(checks) == 0 {
		return nil
	}
	if err := ledger.Exceeded(checks, size, s.usage, s.limits); err != nil {
		return err
	}
	r := make(map[string]int64, len(checks))
	for _, c := range checks {
		k := c.Scope.String()
		u := s.usage[k]
		u.Bytes += size
		u.Files++
		s.usage[k] = u
		r[k] = size
	}
	s.reservations[id] = r
	return nil
}

// Settle implements store.Quotas.
func (s *Store) Settle(ctx context.Context, id string, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if size < 0 {
		return errors.New("memstore: settle: negative size")
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	r := s.reservations[id]
	for _, reserved := range r {
		if size > reserved {
			return fmt.Errorf("memstore: settle %d bytes over a reservation of %d: %w", size, reserved, store.ErrSettleGrows)
		}
	}
	for k, reserved := range r {
		u := s.usage[k]
		u.Bytes = max(u.Bytes+size-reserved, 0)
		s.usage[k] = u
		r[k] = size
	}
	return nil
}

// Release implements store.Quotas.
func (s *Store) Release(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	for k, reserved := range s.reservations[id] {
		u := s.usage[k]
		u.Bytes = max(u.Bytes-reserved, 0)
		u.Files = max(u.Files-1, 0)
		s.usage[k] = u
	}
	delete(s.reservations, id)
	return nil
}

// QuotaUsage implements store.Quotas.
func (s *Store) QuotaUsage(ctx context.Context, scope store.QuotaScope) (store.QuotaUsage, error) {
	if err := ctx.Err(); err != nil {
		return store.QuotaUsage{}, err
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	return s.usage[scope.String()], nil
}

// SetQuotaLimits implements store.Quotas.
func (s *Store) SetQuotaLimits(ctx context.Context, scope store.QuotaScope, limits *store.QuotaLimits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !scope.Valid() {
		return errors.New("memstore: set quota limits: invalid scope")
	}
	if limits != nil {
		if err := ledger.CheckLimits(*limits); err != nil {
			return fmt.Errorf("memstore: set quota limits: %w", err)
		}
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	if limits == nil {
		delete(s.limits, scope.String())
	} else {
		s.limits[scope.String()] = *limits
	}
	return nil
}

// QuotaLimits implements store.Quotas.
func (s *Store) QuotaLimits(ctx context.Context, scope store.QuotaScope) (store.QuotaLimits, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.QuotaLimits{}, false, err
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	l, ok := s.limits[scope.String()]
	return l, ok, nil
}

func cloneKey(k *store.APIKey) *store.APIKey {
	c := *k
	c.Hash = slices.Clone(k.Hash)
	c.Routes = slices.Clone(k.Routes)
	return &c
}

// CreateKey implements store.Keys.
func (s *Store) CreateKey(ctx context.Context, k *store.APIKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.ID == "" {
		return errors.New("memstore: create key: empty ID")
	}
	c := cloneKey(k)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	c.CreatedAt, c.ExpiresAt = normalizeOrZero(c.CreatedAt), normalizeOrZero(c.ExpiresAt)
	c.LastUsedAt, c.RevokedAt = normalizeOrZero(c.LastUsedAt), normalizeOrZero(c.RevokedAt)
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	if _, ok := s.keys[c.ID]; ok {
		return fmt.Errorf("memstore: create key: %w", store.ErrExists)
	}
	s.keys[c.ID] = c
	return nil
}

// normalizeOrZero is normalize, keeping the zero time zero.
func normalizeOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return normalize(t)
}

// GetKey implements store.Keys.
func (s *Store) GetKey(ctx context.Context, id string) (*store.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, fmt.Errorf("memstore: get key: %w", store.ErrNotFound)
	}
	return cloneKey(k), nil
}

// ListKeys implements store.Keys.
func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) ([]*store.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("memstore: list keys: %w", err)
	}
	s.ledgerMu.Lock()
	var out []*store.APIKey
	for _, k := range s.keys {
		if q.Tenant != "" && k.Tenant != q.Tenant || q.Owner != "" && k.Owner != q.Owner || k.ID <= q.After {
			continue
		}
		out = append(out, cloneKey(k))
	}
	s.ledgerMu.Unlock()
	slices.SortFunc(out, func(a, b *store.APIKey) int { return strings.Compare(a.ID, b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// RevokeKey implements store.Keys.
func (s *Store) RevokeKey(ctx context.Context, id string, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.IsZero() {
		return errors.New("memstore: revoke key: zero time")
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("memstore: revoke key: %w", store.ErrNotFound)
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = normalizeOrZero(t)
	}
	return nil
}

// TouchKey implements store.Keys.
func (s *Store) TouchKey(ctx context.Context, id string, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.IsZero() {
		return errors.New("memstore: touch key: zero time")
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("memstore: touch key: %w", store.ErrNotFound)
	}
	if t = normalizeOrZero(t); t.After(k.LastUsedAt) {
		k.LastUsedAt = t
	}
	return nil
}

func cloneEvent(e *store.AuditEvent) *store.AuditEvent {
	c := *e
	if e.Detail != nil {
		c.Detail = append(json.RawMessage(nil), e.Detail...)
	}
	return &c
}

// auditCompare orders events newest first: by Time, then ID, descending.
func auditCompare(a, b store.AuditCursor) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// AppendAudit implements store.AuditLog. It stores a copy of e, with the
// ID and Time it lacks filled in; e itself is not modified.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ledger.CheckDetail(e.Detail); err != nil {
		return fmt.Errorf("memstore: append audit: %w", err)
	}
	c := cloneEvent(e)
	if c.ID == "" {
		c.ID = ledger.NewID()
	}
	if c.Time.IsZero() {
		c.Time = now()
	}
	c.Time = normalize(c.Time)
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	if s.auditIDs[c.ID] {
		return fmt.Errorf("memstore: append audit: %w", store.ErrExists)
	}
	s.auditIDs[c.ID] = true
	s.audit = append(s.audit, c)
	return nil
}

// ListAudit implements store.AuditLog.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("memstore: list audit: %w", err)
	}
	before := q.Before.ID != "" || !q.Before.Time.IsZero()
	s.ledgerMu.Lock()
	var out []*store.AuditEvent
	for _, e := range s.audit {
		if q.Action != "" && e.Action != q.Action ||
			q.Tenant != "" && e.Tenant != q.Tenant ||
			q.Subject != "" && e.Subject != q.Subject ||
			!q.Since.IsZero() && e.Time.Before(q.Since) ||
			before && auditCompare(q.Before, e.Cursor()) >= 0 {
			continue
		}
		out = append(out, cloneEvent(e))
	}
	s.ledgerMu.Unlock()
	slices.SortFunc(out, func(a, b *store.AuditEvent) int { return auditCompare(a.Cursor(), b.Cursor()) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
