package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

// Webhook endpoints, events and deliveries live in tables named after the
// uploads table: <table>_webhook_endpoints, <table>_webhook_events and
// <table>_webhook_deliveries, in the same schema. An endpoint's Secrets and
// Types are kept as JSON arrays. UpdateEndpoint reads the endpoint with
// SELECT … FOR UPDATE, so concurrent updates from any number of processes
// are serialized by the row lock.

var _ store.Webhooks = (*Store)(nil)

const endpointColumns = `id, tenant, url, secrets, rotating, types, disabled, description, created_at, updated_at`

func scanEndpoint(row pgx.Row) (*store.WebhookEndpoint, error) {
	var (
		e              store.WebhookEndpoint
		secrets, types string
		rotating       *time.Time
	)
	if err := row.Scan(&e.ID, &e.Tenant, &e.URL, &secrets, &rotating, &types, &e.Disabled, &e.Description, &e.CreatedAt, &e.UpdatedAt); err != nil {
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
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

func cloneEndpoint(e *store.WebhookEndpoint) *store.WebhookEndpoint {
	c := *e
	c.Secrets = slices.Clone(e.Secrets)
	c.Types = slices.Clone(e.Types)
	return &c
}

// CreateEndpoint implements store.Webhooks. The CreatedAt and UpdatedAt
// that e lacks are filled in on a copy; e is not modified.
func (s *Store) CreateEndpoint(ctx context.Context, e *store.WebhookEndpoint) error {
	if e.ID == "" {
		return errors.New("postgres: create endpoint: empty ID")
	}
	created, updated := e.CreatedAt, e.UpdatedAt
	if created.IsZero() {
		created = time.Now()
	}
	if updated.IsZero() {
		updated = created
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO `+s.endpoints+` (`+endpointColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.ID, e.Tenant, e.URL, ledger.EncodeStrings(e.Secrets), nullTime(e.Rotating), ledger.EncodeStrings(e.Types),
			e.Disabled, e.Description, micro(created), micro(updated))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("postgres: create endpoint: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create endpoint: %w", err)
	}
	return nil
}

// GetEndpoint implements store.Webhooks.
func (s *Store) GetEndpoint(ctx context.Context, id string) (*store.WebhookEndpoint, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var e *store.WebhookEndpoint
	err := retry(ctx, func() (err error) {
		e, err = scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM `+s.endpoints+` WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get endpoint: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get endpoint: %w", err)
	}
	return e, nil
}

// ListEndpoints implements store.Webhooks.
func (s *Store) ListEndpoints(ctx context.Context, tenant string) ([]*store.WebhookEndpoint, error) {
	cond, args := "", []any(nil)
	if tenant != "" {
		cond, args = ` WHERE tenant = $1`, []any{tenant}
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out []*store.WebhookEndpoint
	err := retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM `+s.endpoints+cond+` ORDER BY created_at, id`, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.WebhookEndpoint, error) { return scanEndpoint(row) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list endpoints: %w", err)
	}
	return out, nil
}

// UpdateEndpoint implements store.Webhooks. The endpoint is read with
// SELECT … FOR UPDATE, so fn runs while its row is locked against updates
// and deletions from every instance; it should be quick, and must not
// write the same endpoint, which would wait for the lock fn's transaction
// holds.
//
// A transaction that fails with a serialization failure or a deadlock is
// run again, calling fn again on a fresh copy: fn must change only its
// argument.
func (s *Store) UpdateEndpoint(ctx context.Context, id string, fn func(e *store.WebhookEndpoint) error) (*store.WebhookEndpoint, error) {
	var out *store.WebhookEndpoint
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		old, err := scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM `+s.endpoints+` WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: update endpoint: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: update endpoint: read: %w", err)
		}
		work := cloneEndpoint(old)
		if err := fn(work); err != nil {
			return err
		}
		// Copy so that a pointer fn kept cannot change what is returned.
		c := cloneEndpoint(work)
		c.ID, c.Tenant, c.CreatedAt = old.ID, old.Tenant, old.CreatedAt
		c.Rotating = micro(c.Rotating)
		c.UpdatedAt = micro(time.Now().UTC())
		_, err = tx.Exec(ctx, `UPDATE `+s.endpoints+` SET
			url = $2, secrets = $3, rotating = $4, types = $5, disabled = $6, description = $7, updated_at = $8
			WHERE id = $1`,
			c.ID, c.URL, ledger.EncodeStrings(c.Secrets), nullTime(c.Rotating), ledger.EncodeStrings(c.Types), c.Disabled, c.Description,
			c.UpdatedAt)
		if err != nil {
			return fmt.Errorf("postgres: update endpoint: write: %w", err)
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
	ctx, cancel := s.op(ctx)
	defer cancel()
	var tag pgconn.CommandTag
	err := retry(ctx, func() (err error) {
		tag, err = s.pool.Exec(ctx, `DELETE FROM `+s.endpoints+` WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete endpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete endpoint: %w", store.ErrNotFound)
	}
	return nil
}

// PutEvent implements store.Webhooks. The CreatedAt that e lacks is
// filled in on a copy; e is not modified.
func (s *Store) PutEvent(ctx context.Context, e *store.WebhookEvent) error {
	if e.ID == "" {
		return errors.New("postgres: put event: empty ID")
	}
	if e.Body != nil && !json.Valid(e.Body) {
		return errors.New("postgres: put event: body is not valid JSON")
	}
	created := e.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO `+s.events+` (id, type, tenant, body, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO NOTHING`, e.ID, e.Type, e.Tenant, raw(e.Body), micro(created))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put event: %w", err)
	}
	return nil
}

// GetEvent implements store.Webhooks.
func (s *Store) GetEvent(ctx context.Context, id string) (*store.WebhookEvent, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var (
		e    store.WebhookEvent
		body []byte
	)
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT id, type, tenant, body, created_at FROM `+s.events+` WHERE id = $1`, id).
			Scan(&e.ID, &e.Type, &e.Tenant, &body, &e.CreatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get event: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get event: %w", err)
	}
	e.Body = body // nil for NULL
	e.CreatedAt = e.CreatedAt.UTC()
	return &e, nil
}

// AppendDelivery implements store.Webhooks. Once d is stored, its ID and
// At are set when they were empty; At is kept to the microsecond.
func (s *Store) AppendDelivery(ctx context.Context, d *store.WebhookDelivery) error {
	if d.EventID == "" {
		return errors.New("postgres: append delivery: empty event ID")
	}
	id, at := d.ID, d.At
	if id == "" {
		id = ledger.NewID()
	}
	if at.IsZero() {
		at = micro(time.Now().UTC())
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO `+s.deliveries+`
			(id, event_id, endpoint_id, attempt, status_code, latency_ns, error, dead, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			id, d.EventID, d.EndpointID, d.Attempt, d.StatusCode, int64(d.Latency), d.Error, d.Dead, micro(at))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("postgres: append delivery: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: append delivery: %w", err)
	}
	d.ID, d.At = id, at
	return nil
}

// ListDeliveries implements store.Webhooks.
func (s *Store) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*store.WebhookDelivery, error) {
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	c := ledger.Conds{Numbered: true}
	if q.EventID != "" {
		c.Add("event_id = ?", q.EventID)
	}
	if q.EndpointID != "" {
		c.Add("endpoint_id = ?", q.EndpointID)
	}
	if q.Tenant != "" {
		c.Add("event_id IN (SELECT id FROM "+s.events+" WHERE tenant = ?)", q.Tenant)
	}
	if q.DeadOnly {
		c.Add("dead")
	}
	if !q.Before.IsZero() {
		// Stored times are whole microseconds.
		c.Add("at < ?", ceilMicro(q.Before))
	}
	sql := `SELECT id, event_id, endpoint_id, attempt, status_code, latency_ns, error, dead, at FROM ` + s.deliveries + c.Where() +
		` ORDER BY at DESC, id DESC LIMIT ` + c.Arg(limit)
	args := c.Args()
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out []*store.WebhookDelivery
	err = retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.WebhookDelivery, error) {
			var (
				d       store.WebhookDelivery
				latency int64
			)
			if err := row.Scan(&d.ID, &d.EventID, &d.EndpointID, &d.Attempt, &d.StatusCode, &latency, &d.Error, &d.Dead, &d.At); err != nil {
				return nil, err
			}
			d.Latency = time.Duration(latency)
			d.At = d.At.UTC()
			return &d, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list deliveries: %w", err)
	}
	return out, nil
}
