package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// downFor is how long a bucket that failed a write is avoided for new
// uploads, when it has a failover.
const downFor = 30 * time.Second

// Placement is what chooses the bucket of a new file.
type Placement struct {
	Route string
	Tier  string
	Size  int64 // declared; -1 when unknown
}

// Buckets is the set of buckets files are kept in. The default bucket is
// named "".
type Buckets struct {
	byName   map[string]storage.Storage
	choose   func(Placement) string
	failover map[string]string

	mu   sync.Mutex
	down map[string]time.Time // bucket → when to try it again
	now  func() time.Time
}

// NewBuckets returns the buckets byName (the default one named ""), which
// choose places new files in (by the configured rules; "" without), and
// the failover of each bucket that has one. The caller has checked that
// every name choose and failover give is in byName.
func NewBuckets(byName map[string]storage.Storage, choose func(Placement) string, failover map[string]string) *Buckets {
	return &Buckets{
		byName:   byName,
		choose:   choose,
		failover: failover,
		down:     make(map[string]time.Time),
		now:      time.Now,
	}
}

// Get returns the bucket named name. A record names only buckets that were
// configured when it was made; one that is gone is a configuration error.
func (b *Buckets) Get(name string) (storage.Storage, error) {
	if s, ok := b.byName[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("carcosa: no bucket named %q is configured", name)
}

// Place chooses the bucket of a new file: the first matching rule's, or
// its failover while it is failing (it failed a write lately, or its
// circuit breaker is open).
func (b *Buckets) Place(p Placement) string {
	name := b.choose(p)
	if b.failing(name) {
		if alt, ok := b.Alternative(name); ok {
			return alt
		}
	}
	return name
}

// Alternative returns the failover of bucket name, if it has one that is
// not failing itself.
func (b *Buckets) Alternative(name string) (string, bool) {
	alt, ok := b.failover[name]
	if !ok || b.failing(alt) {
		return "", false
	}
	return alt, true
}

// breakerOpen is implemented by a bucket behind a circuit breaker.
type breakerOpen interface{ BreakerOpen() bool }

// failing reports whether bucket name failed a write lately, or its
// circuit breaker is open.
func (b *Buckets) failing(name string) bool {
	if s, ok := b.byName[name].(breakerOpen); ok && s.BreakerOpen() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.down[name]
	if ok && !b.now().Before(until) {
		delete(b.down, name)
		return false
	}
	return ok
}

// Failed records that a write to bucket name failed: new files go to its
// failover for a while.
func (b *Buckets) Failed(name string) {
	if _, ok := b.failover[name]; !ok {
		return
	}
	b.mu.Lock()
	b.down[name] = b.now().Add(downFor)
	b.mu.Unlock()
}

// Bucket is the bucket holding upload rec's bytes.
func (eng *Engine) Bucket(rec *store.Upload) (storage.Storage, error) {
	return eng.buckets.Get(rec.Bucket)
}

// DeleteStored removes the stored bytes of upload rec, in quarantine when
// it is quarantined; an object already gone is not an error.
func (eng *Engine) DeleteStored(ctx context.Context, rec *store.Upload) error {
	if rec.Key == "" {
		return nil
	}
	if err := eng.deleteDerivatives(ctx, rec); err != nil {
		return err
	}
	dst, key := storage.Storage(nil), rec.Key
	var err error
	if rec.State == store.Quarantined {
		dst, key, err = eng.quarantineOf(rec)
	} else {
		dst, err = eng.Bucket(rec)
	}
	if err != nil {
		return err
	}
	if err := dst.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}
