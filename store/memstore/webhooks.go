package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

var _ store.Webhooks = (*Store)(nil)

// webhooks holds what store.Webhooks keeps, under its own lock.
type webhooks struct {
	mu         sync.Mutex
	endpoints  map[string]*store.WebhookEndpoint
	events     map[string]*store.WebhookEvent
	deliveries []*store.WebhookDelivery
	deliveryID map[string]bool // the IDs in deliveries
}

func cloneEndpoint(e *store.WebhookEndpoint) *store.WebhookEndpoint {
	c := *e
	c.Secrets = slices.Clone(e.Secrets)
	c.Types = slices.Clone(e.Types)
	return &c
}

func cloneWebhookEvent(e *store.WebhookEvent) *store.WebhookEvent {
	c := *e
	if e.Body != nil {
		c.Body = append(json.RawMessage(nil), e.Body...)
	}
	return &c
}

func cloneDelivery(d *store.WebhookDelivery) *store.WebhookDelivery {
	c := *d
	return &c
}

// CreateEndpoint implements store.Webhooks. It stores a copy of e, with
// the CreatedAt and UpdatedAt it lacks filled in; e is not modified.
func (s *Store) CreateEndpoint(ctx context.Context, e *store.WebhookEndpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.ID == "" {
		return errors.New("memstore: create endpoint: empty ID")
	}
	c := cloneEndpoint(e)
	t := now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = t
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	c.CreatedAt, c.UpdatedAt = normalize(c.CreatedAt), normalize(c.UpdatedAt)
	c.Rotating = normalizeOrZero(c.Rotating)
	w := &s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.endpoints[c.ID]; ok {
		return fmt.Errorf("memstore: create endpoint: %w", store.ErrExists)
	}
	w.endpoints[c.ID] = c
	return nil
}

// GetEndpoint implements store.Webhooks.
func (s *Store) GetEndpoint(ctx context.Context, id string) (*store.WebhookEndpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.endpoints[id]
	if !ok {
		return nil, fmt.Errorf("memstore: get endpoint: %w", store.ErrNotFound)
	}
	return cloneEndpoint(e), nil
}

// endpointCompare orders endpoints oldest first: by CreatedAt, then ID.
func endpointCompare(a, b *store.WebhookEndpoint) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// ListEndpoints implements store.Webhooks.
func (s *Store) ListEndpoints(ctx context.Context, tenant string) ([]*store.WebhookEndpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &s.wh
	w.mu.Lock()
	var out []*store.WebhookEndpoint
	for _, e := range w.endpoints {
		if tenant == "" || e.Tenant == tenant {
			out = append(out, cloneEndpoint(e))
		}
	}
	w.mu.Unlock()
	slices.SortFunc(out, endpointCompare)
	return out, nil
}

// UpdateEndpoint implements store.Webhooks. fn runs with the endpoints
// locked, so it must not call back into the store's webhooks.
func (s *Store) UpdateEndpoint(ctx context.Context, id string, fn func(e *store.WebhookEndpoint) error) (*store.WebhookEndpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	old, ok := w.endpoints[id]
	if !ok {
		return nil, fmt.Errorf("memstore: update endpoint: %w", store.ErrNotFound)
	}
	work := cloneEndpoint(old)
	if err := fn(work); err != nil {
		return nil, err
	}
	// Copy again so that fn cannot reach the stored endpoint through a
	// pointer it kept.
	c := cloneEndpoint(work)
	c.ID, c.Tenant, c.CreatedAt = old.ID, old.Tenant, old.CreatedAt
	c.Rotating = normalizeOrZero(c.Rotating)
	c.UpdatedAt = now()
	w.endpoints[id] = c
	return cloneEndpoint(c), nil
}

// DeleteEndpoint implements store.Webhooks.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.endpoints[id]; !ok {
		return fmt.Errorf("memstore: delete endpoint: %w", store.ErrNotFound)
	}
	delete(w.endpoints, id)
	return nil
}

// PutEvent implements store.Webhooks. It stores a copy of e, with the
// CreatedAt it lacks filled in; e is not modified.
func (s *Store) PutEvent(ctx context.Context, e *store.WebhookEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.ID == "" {
		return errors.New("memstore: put event: empty ID")
	}
	if e.Body != nil && !json.Valid(e.Body) {
		return errors.New("memstore: put event: body is not valid JSON")
	}
	c := cloneWebhookEvent(e)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	c.CreatedAt = normalize(c.CreatedAt)
	w := &s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.events[c.ID]; !ok {
		w.events[c.ID] = c
	}
	return nil
}

// GetEvent implements store.Webhooks.
func (s *Store) GetEvent(ctx context.Context, id string) (*store.WebhookEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.events[id]
	if !ok {
		return nil, fmt.Errorf("memstore: get event: %w", store.ErrNotFound)
	}
	return cloneWebhookEvent(e), nil
}

// AppendDelivery implements store.Webhooks. It sets d.ID and d.At when
// they are empty, and stores a copy of d.
func (s *Store) AppendDelivery(ctx context.Context, d *store.WebhookDelivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.EventID == "" {
		return errors.New("memstore: append delivery: empty event ID")
	}
	w := &s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	id := d.ID
	if id == "" {
		id = ledger.NewID()
	}
	if w.deliveryID[id] {
		return fmt.Errorf("memstore: append delivery: %w", store.ErrExists)
	}
	if d.At.IsZero() {
		d.At = now()
	}
	d.ID = id
	c := cloneDelivery(d)
	c.At = normalize(c.At)
	w.deliveryID[id] = true
	w.deliveries = append(w.deliveries, c)
	return nil
}

// deliveryCompare orders deliveries newest first: by At, then ID,
// descending.
func deliveryCompare(a, b *store.WebhookDelivery) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// ListDeliveries implements store.Webhooks.
func (s *Store) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*store.WebhookDelivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("memstore: list deliveries: %w", err)
	}
	w := &s.wh
	w.mu.Lock()
	var out []*store.WebhookDelivery
	for _, d := range w.deliveries {
		if q.EventID != "" && d.EventID != q.EventID ||
			q.EndpointID != "" && d.EndpointID != q.EndpointID ||
			q.DeadOnly && !d.Dead ||
			!q.Before.IsZero() && !d.At.Before(q.Before) {
			continue
		}
		if q.Tenant != "" {
			if e, ok := w.events[d.EventID]; !ok || e.Tenant != q.Tenant {
				continue
			}
		}
		out = append(out, cloneDelivery(d))
	}
	w.mu.Unlock()
	slices.SortFunc(out, deliveryCompare)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
