package webhook

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// memoryLog is the store.Webhooks of a Dispatcher given none: events and
// deliveries kept in the process's memory, the oldest forgotten past
// memoryLimit, so that memory stays bounded. Tenant endpoints need a Store.
type memoryLog struct {
	mu         sync.Mutex
	endpoints  map[string]*store.WebhookEndpoint
	events     map[string]*store.WebhookEvent
	eventOrder []string
	deliveries []*store.WebhookDelivery // oldest first
	lastID     int
}

// memoryLimit bounds the events and the deliveries a memoryLog keeps.
const memoryLimit = 10_000

func newMemoryLog() *memoryLog {
	return &memoryLog{endpoints: map[string]*store.WebhookEndpoint{}, events: map[string]*store.WebhookEvent{}}
}

var _ store.Webhooks = (*memoryLog)(nil)

func cloneEndpoint(e *store.WebhookEndpoint) *store.WebhookEndpoint {
	c := *e
	c.Secrets = slices.Clone(e.Secrets)
	c.Types = slices.Clone(e.Types)
	return &c
}

func (m *memoryLog) CreateEndpoint(ctx context.Context, e *store.WebhookEndpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.endpoints[e.ID] != nil {
		return store.ErrExists
	}
	c := cloneEndpoint(e)
	c.UpdatedAt = time.Now()
	m.endpoints[e.ID] = c
	return nil
}

func (m *memoryLog) GetEndpoint(ctx context.Context, id string) (*store.WebhookEndpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.endpoints[id]
	if e == nil {
		return nil, store.ErrNotFound
	}
	return cloneEndpoint(e), nil
}

func (m *memoryLog) ListEndpoints(ctx context.Context, tenant string) ([]*store.WebhookEndpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*store.WebhookEndpoint
	for _, e := range m.endpoints {
		if tenant == "" || e.Tenant == tenant {
			out = append(out, cloneEndpoint(e))
		}
	}
	slices.SortFunc(out, func(a, b *store.WebhookEndpoint) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (m *memoryLog) UpdateEndpoint(ctx context.Context, id string, fn func(e *store.WebhookEndpoint) error) (*store.WebhookEndpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.endpoints[id]
	if old == nil {
		return nil, store.ErrNotFound
	}
	c := cloneEndpoint(old)
	if err := fn(c); err != nil {
		return nil, err
	}
	c.ID, c.Tenant, c.CreatedAt, c.UpdatedAt = old.ID, old.Tenant, old.CreatedAt, time.Now()
	m.endpoints[id] = c
	return cloneEndpoint(c), nil
}

func (m *memoryLog) DeleteEndpoint(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.endpoints[id] == nil {
		return store.ErrNotFound
	}
	delete(m.endpoints, id)
	return nil
}

func (m *memoryLog) PutEvent(ctx context.Context, e *store.WebhookEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events[e.ID] != nil {
		return nil
	}
	if len(m.eventOrder) == memoryLimit {
		delete(m.events, m.eventOrder[0])
		m.eventOrder = slices.Delete(m.eventOrder, 0, 1)
	}
	c := *e
	c.Body = slices.Clone(e.Body)
	m.events[e.ID] = &c
	m.eventOrder = append(m.eventOrder, e.ID)
	return nil
}

func (m *memoryLog) GetEvent(ctx context.Context, id string) (*store.WebhookEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.events[id]
	if e == nil {
		return nil, store.ErrNotFound
	}
	c := *e
	return &c, nil
}

func (m *memoryLog) AppendDelivery(ctx context.Context, d *store.WebhookDelivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d.ID == "" {
		m.lastID++
		d.ID = strconv.Itoa(m.lastID)
	}
	if len(m.deliveries) == memoryLimit {
		m.deliveries = slices.Delete(m.deliveries, 0, 1)
	}
	c := *d
	m.deliveries = append(m.deliveries, &c)
	return nil
}

func (m *memoryLog) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*store.WebhookDelivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []*store.WebhookDelivery
	for i := len(m.deliveries) - 1; i >= 0 && len(out) < limit; i-- {
		d := m.deliveries[i]
		switch {
		case q.EventID != "" && d.EventID != q.EventID,
			q.EndpointID != "" && d.EndpointID != q.EndpointID,
			q.DeadOnly && !d.Dead,
			!q.Before.IsZero() && !d.At.Before(q.Before):
			continue
		case q.Tenant != "":
			if e := m.events[d.EventID]; e == nil || e.Tenant != q.Tenant {
				continue
			}
		}
		c := *d
		out = append(out, &c)
	}
	return out, nil
}
