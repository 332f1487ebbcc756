package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

// Quotas, API keys and the audit log live in tables named after the
// uploads table: <table>_quota_usage, <table>_quota_reservations,
// <table>_quota_limits, <table>_keys and <table>_audit, in the same schema.
//
// A reservation locks the usage rows of its scopes with SELECT … FOR UPDATE,
// in byte order of their keys, so that reservations in any number of
// processes are serialized per scope and never wait for each other in a
// cycle; Settle and Release lock the upload's reservation rows first, then
// the usage rows in the same order. A transaction that still fails with a
// deadlock or a serialization failure is run again.

var (
	_ store.Quotas   = (*Store)(nil)
	_ store.Keys     = (*Store)(nil)
	_ store.AuditLog = (*Store)(nil)
)

// inTx runs fn in a transaction, again when it fails in a way retrying can
// help, within the store's timeout.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return retry(ctx, func() error { return s.txOnce(ctx, fn) })
}

// txOnce runs fn in one transaction, committed when fn succeeds.
func (s *Store) txOnce(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	// Rolling back after a commit does nothing; see update.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Reserve implements store.Quotas.
func (s *Store) Reserve(ctx context.Context, id string, size int64, checks []store.QuotaCheck) error {
	if err := ledger.CheckReserve(id, size, checks); err != nil {
		return fmt.Errorf("postgres: reserve: %w", err)
	}
	if len(checks) == 0 {
		return nil
	}
	keys := ledger.Scopes(checks)
	var refused error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		refused = nil
		b := &pgx.Batch{}
		// Make the usage rows that do not exist yet, then lock them all.
		b.Queue(`INSERT INTO `+s.quotaUsage+` (scope, bytes, files)
			SELECT unnest($1::text[]), 0, 0 ON CONFLICT (scope) DO NOTHING`, keys)
		used := make(map[string]store.QuotaUsage, len(keys))
		b.Queue(`SELECT scope, bytes, files FROM `+s.quotaUsage+` WHERE scope = ANY($1) ORDER BY scope FOR UPDATE`, keys).
			Query(func(rows pgx.Rows) error {
				return collectScopes(rows, func(k string, b, f int64) { used[k] = store.QuotaUsage{Bytes: b, Files: f} })
			})
		// Read only once the rows are locked: a reservation for id made
		// meanwhile by another caller is then committed and seen.
		var held bool
		b.Queue(`SELECT EXISTS (SELECT 1 FROM `+s.quotaReservations+` WHERE upload_id = $1)`, id).
			QueryRow(func(row pgx.Row) error { return row.Scan(&held) })
		stored := make(map[string]store.QuotaLimits)
		b.Queue(`SELECT scope, bytes, files FROM `+s.quotaLimits+` WHERE scope = ANY($1)`, keys).
			Query(func(rows pgx.Rows) error {
				return collectScopes(rows, func(k string, b, f int64) { stored[k] = store.QuotaLimits{Bytes: b, Files: f} })
			})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if held {
			return nil
		}
		if refused = ledger.Exceeded(checks, size, used, stored); refused != nil {
			return nil // committing keeps only the empty usage rows made above
		}
		b = &pgx.Batch{}
		b.Queue(`UPDATE `+s.quotaUsage+` SET bytes = bytes + $2, files = files + 1 WHERE scope = ANY($1)`, keys, size)
		b.Queue(`INSERT INTO `+s.quotaReservations+` (upload_id, scope, bytes) SELECT $1, unnest($2::text[]), $3`, id, keys, size)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: reserve: %w", err)
	}
	return refused
}

// collectScopes calls put with each row's scope, bytes and files.
func collectScopes(rows pgx.Rows, put func(k string, bytes, files int64)) error {
	var (
		k            string
		bytes, files int64
	)
	_, err := pgx.ForEachRow(rows, []any{&k, &bytes, &files}, func() error {
		put(k, bytes, files)
		return nil
	})
	return err
}

// Settle implements store.Quotas.
func (s *Store) Settle(ctx context.Context, id string, size int64) error {
	if size < 0 {
		return errors.New("postgres: settle: negative size")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Locked in changeReservation's order, so that no cycle forms.
		var reserved int64
		err := tx.QueryRow(ctx, `SELECT coalesce(min(bytes), -1) FROM (SELECT bytes FROM `+s.quotaReservations+`
			WHERE upload_id = $1 ORDER BY scope FOR UPDATE) r`, id).Scan(&reserved)
		if err != nil {
			return err
		}
		if reserved >= 0 && size > reserved {
			return fmt.Errorf("%d bytes over a reservation of %d: %w", size, reserved, store.ErrSettleGrows)
		}
		return s.changeReservation(ctx, tx, id,
			`UPDATE `+s.quotaUsage+` u SET bytes = greatest(u.bytes + $2 - r.bytes, 0)
			FROM `+s.quotaReservations+` r WHERE r.upload_id = $1 AND u.scope = r.scope`,
			`UPDATE `+s.quotaReservations+` SET bytes = $2 WHERE upload_id = $1`,
			size)
	})
	if err != nil {
		return fmt.Errorf("postgres: settle: %w", err)
	}
	return nil
}

// Release implements store.Quotas.
func (s *Store) Release(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return s.changeReservation(ctx, tx, id,
			`UPDATE `+s.quotaUsage+` u SET bytes = greatest(u.bytes - r.bytes, 0), files = greatest(u.files - 1, 0)
			FROM `+s.quotaReservations+` r WHERE r.upload_id = $1 AND u.scope = r.scope`,
			`DELETE FROM `+s.quotaReservations+` WHERE upload_id = $1`)
	})
	if err != nil {
		return fmt.Errorf("postgres: release: %w", err)
	}
	return nil
}

// changeReservation locks id's reservation rows, then the usage rows of
// their scopes in Reserve's order, and runs the statements that change
// them, which take id and args.
func (s *Store) changeReservation(ctx context.Context, tx pgx.Tx, id, usage, reservations string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM `+s.quotaReservations+` WHERE upload_id = $1 ORDER BY scope FOR UPDATE`, id)
	b.Queue(`SELECT 1 FROM `+s.quotaUsage+` WHERE scope IN (SELECT scope FROM `+s.quotaReservations+` WHERE upload_id = $1)
		ORDER BY scope FOR UPDATE`, id)
	args = append([]any{id}, args...)
	b.Queue(usage, args...)
	b.Queue(reservations, args...)
	return tx.SendBatch(ctx, b).Close()
}

// QuotaUsage implements store.Quotas.
func (s *Store) QuotaUsage(ctx context.Context, scope store.QuotaScope) (store.QuotaUsage, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var u store.QuotaUsage
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT bytes, files FROM `+s.quotaUsage+` WHERE scope = $1`, scope.String()).Scan(&u.Bytes, &u.Files)
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.QuotaUsage{}, fmt.Errorf("postgres: quota usage: %w", err)
	}
	return u, nil
}

// SetQuotaLimits implements store.Quotas.
func (s *Store) SetQuotaLimits(ctx context.Context, scope store.QuotaScope, limits *store.QuotaLimits) error {
	if !scope.Valid() {
		return errors.New("postgres: set quota limits: invalid scope")
	}
	if limits != nil {
		if err := ledger.CheckLimits(*limits); err != nil {
			return fmt.Errorf("postgres: set quota limits: %w", err)
		}
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		if limits == nil {
			_, err := s.pool.Exec(ctx, `DELETE FROM `+s.quotaLimits+` WHERE scope = $1`, scope.String())
			return err
		}
		_, err := s.pool.Exec(ctx, `INSERT INTO `+s.quotaLimits+` (scope, bytes, files) VALUES ($1, $2, $3)
			ON CONFLICT (scope) DO UPDATE SET bytes = EXCLUDED.bytes, files = EXCLUDED.files`,
			scope.String(), limits.Bytes, limits.Files)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: set quota limits: %w", err)
	}
	return nil
}

// QuotaLimits implements store.Quotas.
func (s *Store) QuotaLimits(ctx context.Context, scope store.QuotaScope) (store.QuotaLimits, bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var l store.QuotaLimits
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT bytes, files FROM `+s.quotaLimits+` WHERE scope = $1`, scope.String()).Scan(&l.Bytes, &l.Files)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.QuotaLimits{}, false, nil
	}
	if err != nil {
		return store.QuotaLimits{}, false, fmt.Errorf("postgres: quota limits: %w", err)
	}
	return l, true, nil
}

// nullTime stores the zero time as NULL, others to the microsecond.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micro(t)
}

// fromNull reads what nullTime wrote.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

const keyColumns = `id, hash, name, owner, tenant, routes, created_at, expires_at, last_used_at, revoked_at`

func scanKey(row pgx.Row) (*store.APIKey, error) {
	var (
		k                            store.APIKey
		routes                       string
		expires, lastUsed, revokedAt *time.Time
	)
	if err := row.Scan(&k.ID, &k.Hash, &k.Name, &k.Owner, &k.Tenant, &routes, &k.CreatedAt, &expires, &lastUsed, &revokedAt); err != nil {
		return nil, err
	}
	var err error
	if k.Routes, err = ledger.DecodeRoutes(routes); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromNull(expires), fromNull(lastUsed), fromNull(revokedAt)
	return &k, nil
}

// CreateKey implements store.Keys.
func (s *Store) CreateKey(ctx context.Context, k *store.APIKey) error {
	if k.ID == "" {
		return errors.New("postgres: create key: empty ID")
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	hash := k.Hash
	if hash == nil {
		hash = []byte{} // the column is NOT NULL
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO `+s.keys+` (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			k.ID, hash, k.Name, k.Owner, k.Tenant, ledger.EncodeRoutes(k.Routes),
			micro(created), nullTime(k.ExpiresAt), nullTime(k.LastUsedAt), nullTime(k.RevokedAt))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("postgres: create key: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create key: %w", err)
	}
	return nil
}

// GetKey implements store.Keys.
func (s *Store) GetKey(ctx context.Context, id string) (*store.APIKey, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var k *store.APIKey
	err := retry(ctx, func() (err error) {
		k, err = scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM `+s.keys+` WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get key: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get key: %w", err)
	}
	return k, nil
}

// ListKeys implements store.Keys.
func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) ([]*store.APIKey, error) {
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	c := ledger.Conds{Numbered: true}
	c.Add("id > ?", q.After)
	if q.Tenant != "" {
		c.Add("tenant = ?", q.Tenant)
	}
	if q.Owner != "" {
		c.Add("owner = ?", q.Owner)
	}
	sql := `SELECT ` + keyColumns + ` FROM ` + s.keys + c.Where() + ` ORDER BY id LIMIT ` + c.Arg(limit)
	args := c.Args()
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out []*store.APIKey
	err = retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.APIKey, error) { return scanKey(row) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	return out, nil
}

// RevokeKey implements store.Keys.
func (s *Store) RevokeKey(ctx context.Context, id string, t time.Time) error {
	return s.updateKey(ctx, "revoke key", `UPDATE `+s.keys+` SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, t)
}

// TouchKey implements store.Keys.
func (s *Store) TouchKey(ctx context.Context, id string, t time.Time) error {
	// greatest ignores NULL.
	return s.updateKey(ctx, "touch key", `UPDATE `+s.keys+` SET last_used_at = greatest(last_used_at, $2) WHERE id = $1`, id, t)
}

// updateKey runs stmt, which takes id and t, and reports ErrNotFound when
// it changed no row.
func (s *Store) updateKey(ctx context.Context, op, stmt, id string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("postgres: %s: zero time", op)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var n int64
	err := retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, stmt, id, micro(t))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// AppendAudit implements store.AuditLog. It stores a copy of e, with the
// ID and Time it lacks filled in; e itself is not modified. An ID already
// in the log gives store.ErrExists.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if err := ledger.CheckDetail(e.Detail); err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	id, t := e.ID, e.Time
	if id == "" {
		id = ledger.NewID()
	}
	if t.IsZero() {
		t = time.Now()
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO `+s.audit+` (id, time, action, actor, tenant, subject, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, micro(t), e.Action, e.Actor, e.Tenant, e.Subject, raw(e.Detail))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("postgres: append audit: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	return nil
}

// ceilMicro rounds t up to the microsecond.
func ceilMicro(t time.Time) time.Time {
	if m := micro(t); m.Before(t) {
		return m.Add(time.Microsecond)
	}
	return micro(t)
}

// ListAudit implements store.AuditLog.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error) {
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	c := ledger.Conds{Numbered: true}
	for _, f := range []struct{ column, value string }{
		{"action", q.Action}, {"tenant", q.Tenant}, {"subject", q.Subject},
	} {
		if f.value != "" {
			c.Add(f.column+" = ?", f.value)
		}
	}
	if !q.Since.IsZero() {
		// Stored times are whole microseconds.
		c.Add("time >= ?", ceilMicro(q.Since))
	}
	if q.Before.ID != "" || !q.Before.Time.IsZero() {
		if before := micro(q.Before.Time); before.Equal(q.Before.Time) {
			c.Add("(time, id) < (?, ?)", before, q.Before.ID)
		} else {
			// No stored time equals the cursor's, so the ID does not
			// matter.
			c.Add("time < ?", ceilMicro(q.Before.Time))
		}
	}
	sql := `SELECT id, time, action, actor, tenant, subject, detail FROM ` + s.audit + c.Where() +
		` ORDER BY time DESC, id DESC LIMIT ` + c.Arg(limit)
	args := c.Args()
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out []*store.AuditEvent
	err = retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.AuditEvent, error) {
			var e store.AuditEvent
			var detail []byte
			if err := row.Scan(&e.ID, &e.Time, &e.Action, &e.Actor, &e.Tenant, &e.Subject, &detail); err != nil {
				return nil, err
			}
			e.Time = e.Time.UTC()
			e.Detail = detail // nil for NULL
			return &e, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return out, nil
}
