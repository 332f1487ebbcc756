package carcosa

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/blobstage"
	"github.com/carcosa-dev/carcosa/internal/staging"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
	"github.com/carcosa-dev/carcosa/store"
)

// stagingArea keeps resumable uploads until they are finished: a local
// directory (tusstage) or a bucket (blobstage); see staging.Area.
type stagingArea = staging.Area

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
			return nil, ErrConflict.With("the upload is busy; try again")
		}
		return nil, apierr.Unavailable(err)
	}
	return func() {
		if err := l.Unlock(); err != nil {
			r.log.Error("unlocking an upload", "upload", id, "err", err)
		}
	}, nil
}
