package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"

	"github.com/carcosa-dev/carcosa/storage"
)

// ErrInjected is matched by every error a FaultyStorage makes up.
var ErrInjected = errors.New("storagetest: injected fault")

// FaultyStorage is a storage.Storage that makes a fraction of the operations
// of another fail, for chaos tests. Make one with Faulty. It is safe for
// concurrent use.
//
// Faults, each drawn with the probability set by Faulty or SetRate:
//
//   - Put fails, half the time before anything reaches the inner storage,
//     half the time midway: the inner Put is given a reader that returns
//     ErrInjected after a random number of bytes (at the latest in place of
//     the end of the data), so the inner storage sees a read error
//     mid-stream and, by the Storage contract, must leave no object.
//   - Open fails outright.
//   - Open succeeds, drawn a second time, with a Reader that fails at a
//     random offset: a Read that reaches the offset returns the bytes before
//     it and ErrInjected, and every later Read fails too. Seek still works,
//     and Size tells the truth. A whole read of the object therefore never
//     ends in io.EOF with missing bytes: it has all of them or an error.
//   - ImportFile fails before the inner storage is called, leaving the file.
//
// Delete never fails unless SetDeleteRate says it should, since deletes are
// clean-up that chaos tests usually need to be reliable. Close is passed on.
//
// Every error a fault causes matches ErrInjected with errors.Is. Injected
// counts the faults, so a test can tell that they happened.
type FaultyStorage struct {
	inner    storage.Storage
	injected atomic.Int64

	mu         sync.Mutex
	rng        *rand.Rand
	rate       float64
	deleteRate float64
}

var (
	_ storage.Storage      = (*FaultyStorage)(nil)
	_ storage.FileImporter = (*FaultyStorage)(nil)
)

// Faulty wraps a storage.Storage and makes a fraction of its operations
// fail, for chaos tests. rate, from 0 to 1, is the probability that an
// operation fails; at 0 the wrapper only passes calls on. seed seeds the
// random choices: with the same seed, the same sequence of operations meets
// the same faults. Faulty panics if rate is not within [0, 1].
func Faulty(inner storage.Storage, rate float64, seed int64) *FaultyStorage {
	checkRate(rate)
	return &FaultyStorage{
		inner: inner,
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
		rate:  rate,
	}
}

func checkRate(rate float64) {
	if !(rate >= 0 && rate <= 1) {
		panic(fmt.Sprintf("storagetest: fault rate %v is not within [0, 1]", rate))
	}
}

// Inner returns the wrapped storage, to look at objects without faults.
func (f *FaultyStorage) Inner() storage.Storage { return f.inner }

// SetRate changes the probability of a fault in Put, Open, the readers Open
// returns from then on, and ImportFile. It panics if rate is not within
// [0, 1].
func (f *FaultyStorage) SetRate(rate float64) {
	checkRate(rate)
	f.mu.Lock()
	f.rate = rate
	f.mu.Unlock()
}

// SetDeleteRate sets the probability that Delete fails without deleting;
// it is 0 unless set. It panics if rate is not within [0, 1].
func (f *FaultyStorage) SetDeleteRate(rate float64) {
	checkRate(rate)
	f.mu.Lock()
	f.deleteRate = rate
	f.mu.Unlock()
}

// Injected returns the number of faults injected so far: operations failed
// outright, and readers that returned ErrInjected.
func (f *FaultyStorage) Injected() int64 { return f.injected.Load() }

// fault draws whether an operation fails, at the main rate or, for deletes,
// at the delete rate. At rate 0 it draws nothing.
func (f *FaultyStorage) fault(deletion bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	rate := f.rate
	if deletion {
		rate = f.deleteRate
	}
	return rate > 0 && f.rng.Float64() < rate
}

// intN draws a number in [0, n).
func (f *FaultyStorage) intN(n int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Int64N(n)
}

// injectedErr counts a fault and returns its error.
func (f *FaultyStorage) injectedErr(op, key string) error {
	f.injected.Add(1)
	return fmt.Errorf("storagetest: %s %q: %w", op, key, ErrInjected)
}

// Put writes r under key through the inner storage, or fails; see
// FaultyStorage. If the inner Put does not pass the injected read error on
// in a way errors.Is finds, the error returned wraps ErrInjected as well as
// the inner error; if it returns nil despite the failed read, Put says so in
// an error, as the inner storage has broken its contract and may have kept
// a partial object.
func (f *FaultyStorage) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) error {
	if !f.fault(false) {
		return f.inner.Put(ctx, key, r, opts)
	}
	if f.intN(2) == 0 {
		return f.injectedErr("put", key)
	}
	fr := &faultyPutReader{r: r, left: f.intN(putFaultSpan(r, opts) + 1), f: f}
	err := f.inner.Put(ctx, key, fr, opts)
	switch {
	case !fr.failed:
		// The inner Put failed before reading up to the fault, or
		// stopped reading before the end without an error of its own.
		if err == nil {
			return fmt.Errorf("storagetest: put %q: the inner storage stored an object without reading to the end of the data", key)
		}
		return err
	case err == nil:
		return fmt.Errorf("storagetest: put %q: the inner storage ignored a read error and returned nil: %w", key, ErrInjected)
	case !errors.Is(err, ErrInjected):
		return fmt.Errorf("%w (after %w)", err, ErrInjected)
	}
	return err
}

// putFaultSpan is the range of offsets a Put's read fault is drawn from:
// the data's size when known, from the options or the reader, else 1 MiB.
func putFaultSpan(r io.Reader, opts *storage.PutOptions) int64 {
	if opts != nil && opts.Size > 0 {
		return opts.Size
	}
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return 1 << 20
}

// faultyPutReader yields left bytes of r and then fails with ErrInjected,
// also in place of r's end when that comes first.
type faultyPutReader struct {
	r      io.Reader
	left   int64
	f      *FaultyStorage
	failed bool
}

func (p *faultyPutReader) Read(b []byte) (int, error) {
	if p.failed {
		return 0, ErrInjected
	}
	if p.left <= 0 {
		return 0, p.fail()
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	if err == io.EOF {
		return n, p.fail()
	}
	return n, err
}

func (p *faultyPutReader) fail() error {
	p.failed = true
	p.f.injected.Add(1)
	return fmt.Errorf("storagetest: reading the data to put: %w", ErrInjected)
}

// Open opens key in the inner storage, or fails; see FaultyStorage.
func (f *FaultyStorage) Open(ctx context.Context, key string) (storage.Reader, error) {
	if f.fault(false) {
		return nil, f.injectedErr("open", key)
	}
	r, err := f.inner.Open(ctx, key)
	if err != nil || !f.fault(false) {
		return r, err
	}
	return &faultyReader{Reader: r, key: key, at: f.intN(r.Size() + 1), f: f}, nil
}

// faultyReader is an object's Reader that fails once a Read reaches the
// offset at, and on every Read after.
type faultyReader struct {
	storage.Reader
	key    string
	at     int64 // the offset of the fault, at most the size
	pos    int64 // the offset of the next Read
	f      *FaultyStorage
	failed bool
}

func (r *faultyReader) Read(p []byte) (int, error) {
	if r.failed {
		return 0, r.err()
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.pos >= r.at {
		return 0, r.fail()
	}
	if int64(len(p)) > r.at-r.pos {
		p = p[:r.at-r.pos]
	}
	n, err := r.Reader.Read(p)
	r.pos += int64(n)
	if err == io.EOF && r.pos >= r.at {
		// The fault sits at the very end: it takes the place of io.EOF.
		return n, r.fail()
	}
	return n, err
}

func (r *faultyReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := r.Reader.Seek(offset, whence)
	if err == nil {
		r.pos = pos
	}
	return pos, err
}

func (r *faultyReader) fail() error {
	r.failed = true
	r.f.injected.Add(1)
	return r.err()
}

func (r *faultyReader) err() error {
	return fmt.Errorf("storagetest: read %q at %d: %w", r.key, r.at, ErrInjected)
}

// Delete deletes key in the inner storage, unless SetDeleteRate made it
// fail.
func (f *FaultyStorage) Delete(ctx context.Context, key string) error {
	if f.fault(true) {
		return f.injectedErr("delete", key)
	}
	return f.inner.Delete(ctx, key)
}

// Close closes the inner storage.
func (f *FaultyStorage) Close() error { return f.inner.Close() }

// ImportFile moves the file at path into the storage under key.
//
// Go has no way for a wrapper to implement an interface only when what it
// wraps does, so FaultyStorage always implements storage.FileImporter. If
// the inner storage implements it too, ImportFile fails with the fault rate
// before calling it, leaving the file in place, and otherwise passes the
// call on. If not, ImportFile copies the file in through Put, with Put's
// faults, and removes it once stored, as storage.Bucket does for buckets
// that cannot rename.
func (f *FaultyStorage) ImportFile(ctx context.Context, key, path string, opts *storage.PutOptions) error {
	if fi, ok := f.inner.(storage.FileImporter); ok {
		if f.fault(false) {
			return f.injectedErr("import", key)
		}
		return fi.ImportFile(ctx, key, path, opts)
	}
	if err := storage.CheckKey(key); err != nil {
		return err
	}
	info, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("storagetest: import %q: %w", key, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("storagetest: import %q: %s is not a regular file", key, path)
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storagetest: import %q: %w", key, err)
	}
	var o storage.PutOptions
	if opts != nil {
		o = *opts
	}
	o.Size = info.Size()
	err = f.Put(ctx, key, file, &o)
	_ = file.Close()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("storagetest: import %q: stored, but the source remains: %w", key, err)
	}
	return nil
}
