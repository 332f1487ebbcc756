// Package staging names the contract of the Router's resumable-upload
// staging areas, which internal/tusstage (a directory) and
// internal/blobstage (a bucket) implement and internal/stagingtest checks.
package staging

import (
	"context"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/storage"
)

// Area keeps resumable uploads until they are finished: a local
// directory (tusstage) or a bucket (blobstage). internal/stagingtest is the
// conformance suite for this contract, which both implementations run.
//
// Three questions about an upload have a method each: Has (created here
// and not removed), Complete (every byte received) and HoldsBytes (its
// bytes still here, not moved into storage by Commit).
type Area interface {
	// UseIn makes the area tusd's data store: core, terminater, concater
	// and length deferrer.
	UseIn(c *tusd.StoreComposer)
	// Has reports whether upload id was created here and not removed or
	// terminated since, whether or not its bytes are still here.
	Has(ctx context.Context, id string) bool
	// Complete reports whether upload id is staged here with all its
	// bytes: its length is known, its offset equals it, and it is not a
	// partial upload waiting for concatenation.
	Complete(ctx context.Context, id string) bool
	// Offset is how many bytes upload id has received; an error matching
	// tusd.ErrNotFound if it is not staged here.
	Offset(ctx context.Context, id string) (int64, error)
	// Digest is the SHA-256 and size of a complete upload; an error
	// matching tusstage.ErrNotFinished if not all its bytes are here.
	Digest(ctx context.Context, id string) (sum [32]byte, size int64, err error)
	// Head is the first n bytes of a complete upload, or fewer if it is
	// shorter.
	Head(ctx context.Context, id string, n int) ([]byte, error)
	// Commit puts a complete upload's bytes at key in dst. A local area
	// may move them, after which HoldsBytes reports false.
	Commit(ctx context.Context, id string, dst storage.Storage, key string, opts *storage.PutOptions) error
	// HoldsBytes reports whether upload id's bytes are still here: true from
	// creation until Remove, or until a Commit that moved them.
	HoldsBytes(ctx context.Context, id string) bool
	// Remove deletes everything staged for upload id; an upload already
	// gone is not an error.
	Remove(ctx context.Context, id string) error
	// Flush waits for work in the background to end.
	Flush()
}
