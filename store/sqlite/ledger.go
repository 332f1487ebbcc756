package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/internal/ledger"
)

// Quotas, API keys and the audit log live in tables of their own beside
// uploads. Every quota operation runs in one write transaction (inWriteTx,
// BEGIN IMMEDIATE), so it is atomic against other Stores and processes on
// the same file.

var (
	_ store.Quotas   = (*Store)(nil)
	_ store.Keys     = (*Store)(nil)
	_ store.AuditLog = (*Store)(nil)
)

// placeholders returns "?, ?, …", n of them.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(keys []string) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out
}

// Reserve implements store.Quotas.
func (s *Store) Reserve(ctx context.Context, id string, size int64, checks []store.QuotaCheck) error {
	if err := ledger.CheckReserve(id, size, checks); err != nil {
		return fmt.Errorf("sqlite: reserve: %w", err)
	}
	if len(checks) == 0 {
		return nil
	}
	keys := ledger.Scopes(checks)
	return s.inWriteTx(ctx, func(conn *sql.Conn) error {
		var held bool
		if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM quota_reservations WHERE upload_id = ?)`, id).Scan(&held); err != nil {
			return fmt.Errorf("sqlite: reserve: %w", err)
		}
		if held {
			return nil
		}
		used := make(map[string]store.QuotaUsage, len(keys))
		stored := make(map[string]store.QuotaLimits)
		for table, put := range map[string]func(k string, bytes, files int64){
			"quota_usage":  func(k string, b, f int64) { used[k] = store.QuotaUsage{Bytes: b, Files: f} },
			"quota_limits": func(k string, b, f int64) { stored[k] = store.QuotaLimits{Bytes: b, Files: f} },
		} {
			if err := readScopes(ctx, conn, table, keys, put); err != nil {
				return fmt.Errorf("sqlite: reserve: %w", err)
			}
		}
		if err := ledger.Exceeded(checks, size, used, stored); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := conn.ExecContext(ctx, `INSERT INTO quota_usage (scope, bytes, files) VALUES (?, ?, 1)
				ON CONFLICT (scope) DO UPDATE SET bytes = bytes + excluded.bytes, files = files + 1`, k, size); err != nil {
				return fmt.Errorf("sqlite: reserve: %w", err)
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO quota_reservations (upload_id, scope, bytes) VALUES (?, ?, ?)`, id, k, size); err != nil {
				return fmt.Errorf("sqlite: reserve: %w", err)
			}
		}
		return nil
	})
}

// readScopes reads the bytes and files of keys' rows of table.
func readScopes(ctx context.Context, conn *sql.Conn, table string, keys []string, put func(k string, bytes, files int64)) error {
	rows, err := conn.QueryContext(ctx, `SELECT scope, bytes, files FROM `+table+` WHERE scope IN (`+placeholders(len(keys))+`)`, anys(keys)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k            string
			bytes, files int64
		)
		if err := rows.Scan(&k, &bytes, &files); err != nil {
			return err
		}
		put(k, bytes, files)
	}
	return rows.Err()
}

// reservation is one scope's share of an upload's reservation.
type reservation struct {
	scope string
	bytes int64
}

func reservations(ctx context.Context, conn *sql.Conn, id string) ([]reservation, error) {
	rows, err := conn.QueryContext(ctx, `SELECT scope, bytes FROM quota_reservations WHERE upload_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reservation
	for rows.Next() {
		var r reservation
		if err := rows.Scan(&r.scope, &r.bytes); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Settle implements store.Quotas.
func (s *Store) Settle(ctx context.Context, id string, size int64) error {
	if size < 0 {
		return errors.New("sqlite: settle: negative size")
	}
	return s.inWriteTx(ctx, func(conn *sql.Conn) error {
		rs, err := reservations(ctx, conn, id)
		if err != nil {
			return fmt.Errorf("sqlite: settle: %w", err)
		}
		for _, r := range rs {
			if size > r.bytes {
				return fmt.Errorf("sqlite: settle %d bytes over a reservation of %d: %w", size, r.bytes, store.ErrSettleGrows)
			}
		}
		for _, r := range rs {
			if _, err := conn.ExecContext(ctx, `UPDATE quota_usage SET bytes = max(bytes + ?, 0) WHERE scope = ?`, size-r.bytes, r.scope); err != nil {
				return fmt.Errorf("sqlite: settle: %w", err)
			}
		}
		if _, err := conn.ExecContext(ctx, `UPDATE quota_reservations SET bytes = ? WHERE upload_id = ?`, size, id); err != nil {
			return fmt.Errorf("sqlite: settle: %w", err)
		}
		return nil
	})
}

// Release implements store.Quotas.
func (s *Store) Release(ctx context.Context, id string) error {
	return s.inWriteTx(ctx, func(conn *sql.Conn) error {
		rs, err := reservations(ctx, conn, id)
		if err != nil {
			return fmt.Errorf("sqlite: release: %w", err)
		}
		for _, r := range rs {
			if _, err := conn.ExecContext(ctx, `UPDATE quota_usage SET bytes = max(bytes - ?, 0), files = max(files - 1, 0) WHERE scope = ?`, r.bytes, r.scope); err != nil {
				return fmt.Errorf("sqlite: release: %w", err)
			}
		}
		if _, err := conn.ExecContext(ctx, `DELETE FROM quota_reservations WHERE upload_id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: release: %w", err)
		}
		return nil
	})
}

// QuotaUsage implements store.Quotas.
func (s *Store) QuotaUsage(ctx context.Context, scope store.QuotaScope) (store.QuotaUsage, error) {
	var u store.QuotaUsage
	err := s.db.QueryRowContext(ctx, `SELECT bytes, files FROM quota_usage WHERE scope = ?`, scope.String()).Scan(&u.Bytes, &u.Files)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.QuotaUsage{}, fmt.Errorf("sqlite: quota usage: %w", err)
	}
	return u, nil
}

// SetQuotaLimits implements store.Quotas.
func (s *Store) SetQuotaLimits(ctx context.Context, scope store.QuotaScope, limits *store.QuotaLimits) error {
	if !scope.Valid() {
		return errors.New("sqlite: set quota limits: invalid scope")
	}
	if limits != nil {
		if err := ledger.CheckLimits(*limits); err != nil {
			return fmt.Errorf("sqlite: set quota limits: %w", err)
		}
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if limits == nil {
		_, err = s.db.ExecContext(ctx, `DELETE FROM quota_limits WHERE scope = ?`, scope.String())
	} else {
		_, err = s.db.ExecContext(ctx, `INSERT INTO quota_limits (scope, bytes, files) VALUES (?, ?, ?)
			ON CONFLICT (scope) DO UPDATE SET bytes = excluded.bytes, files = excluded.files`,
			scope.String(), limits.Bytes, limits.Files)
	}
	if err != nil {
		return fmt.Errorf("sqlite: set quota limits: %w", err)
	}
	return nil
}

// QuotaLimits implements store.Quotas.
func (s *Store) QuotaLimits(ctx context.Context, scope store.QuotaScope) (store.QuotaLimits, bool, error) {
	var l store.QuotaLimits
	err := s.db.QueryRowContext(ctx, `SELECT bytes, files FROM quota_limits WHERE scope = ?`, scope.String()).Scan(&l.Bytes, &l.Files)
	if errors.Is(err, sql.ErrNoRows) {
		return store.QuotaLimits{}, false, nil
	}
	if err != nil {
		return store.QuotaLimits{}, false, fmt.Errorf("sqlite: quota limits: %w", err)
	}
	return l, true, nil
}

// nullTime stores the zero time as NULL, others as Unix nanoseconds.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromNull reads what nullTime wrote.
func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

const keyColumns = `id, hash, name, owner, tenant, routes, created_at, expires_at, last_used_at, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (*store.APIKey, error) {
	var (
		k                            store.APIKey
		routes                       string
		created                      int64
		expires, lastUsed, revokedAt sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Hash, &k.Name, &k.Owner, &k.Tenant, &routes, &created, &expires, &lastUsed, &revokedAt); err != nil {
		return nil, err
	}
	var err error
	if k.Routes, err = ledger.DecodeRoutes(routes); err != nil {
		return nil, err
	}
	k.CreatedAt = time.Unix(0, created).UTC()
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromNull(expires), fromNull(lastUsed), fromNull(revokedAt)
	return &k, nil
}

// CreateKey implements store.Keys.
func (s *Store) CreateKey(ctx context.Context, k *store.APIKey) error {
	if k.ID == "" {
		return errors.New("sqlite: create key: empty ID")
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	for _, t := range []time.Time{created, k.ExpiresAt, k.LastUsedAt, k.RevokedAt} {
		if !representable(t) && !t.IsZero() {
			return errors.New("sqlite: create key: time out of range")
		}
	}
	hash := k.Hash
	if hash == nil {
		hash = []byte{} // the column is NOT NULL
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, hash, k.Name, k.Owner, k.Tenant, ledger.EncodeRoutes(k.Routes),
		created.UnixNano(), nullTime(k.ExpiresAt), nullTime(k.LastUsedAt), nullTime(k.RevokedAt))
	if isUnique(err) {
		return fmt.Errorf("sqlite: create key: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	return nil
}

// GetKey implements store.Keys.
func (s *Store) GetKey(ctx context.Context, id string) (*store.APIKey, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get key: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get key: %w", err)
	}
	return k, nil
}

// ListKeys implements store.Keys.
func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) ([]*store.APIKey, error) {
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	c := ledger.Conds{}
	c.Add("id > ?", q.After)
	if q.Tenant != "" {
		c.Add("tenant = ?", q.Tenant)
	}
	if q.Owner != "" {
		c.Add("owner = ?", q.Owner)
	}
	sql := `SELECT ` + keyColumns + ` FROM api_keys` + c.Where() + ` ORDER BY id LIMIT ` + c.Arg(limit)
	rows, err := s.db.QueryContext(ctx, sql, c.Args()...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	defer rows.Close()
	var out []*store.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	return out, nil
}

// RevokeKey implements store.Keys.
func (s *Store) RevokeKey(ctx context.Context, id string, t time.Time) error {
	return s.updateKey(ctx, "revoke key", `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, id, t)
}

// TouchKey implements store.Keys.
func (s *Store) TouchKey(ctx context.Context, id string, t time.Time) error {
	return s.updateKey(ctx, "touch key", `UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?1), ?1) WHERE id = ?2`, id, t)
}

// updateKey runs stmt, which takes t and id, and reports ErrNotFound when
// it changed no row.
func (s *Store) updateKey(ctx context.Context, op, stmt, id string, t time.Time) error {
	if !representable(t) || t.IsZero() {
		return fmt.Errorf("sqlite: %s: time out of range", op)
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	res, err := s.db.ExecContext(ctx, stmt, t.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// AppendAudit implements store.AuditLog. It stores a copy of e, with the
// ID and Time it lacks filled in; e itself is not modified. An ID already
// in the log gives store.ErrExists.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if err := ledger.CheckDetail(e.Detail); err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	id, t := e.ID, e.Time
	if id == "" {
		id = ledger.NewID()
	}
	if t.IsZero() {
		t = time.Now()
	}
	if !representable(t) {
		return errors.New("sqlite: append audit: time out of range")
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO audit_log (id, time, action, actor, tenant, subject, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, t.UnixNano(), e.Action, e.Actor, e.Tenant, e.Subject, raw(e.Detail))
	if isUnique(err) {
		return fmt.Errorf("sqlite: append audit: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	return nil
}

// ListAudit implements store.AuditLog.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error) {
	limit, err := ledger.Limit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	c := ledger.Conds{}
	for _, f := range []struct{ column, value string }{
		{"action", q.Action}, {"tenant", q.Tenant}, {"subject", q.Subject},
	} {
		if f.value != "" {
			c.Add(f.column+" = ?", f.value)
		}
	}
	if !q.Since.IsZero() {
		c.Add("time >= ?", q.Since.UnixNano())
	}
	if q.Before.ID != "" || !q.Before.Time.IsZero() {
		n := q.Before.Time.UnixNano()
		c.Add("(time < ? OR (time = ? AND id < ?))", n, n, q.Before.ID)
	}
	sql := `SELECT id, time, action, actor, tenant, subject, detail FROM audit_log` + c.Where() +
		` ORDER BY time DESC, id DESC LIMIT ` + c.Arg(limit)
	rows, err := s.db.QueryContext(ctx, sql, c.Args()...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []*store.AuditEvent
	for rows.Next() {
		var (
			e      store.AuditEvent
			t      int64
			detail []byte
		)
		if err := rows.Scan(&e.ID, &t, &e.Action, &e.Actor, &e.Tenant, &e.Subject, &detail); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		e.Time = time.Unix(0, t).UTC()
		e.Detail = detail // nil for NULL
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}
