// Package memstore is an in-memory store.Store, for tests and for
// single-process deployments that do not need records to survive a restart.
//
// Records are deep-copied on the way in and on the way out, so callers can
// never alias the stored state. Storage keys are unique among records that
// have one, as in the SQLite store.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex
	byID  map[string]*store.Upload
	byKey map[string]string // non-empty Key → ID

	// The ledger (ledger.go): quotas, API keys and the audit log, under
	// ledgerMu.
	ledgerMu     sync.Mutex
	usage        map[string]store.QuotaUsage  // by scope key
	limits       map[string]store.QuotaLimits // by scope key
	reservations map[string]map[string]int64  // upload ID → scope key → bytes
	keys         map[string]*store.APIKey
	audit        []*store.AuditEvent
	auditIDs     map[string]bool

	// Webhook endpoints, events and deliveries (webhooks.go), under
	// wh.mu.
	wh webhooks
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		byID:         make(map[string]*store.Upload),
		byKey:        make(map[string]string),
		usage:        make(map[string]store.QuotaUsage),
		limits:       make(map[string]store.QuotaLimits),
		reservations: make(map[string]map[string]int64),
		keys:         make(map[string]*store.APIKey),
		auditIDs:     make(map[string]bool),
		wh: webhooks{
			endpoints:  make(map[string]*store.WebhookEndpoint),
			events:     make(map[string]*store.WebhookEvent),
			deliveryID: make(map[string]bool),
		},
	}
}

// now is the store's clock. Times are kept in UTC without a monotonic
// reading so that they compare the same way as times read back from disk.
func now() time.Time { return time.Now().UTC().Round(0) }

func normalize(t time.Time) time.Time { return t.UTC().Round(0) }

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, u *store.Upload) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.ID == "" {
		return errors.New("memstore: create: empty ID")
	}
	if !u.State.Valid() {
		return errors.New("memstore: create: invalid state")
	}
	c := u.Clone()
	t := now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = t
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = t
	}
	c.CreatedAt = normalize(c.CreatedAt)
	c.UpdatedAt = normalize(c.UpdatedAt)

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[c.ID]; ok {
		return fmt.Errorf("memstore: create: %w", store.ErrExists)
	}
	if c.Key != "" {
		if _, ok := s.byKey[c.Key]; ok {
			return fmt.Errorf("memstore: create: key: %w", store.ErrExists)
		}
		s.byKey[c.Key] = c.ID
	}
	s.byID[c.ID] = c
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (*store.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("memstore: get: %w", store.ErrNotFound)
	}
	return u.Clone(), nil
}

// GetByKey implements store.Store. The empty key never matches, since
// records without a storage key are not indexed.
func (s *Store) GetByKey(ctx context.Context, key string) (*store.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byKey[key]
	if !ok || key == "" {
		return nil, fmt.Errorf("memstore: get by key: %w", store.ErrNotFound)
	}
	return s.byID[id].Clone(), nil
}

// Update implements store.Store. fn runs with the store locked, so it must
// not call back into the store.
func (s *Store) Update(ctx context.Context, id string, fn func(u *store.Upload) error) (*store.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("memstore: update: %w", store.ErrNotFound)
	}
	work := old.Clone()
	if err := fn(work); err != nil {
		return nil, err
	}
	// Copy again so that fn cannot reach the stored record through a
	// pointer it kept.
	c := work.Clone()
	c.ID = old.ID
	c.CreatedAt = old.CreatedAt
	if !store.CanTransition(old.State, c.State) {
		return nil, fmt.Errorf("memstore: update: %q to %q: %w", old.State, c.State, store.ErrTransition)
	}
	if c.Key != old.Key && c.Key != "" {
		if _, taken := s.byKey[c.Key]; taken {
			return nil, fmt.Errorf("memstore: update: key: %w", store.ErrExists)
		}
	}
	c.UpdatedAt = now()

	if old.Key != c.Key {
		if old.Key != "" {
			delete(s.byKey, old.Key)
		}
		if c.Key != "" {
			s.byKey[c.Key] = c.ID
		}
	}
	s.byID[c.ID] = c
	return c.Clone(), nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("memstore: delete: %w", store.ErrNotFound)
	}
	if u.Key != "" {
		delete(s.byKey, u.Key)
	}
	delete(s.byID, id)
	return nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q store.Query) ([]*store.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q, err := q.Check()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []*store.Upload
	for _, u := range s.byID {
		if q.State != "" && u.State != q.State ||
			q.Owner != "" && u.Owner != q.Owner ||
			q.Tenant != "" && u.Tenant != q.Tenant ||
			q.Route != "" && u.Route != q.Route {
			continue
		}
		if !q.UpdatedBefore.IsZero() && !u.UpdatedAt.Before(q.UpdatedBefore) {
			continue
		}
		if !q.After.IsZero() && !q.After.Less(u.Cursor()) {
			continue
		}
		out = append(out, u.Clone())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *store.Upload) int {
		switch {
		case a.Cursor().Less(b.Cursor()):
			return -1
		case b.Cursor().Less(a.Cursor()):
			return 1
		}
		return 0
	})
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context) ([]store.Stat, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type group struct{ bucket, route string }
	s.mu.RLock()
	byGroup := make(map[group]*store.Stat)
	for _, u := range s.byID {
		if u.State != store.Ready {
			continue
		}
		g := group{u.Bucket, u.Route}
		st := byGroup[g]
		if st == nil {
			st = &store.Stat{Bucket: u.Bucket, Route: u.Route}
			byGroup[g] = st
		}
		st.Files++
		st.Bytes += u.Size
	}
	s.mu.RUnlock()
	out := make([]store.Stat, 0, len(byGroup))
	for _, st := range byGroup {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b store.Stat) int {
		if c := strings.Compare(a.Bucket, b.Bucket); c != 0 {
			return c
		}
		return strings.Compare(a.Route, b.Route)
	})
	return out, nil
}

// Close implements store.Store. It holds no resources, so the store stays
// usable afterwards.
func (s *Store) Close() error { return nil }
