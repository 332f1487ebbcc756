package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

// Webhook endpoints, events and deliveries live in the tables
// webhook_endpoints, webhook_events and webhook_deliveries. An endpoint's
// Secrets and Types are kept as JSON arrays. UpdateEndpoint runs in one
// write transaction (inWriteTx, BEGIN IMMEDIATE), so it is atomic against
// other Stores and processes on the same file.

var _ store.Webhooks = (*Store)(nil)

const endpointColumns = `id, tenant, url, secrets, rotating, types, disabled, description, created_at, updated_at`

func scanEndpoint(row interface{ Scan(...any) error }) (*store.WebhookEndpoint, error) {
	var (
		e                    store.WebhookEndpoint
		secrets, types       string
		rotating             sql.NullInt64
		createdAt, updatedAt int64
	)
	if err := row.Scan(&e.ID, &e.Tenant, &e.URL, &secrets, &rotating, &types, &e.Disabled, &e.Description, &createdAt, &updatedAt); err != nil {
		return nil, err
	}
	var err error
	if e.Secrets, err = ledger.DecodeStrings(secrets); err != nil {
		return nil, err
	}
	if e.Types, err = ledger.DecodeStrings(types); err != nil {
		return nil, err
	}
	e.Rotating = fromNull(rotating)
	e.CreatedAt = time.Unix(0, createdAt).UTC()
	e.UpdatedAt = time.Unix(0, updatedAt).UTC()
	return &e, nil
}

// CreateEndpoint implements store.Webhooks. The CreatedAt and UpdatedAt
// that e lacks are filled in on a copy; e is not modified.
func (s *Store) CreateEndpoint(ctx context.Context, e *store.WebhookEndpoint) error {
	if e.ID == "" {
		return errors.New("sqlite: create endpoint: empty ID")
	}
	created, updated := e.CreatedAt, e.UpdatedAt
	if created.IsZero() {
		created = time.Now()
	}
	if updated.IsZero() {
		updated = created
	}
	if !representable(created) || !representable(updated) || !e.Rotating.IsZero() && !representable(e.Rotating) {
		return errors.New("sqlite: create endpoint: time out of range")
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Tenant, e.URL, ledger.EncodeStrings(e.Secrets), nullTime(e.Rotating), ledger.EncodeStrings(e.Types),
		e.Disabled, e.Description, created.UnixNano(), updated.UnixNano())
	if isUnique(err) {
		return fmt.Errorf("sqlite: create endpoint: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create endpoint: %w", err)
	}
	return nil
}

// GetEndpoint implements store.Webhooks.
func (s *Store) GetEndpoint(ctx context.Context, id string) (*store.WebhookEndpoint, error) {
	e, err := scanEndpoint(s.db.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get endpoint: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get endpoint: %w", err)
	}
	return e, nil
}

// ListEndpoints implements store.Webhooks.
func (s *Store) ListEndpoints(ctx context.Context, tenant string) ([]*store.WebhookEndpoint, error) {
	cond, args := "", []any(nil)
	if tenant != "" {
		cond, args = ` WHERE tenant = ?`, []any{tenant}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints`+cond+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list endpoints: %w", err)
	}
	defer rows.Close()
	var out []*store.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list endpoints: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list endpoints: %w", err)
	}
	return out, nil
}

func cloneEndpoint(e *store.WebhookEndpoint) *store.WebhookEndpoint {
	c := *e
	c.Secrets = slices.Clone(e.Secrets)
	c.Types = slices.Clone(e.Types)
	return &c
}

// UpdateEndpoint implements store.Webhooks. fn runs inside the write
// transaction, so it should be quick, and must not write to this Store,
// which would wait for the transaction fn is part of.
func (s *Store) UpdateEndpoint(ctx context.Context, id string, fn func(e *store.WebhookEndpoint) error) (*store.WebhookEndpoint, error) {
	var out *store.WebhookEndpoint
	err := s.inWriteTx(ctx, func(conn *sql.Conn) error {
		old, err := scanEndpoint(conn.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: update endpoint: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update endpoint: read: %w", err)
		}
		work := cloneEndpoint(old)
		if err := fn(work); err != nil {
			return err
		}
		// Copy so that a pointer fn kept cannot change what is returned.
		c := cloneEndpoint(work)
		c.ID, c.Tenant, c.CreatedAt = old.ID, old.Tenant, old.CreatedAt
		if !c.Rotating.IsZero() && !representable(c.Rotating) {
			return errors.New("sqlite: update endpoint: time out of range")
		}
		c.UpdatedAt = time.Now().UTC()
		_, err = conn.ExecContext(ctx, `UPDATE webhook_endpoints SET
			url = ?, secrets = ?, rotating = ?, types = ?, disabled = ?, description = ?, updated_at = ?
			WHERE id = ?`,
			c.URL, ledger.EncodeStrings(c.Secrets), nullTime(c.Rotating), ledger.EncodeStrings(c.Types), c.Disabled, c.Description,
			c.UpdatedAt.UnixNano(), c.ID)
		if err != nil {
			return fmt.Errorf("sqlite: update endpoint: write: %w", err)
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteEndpoint implements store.Webhooks.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	res, err := s.db.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete endpoint: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: delete endpoint: %w", store.ErrNotFound)
	}
	return nil
}

// PutEvent implements store.Webhooks. The CreatedAt that e lacks is
// filled in on a copy; e is not modified.
func (s *Store) PutEvent(ctx context.Context, e *store.WebhookEvent) error {
	if e.ID == "" {
		return errors.New("sqlite: put event: empty ID")
	}
	if e.Body != nil && !json.Valid(e.Body) {
		return errors.New("sqlite: put event: body is not valid JSON")
	}
	created := e.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	if !representable(created) {
		return errors.New("sqlite: put event: time out of range")
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO webhook_events (id, type, tenant, body, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, e.ID, e.Type, e.Tenant, raw(e.Body), created.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: put event: %w", err)
	}
	return nil
}

// GetEvent implements store.Webhooks.
func (s *Store) GetEvent(ctx context.Context, id string) (*store.WebhookEvent, error) {
	var (
		e       store.WebhookEvent
		body    []byte
		created int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, type, tenant, body, created_at FROM webhook_events WHERE id = ?`, id).
		Scan(&e.ID, &e.Type, &e.Tenant, &body, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get event: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get event: %w", err)
	}
	e.Body = body // nil for NULL
	e.CreatedAt = time.Unix(0, created).UTC()
	return &e, nil
}

// AppendDelivery implements store.Webhooks. Once d is stored, its ID and
// At are set when they were empty.
func (s *Store) AppendDelivery(ctx context.Context, d *store.WebhookDelivery) error {
	if d.EventID == "" {
		return errors.New("sqlite: append delivery: empty event ID")
	}
	id, at := d.ID, d.At
	if id == "" {
		id = ledger.NewID()
	}
	if at.IsZero() {
		at = time.Now().UTC()
	}
	if !representable(at) {
		return errors.New("sqlite: append delivery: time out of range")
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO webhook_deliveries
		(id, event_id, endpoint_id, attempt, status_code, latency_ns, error, dead, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, d.EventID, d.EndpointID, d.Attempt, d.StatusCode, int64(d.Latency), d.Error, d.Dead, at.UnixNano())
	if isUnique(err) {
		return fmt.Errorf("sqlite: append delivery: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: append delivery: %w", err)
	}
	d.ID, d.At = id, at
	return nil
}

// ListDeliveries implements store.Webhooks.
func (s *Store) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*store.WebhookDelivery, error) {
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	c := ledger.Conds{}
	if q.EventID != "" {
		c.Add("event_id = ?", q.EventID)
	}
	if q.EndpointID != "" {
		c.Add("endpoint_id = ?", q.EndpointID)
	}
	if q.Tenant != "" {
		c.Add("event_id IN (SELECT id FROM webhook_events WHERE tenant = ?)", q.Tenant)
	}
	if q.DeadOnly {
		c.Add("dead = 1")
	}
	if !q.Before.IsZero() {
		c.Add("at < ?", q.Before.UnixNano())
	}
	cond, limitArg := c.Where(), c.Arg(limit)
	args := c.Args()
	rows, err := s.db.QueryContext(ctx, `SELECT id, event_id, endpoint_id, attempt, status_code, latency_ns, error, dead, at
		FROM webhook_deliveries`+cond+` ORDER BY at DESC, id DESC LIMIT `+limitArg, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []*store.WebhookDelivery
	for rows.Next() {
		var (
			d       store.WebhookDelivery
			latency int64
			at      int64
		)
		if err := rows.Scan(&d.ID, &d.EventID, &d.EndpointID, &d.Attempt, &d.StatusCode, &latency, &d.Error, &d.Dead, &at); err != nil {
			return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
		}
		d.Latency = time.Duration(latency)
		d.At = time.Unix(0, at).UTC()
		out = append(out, &d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list deliveries: %w", err)
	}
	return out, nil
}
