package tusadapter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/store"
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
//
// It knows the locks that tus requests hold, by request and upload, so
// that the finish hook can shield the one its request holds (see shield).
type shieldedLocker struct {
	tusd.Locker

	mu   sync.Mutex
	held map[heldKey]*shieldedLock
}

// heldKey names the lock a tus request holds on an upload.
type heldKey struct {
	req *http.Request // as httpRequest finds it in the request's context
	id  string
}

func newShieldedLocker(l tusd.Locker) *shieldedLocker {
	return &shieldedLocker{Locker: l, held: make(map[heldKey]*shieldedLock)}
}

func (s *shieldedLocker) NewLock(id string) (tusd.Lock, error) {
	l, err := s.Locker.NewLock(id)
	if err != nil {
		return nil, err
	}
	return &shieldedLock{inner: l, id: id, s: s}, nil
}

// shield keeps the holder of the lock that request req holds on upload id
// from being asked to let go, until it unlocks. It reports whether req
// holds that lock.
func (s *shieldedLocker) shield(req *http.Request, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.held[heldKey{req, id}]
	if l == nil {
		return false
	}
	l.shielded.Store(true)
	return true
}

type shieldedLock struct {
	inner tusd.Lock
	id    string
	s     *shieldedLocker

	key      heldKey     // while held by a tus request; zero otherwise
	shielded atomic.Bool // the holder is finishing the upload
}

func (l *shieldedLock) Lock(ctx context.Context, requestRelease func()) error {
	gate, _ := ctx.Value(gateKey{}).(*bodyGate)
	err := l.inner.Lock(ctx, func() {
		release := func() {
			if !l.shielded.Load() {
				requestRelease()
			}
		}
		if gate == nil || !gate.hold(release) {
			release()
		}
	})
	if err != nil {
		return err
	}
	if req := httpRequest(ctx); req != nil {
		l.key = heldKey{req, l.id}
		l.s.mu.Lock()
		l.s.held[l.key] = l
		l.s.mu.Unlock()
	}
	return nil
}

func (l *shieldedLock) Unlock() error {
	if l.key.req != nil {
		l.s.mu.Lock()
		if l.s.held[l.key] == l {
			delete(l.s.held, l.key)
		}
		l.s.mu.Unlock()
		l.key = heldKey{}
	}
	return l.inner.Unlock()
}

// bodyGate holds back a waiter's request that a tus request let go of its
// lock until tusd reads the request's body; a request that reads none is
// not asked at all, and hands the lock over when it unlocks, soon.
//
// tusd answers the request by cancelling the holder's context, upon which
// a goroutine of its own closes the holder's body reader. writeChunk sets
// that reader up after locking, and nothing orders the two: go test -race
// reports tusd racing with itself, and a release asked for before the
// reader is set up closes nothing, so the holder runs on until its body
// ends. The body is first read after the reader is set up, and the gate's
// mutex orders the release after that.
type bodyGate struct {
	io.ReadCloser // the request's body, as tusd reads it
	once          sync.Once

	mu      sync.Mutex
	reading bool
	held    []func()
}

// gateKey carries a tus request's bodyGate to the locks it takes.
type gateKey struct{}

// wrap makes the gate req's body, which tusd reads.
func (g *bodyGate) wrap(req *http.Request) {
	g.ReadCloser = req.Body
	req.Body = g
}

func (g *bodyGate) Read(p []byte) (int, error) {
	g.once.Do(g.open)
	return g.ReadCloser.Read(p)
}

func (g *bodyGate) open() {
	g.mu.Lock()
	g.reading = true
	held := g.held
	g.held = nil
	g.mu.Unlock()
	for _, release := range held {
		release()
	}
}

// hold keeps release until the body is read, and reports whether it did:
// false once the body is being read.
func (g *bodyGate) hold(release func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.reading {
		g.held = append(g.held, release)
	}
	return !g.reading
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

// LockUpload takes upload id's lock, as tusd does for each request about
// it, waiting at most until ctx is done.
func (h *Handler) LockUpload(ctx context.Context, id string) (unlock func(), err error) {
	l, err := h.locks.NewLock(id)
	if err != nil {
		return nil, err
	}
	if err := l.Lock(ctx, func() {}); err != nil {
		if errors.Is(err, tusd.ErrLockTimeout) {
			return nil, apierr.ErrConflict.With("the upload is busy; try again")
		}
		return nil, apierr.Unavailable(err)
	}
	return func() {
		if err := l.Unlock(); err != nil {
			h.log.ErrorContext(ctx, "unlocking an upload", "upload", id, "err", err)
		}
	}, nil
}
