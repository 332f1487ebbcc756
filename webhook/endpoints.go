package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/carcosa-dev/carcosa/internal/tracing"
	"github.com/carcosa-dev/carcosa/store"
)

// Registration is a tenant's new endpoint.
type Registration struct {
	Tenant      string   // required: the endpoint receives this tenant's events
	URL         string   // http or https; public addresses only (checked on each delivery)
	Types       []string // the event types sent; none means all
	Description string
}

// ErrInvalid is returned for a Registration, or an argument, that cannot be
// used; the message names the field.
var ErrInvalid = errors.New("webhook: invalid")

// Register stores a new tenant endpoint, enabled, and returns it with its
// secret: the only time the secret is shown (the endpoint returned, like
// those Endpoints lists, has no Secrets).
func (d *Dispatcher) Register(ctx context.Context, r Registration) (*store.WebhookEndpoint, string, error) {
	if r.Tenant == "" {
		return nil, "", fmt.Errorf("%w: Tenant is empty", ErrInvalid)
	}
	if err := checkURL(r.URL); err != nil {
		return nil, "", fmt.Errorf("%w: URL: %v", ErrInvalid, err)
	}
	if err := checkTypes(r.Types); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	secret := NewSecret()
	ep := &store.WebhookEndpoint{
		ID: newID("ep_"), Tenant: r.Tenant, URL: r.URL, Secrets: []string{secret},
		Types: slices.Clone(r.Types), Description: r.Description, CreatedAt: time.Now(),
	}
	if err := d.store.CreateEndpoint(ctx, ep); err != nil {
		return nil, "", fmt.Errorf("webhook: storing endpoint: %w", err)
	}
	return redact(ep), secret, nil
}

// redact returns ep without its secrets.
func redact(ep *store.WebhookEndpoint) *store.WebhookEndpoint {
	c := *ep
	c.Secrets = nil
	c.Types = slices.Clone(ep.Types)
	return &c
}

// Endpoints lists the endpoints of tenant, oldest first, without their
// secrets; tenant "" lists every tenant's. The operator's are not listed.
func (d *Dispatcher) Endpoints(ctx context.Context, tenant string) ([]*store.WebhookEndpoint, error) {
	eps, err := d.store.ListEndpoints(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for i, ep := range eps {
		eps[i] = redact(ep)
	}
	return eps, nil
}

// DeleteEndpoint removes tenant endpoint id; its deliveries still queued
// are dropped and its log kept. It returns an error matching
// store.ErrNotFound when there is none.
func (d *Dispatcher) DeleteEndpoint(ctx context.Context, id string) error {
	return d.store.DeleteEndpoint(ctx, id)
}

// RotateSecret gives endpoint id a new secret and returns it (the only time
// it is shown). The previous secret still signs, beside the new one, for
// Options.RotationGrace, so that the receiver can switch without losing a
// delivery; one rotated earlier stops signing at once.
func (d *Dispatcher) RotateSecret(ctx context.Context, id string) (string, error) {
	secret := NewSecret()
	_, err := d.store.UpdateEndpoint(ctx, id, func(e *store.WebhookEndpoint) error {
		e.Secrets = append([]string{secret}, e.Secrets[:min(1, len(e.Secrets))]...)
		e.Rotating = time.Now().Add(d.grace)
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// SetEnabled enables or disables endpoint id: a tenant's (stored), or an
// operator's by its ID "config:<Name>" (until the process ends). A disabled
// endpoint is sent no new event, and its deliveries already queued end
// dead ("endpoint disabled"), to be replayed with ReplayDead once it is
// enabled again. It returns an error matching store.ErrNotFound when there
// is no such endpoint.
func (d *Dispatcher) SetEnabled(ctx context.Context, id string, enabled bool) error {
	if _, ok := d.operator[id]; ok {
		d.mu.Lock()
		defer d.mu.Unlock()
		if enabled {
			delete(d.disabled, id)
		} else {
			d.disabled[id] = true
		}
		return nil
	}
	_, err := d.store.UpdateEndpoint(ctx, id, func(e *store.WebhookEndpoint) error {
		e.Disabled = !enabled
		return nil
	})
	return err
}

// Deliveries lists logged delivery attempts, newest first, filtered by q.
func (d *Dispatcher) Deliveries(ctx context.Context, q store.DeliveryQuery) ([]*store.WebhookDelivery, error) {
	return d.store.ListDeliveries(ctx, q)
}

// Replay delivers event eventID to endpoint endpointID again, as a new
// delivery with the full schedule of attempts and the same webhook-id. It
// returns an error matching store.ErrNotFound when either is unknown.
func (d *Dispatcher) Replay(ctx context.Context, eventID, endpointID string) error {
	if _, err := d.store.GetEvent(ctx, eventID); err != nil {
		return fmt.Errorf("webhook: event %s: %w", eventID, err)
	}
	if _, err := d.target(ctx, endpointID); err != nil {
		return fmt.Errorf("webhook: endpoint %s: %w", endpointID, err)
	}
	return d.enqueue(ctx, delivery{Event: eventID, Endpoint: endpointID, Attempt: 1, Trace: tracing.Parent(ctx)}, time.Time{})
}

// maxReplay bounds the dead deliveries ReplayDead looks at in one call.
const maxReplay = 1000

// ReplayDead replays every dead delivery of endpoint endpointID (at most
// the 1,000 newest) whose event has not been delivered to it since, and
// returns how many it replayed.
func (d *Dispatcher) ReplayDead(ctx context.Context, endpointID string) (int, error) {
	dead, err := d.store.ListDeliveries(ctx, store.DeliveryQuery{EndpointID: endpointID, DeadOnly: true, Limit: maxReplay})
	if err != nil {
		return 0, err
	}
	n := 0
	seen := map[string]bool{}
	for _, del := range dead {
		if seen[del.EventID] {
			continue
		}
		seen[del.EventID] = true
		last, err := d.store.ListDeliveries(ctx, store.DeliveryQuery{EventID: del.EventID, EndpointID: endpointID, Limit: 1})
		if err != nil {
			return n, err
		}
		if len(last) == 0 || !last[0].Dead {
			continue // replayed already
		}
		if err := d.Replay(ctx, del.EventID, endpointID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
