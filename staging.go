package carcosa

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/carcosa-dev/carcosa/internal/blobstage"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// stagingArea keeps resumable uploads until they are finished: a local
// directory (tusstage) or a bucket (blobstage). internal/stagingtest is the
// conformance suite for this contract, which both implementations run.
//
// Three questions about an upload have a method each: Has (created here
// and not removed), Complete (every byte received) and HoldsBytes (its
// bytes still here, not moved into storage by Commit).
type stagingArea interface {
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

// openStaging opens Config.Staging, or the local area under DataDir/tus.
func (r *Router) openStaging() (stagingArea, error) {
	if b := r.cfg.Staging; b != nil {
		s, err := blobstage.New(b.Blob(), &blobstage.Options{
			Prefix:   stagingPrefix,
			Limit:    r.tusLimit,
			S3Bucket: b.S3Name(),
		})
		if err != nil {
			return nil, fmt.Errorf("carcosa: opening the staging bucket: %w", err)
		}
		return s, nil
	}
	s, err := tusstage.New(filepath.Join(r.cfg.DataDir, "tus"), &tusstage.Options{Limit: r.tusLimit})
	if err != nil {
		return nil, fmt.Errorf("carcosa: opening the tus staging area: %w", err)
	}
	return s, nil
}

// stagingPrefix is where resumable uploads are staged in a staging bucket.
// Keys of stored files start with a route name, which cannot start with a
// dot, so the two never meet.
const stagingPrefix = ".carcosa-tus/"

// Both staging areas satisfy stagingArea as they are;
// internal/stagingtest holds the suite both run.
var (
	_ stagingArea = (*blobstage.Store)(nil)
	_ stagingArea = (*tusstage.Store)(nil)
)

// newLocker locks resumable uploads: across processes when the store can,
// else within this one.
func newLocker(s store.Store) tusd.Locker {
	if l, ok := s.(store.Locker); ok {
		return storeLocker{l}
	}
	return memorylocker.New()
}

// shieldedLocker passes on a waiter's request that the holder of an
// upload's lock let go, unless the holder is finishing the upload. tusd
// answers such a request by cutting the holder's request body short, which
// is how a client that reconnects takes over its upload; a request that
// has received every byte and is verifying them has nothing left to cut,
// and cutting it would spoil its connection for the next request. A job
// about the upload then waits for the finish to end instead.
type shieldedLocker struct {
	tusd.Locker
	r *Router
}

func (s shieldedLocker) NewLock(id string) (tusd.Lock, error) {
	l, err := s.Locker.NewLock(id)
	if err != nil {
		return nil, err
	}
	return shieldedLock{inner: l, id: id, r: s.r}, nil
}

type shieldedLock struct {
	inner tusd.Lock
	id    string
	r     *Router
}

func (l shieldedLock) Unlock() error { return l.inner.Unlock() }

func (l shieldedLock) Lock(ctx context.Context, requestRelease func()) error {
	return l.inner.Lock(ctx, func() {
		if !l.r.isShielded(l.id) {
			requestRelease()
		}
	})
}

// shield keeps the holder of upload id's lock from being asked to let go,
// until unshield.
func (r *Router) shield(id string) {
	r.finMu.Lock()
	r.shielded[id]++
	r.finMu.Unlock()
}

func (r *Router) unshield(id string) {
	r.finMu.Lock()
	if r.shielded[id]--; r.shielded[id] <= 0 {
		delete(r.shielded, id)
	}
	r.finMu.Unlock()
}

func (r *Router) isShielded(id string) bool {
	r.finMu.Lock()
	defer r.finMu.Unlock()
	return r.shielded[id] > 0
}

// storeLocker makes a store.Locker tusd's locker.
type storeLocker struct{ l store.Locker }

func (s storeLocker) NewLock(id string) (tusd.Lock, error) {
	return &storeLock{l: s.l, key: "tus/" + id}, nil
}

type storeLock struct {
	l      store.Locker
	key    string
	unlock func() error
}

func (k *storeLock) Lock(ctx context.Context, requestRelease func()) error {
	unlock, err := k.l.Lock(ctx, k.key, requestRelease)
	if err != nil {
		if ctx.Err() != nil {
			return tusd.ErrLockTimeout
		}
		return err
	}
	k.unlock = unlock
	return nil
}

func (k *storeLock) Unlock() error {
	if k.unlock == nil {
		return nil
	}
	return k.unlock()
}

// lockUpload takes upload id's lock, as tusd does for each request about
// it, waiting at most until ctx is done.
func (r *Router) lockUpload(ctx context.Context, id string) (unlock func(), err error) {
	l, err := r.locker.NewLock(id)
	if err != nil {
		return nil, err
	}
	if err := l.Lock(ctx, func() {}); err != nil {
		if errors.Is(err, tusd.ErrLockTimeout) {
			return nil, ErrConflict.with("the upload is busy; try again")
		}
		return nil, unavailable(err)
	}
	return func() {
		if err := l.Unlock(); err != nil {
			r.log.Error("unlocking an upload", "upload", id, "err", err)
		}
	}, nil
}
