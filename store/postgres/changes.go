package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carcosa-dev/carcosa/store"
)

var _ store.ChangeLog = (*Store)(nil)

// LogChanges implements store.ChangeLog.
func (s *Store) LogChanges() { s.logChanges.Store(true) }

// inChangeTx runs fn in a transaction when changes are logged, so that a
// write and its change commit together, and on the pool otherwise.
func (s *Store) inChangeTx(ctx context.Context, fn func(q querier) error) error {
	if !s.logChanges.Load() {
		return fn(s.pool)
	}
	return s.txOnce(ctx, func(tx pgx.Tx) error { return fn(tx) })
}

// logChange appends a change of rec to the log, through q (the change's
// own transaction), when changes are logged.
func (s *Store) logChange(ctx context.Context, q querier, from store.State, deleted bool, rec *store.Upload) error {
	if !s.logChanges.Load() {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("logging the change: %w", err)
	}
	_, err = q.Exec(ctx, `INSERT INTO `+s.changes+` (upload_id, from_state, deleted, record, at) VALUES ($1, $2, $3, $4, $5)`,
		rec.ID, string(from), deleted, b, micro(time.Now().UTC()))
	if err != nil {
		return fmt.Errorf("logging the change: %w", err)
	}
	return nil
}

// ClaimChanges implements store.ChangeLog. Claims skip the rows another
// transaction holds, so that readers on several instances share the log.
func (s *Store) ClaimChanges(ctx context.Context, limit int, lease time.Duration) ([]*store.Change, error) {
	if limit < 1 || limit > store.MaxLimit {
		return nil, fmt.Errorf("postgres: claim changes: limit %d outside 1-%d", limit, store.MaxLimit)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out []*store.Change
	err := retry(ctx, func() error {
		out = nil
		rows, err := s.pool.Query(ctx, `UPDATE `+s.changes+` SET claimed_until = now() + $2 * interval '1 microsecond'
			WHERE seq IN (SELECT seq FROM `+s.changes+`
				WHERE claimed_until IS NULL OR claimed_until < now()
				ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING seq, from_state, deleted, record, at`, limit, lease.Microseconds())
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Change, error) {
			var (
				c    store.Change
				from string
				b    []byte
			)
			if err := row.Scan(&c.Seq, &from, &c.Deleted, &b, &c.At); err != nil {
				return nil, err
			}
			c.From = store.State(from)
			c.Record = new(store.Upload)
			if err := json.Unmarshal(b, c.Record); err != nil {
				return nil, err
			}
			for _, r := range []*json.RawMessage{&c.Record.Input, &c.Record.Metadata, &c.Record.Result} {
				if string(*r) == "null" {
					*r = nil
				}
			}
			return &c, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim changes: %w", err)
	}
	slices.SortFunc(out, func(a, b *store.Change) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// AckChanges implements store.ChangeLog.
func (s *Store) AckChanges(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM `+s.changes+` WHERE seq = ANY($1)`, seqs)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: ack changes: %w", err)
	}
	return nil
}
