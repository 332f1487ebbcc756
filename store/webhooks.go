package store

import (
	"context"
	"encoding/json"
	"time"
)

// Webhooks keeps what webhook delivery needs to outlive a process: the
// endpoints tenants register, every event sent (so that a dead delivery
// can be replayed), and the log of every delivery attempt. It is an
// optional interface of a Store, as Quotas is; the built-in Stores
// implement it, and storetest runs its conformance tests.
type Webhooks interface {
	// CreateEndpoint stores a new endpoint. ErrExists when its ID is taken.
	CreateEndpoint(ctx context.Context, e *WebhookEndpoint) error

	// GetEndpoint returns endpoint id; ErrNotFound when there is none.
	GetEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error)

	// ListEndpoints lists the endpoints of tenant, oldest first. With
	// tenant "" it lists every tenant's.
	ListEndpoints(ctx context.Context, tenant string) ([]*WebhookEndpoint, error)

	// UpdateEndpoint changes endpoint id through fn, atomically, and
	// returns it as stored; ErrNotFound when there is none. An error from
	// fn is returned as is and nothing is written. ID, Tenant and
	// CreatedAt cannot change; UpdatedAt is set by the Store.
	UpdateEndpoint(ctx context.Context, id string, fn func(e *WebhookEndpoint) error) (*WebhookEndpoint, error)

	// DeleteEndpoint removes endpoint id; ErrNotFound when there is none.
	// Its deliveries stay in the log.
	DeleteEndpoint(ctx context.Context, id string) error

	// PutEvent stores an event, once: storing an ID again is a no-op that
	// keeps the first.
	PutEvent(ctx context.Context, e *WebhookEvent) error

	// GetEvent returns event id; ErrNotFound when there is none.
	GetEvent(ctx context.Context, id string) (*WebhookEvent, error)

	// AppendDelivery logs one delivery attempt. The Store sets ID, and At,
	// in d when they are empty; an ID already in the log is ErrExists.
	AppendDelivery(ctx context.Context, d *WebhookDelivery) error

	// ListDeliveries lists logged attempts, newest first (by At, then ID),
	// filtered by q. A q.Limit outside 0 to MaxLimit is an error, not
	// clamped.
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]*WebhookDelivery, error)
}

// WebhookEndpoint is an endpoint a tenant registered for webhooks.
type WebhookEndpoint struct {
	ID     string
	Tenant string
	URL    string
	// Secrets sign deliveries, "whsec_<base64>", newest first; there are
	// two while a secret is being rotated (both sign every delivery until
	// Rotating passes).
	Secrets  []string
	Rotating time.Time // until when Secrets[1:] still sign; zero: they don't
	// Types are the event types the endpoint receives ("upload.ready",
	// …); none means all.
	Types       []string
	Disabled    bool
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// WebhookEvent is one event as it is sent: its ID (the webhook-id header,
// the same on every attempt), type, tenant and JSON body.
type WebhookEvent struct {
	ID        string
	Type      string
	Tenant    string
	Body      json.RawMessage
	CreatedAt time.Time
}

// WebhookDelivery is one attempt to deliver an event to an endpoint.
type WebhookDelivery struct {
	ID         string
	EventID    string
	EndpointID string // a stored endpoint's ID, or "config:<name>" for an operator's
	Attempt    int    // from 1
	StatusCode int    // the response's, 0 when none came
	Latency    time.Duration
	Error      string // why the attempt failed, "" when it succeeded
	// Dead marks the last attempt of a delivery that failed: no more
	// attempts are made unless it is replayed.
	Dead bool
	At   time.Time
}

// DeliveryQuery filters ListDeliveries. Zero fields do not filter.
type DeliveryQuery struct {
	EventID    string
	EndpointID string
	Tenant     string    // deliveries of the tenant's events
	DeadOnly   bool      // only attempts marked Dead
	Before     time.Time // only attempts made before it
	// Limit is the most attempts to return: 1 to MaxLimit (1000); 0 means
	// DefaultLimit (100). Any other value makes ListDeliveries fail.
	Limit int
}
