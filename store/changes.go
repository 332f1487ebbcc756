package store

import (
	"context"
	"time"
)

// ChangeLog is an optional interface of a Store that records every change
// of an upload's state in the same transaction as the change itself (a
// transactional outbox): a process that dies right after the change has
// still left its record of it, for whoever sends the change's event. The
// PostgreSQL Store implements it.
type ChangeLog interface {
	// LogChanges starts the recording: from then on, every Create, every
	// Update that changes a record's State and every Delete made through
	// this Store also appends a Change, atomically with it. Nothing is
	// recorded before, so that no log grows without a reader.
	LogChanges()

	// ClaimChanges returns up to limit changes, oldest first, that are
	// neither acknowledged nor claimed by another caller within the last
	// lease: a change claimed and not acknowledged within lease is handed
	// out again, so a reader that dies loses nothing.
	ClaimChanges(ctx context.Context, limit int, lease time.Duration) ([]*Change, error)

	// AckChanges removes the changes with the given sequence numbers, once
	// they have been handled. Unknown numbers are ignored.
	AckChanges(ctx context.Context, seqs []int64) error
}

// Change is one recorded change of an upload's state.
type Change struct {
	Seq     int64   // increasing with the order of the changes' commits
	From    State   // "" when the upload was created
	Deleted bool    // the record was deleted
	Record  *Upload // as written; as it was last, when deleted
	At      time.Time
}
