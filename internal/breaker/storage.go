package breaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"

	"github.com/carcosa-dev/carcosa/storage"
)

// Storage operations, as the op label of carcosa_storage_operations_total.
const (
	OpPut    = "put"
	OpGet    = "get"
	OpDelete = "delete"
	OpImport = "import"
	OpSign   = "sign"
)

// Results of storage operations, as the result label.
const (
	ResultOK          = "ok"
	ResultNotFound    = "not_found"
	ResultError       = "error"        // the bucket failed: counts toward opening
	ResultCanceled    = "canceled"     // the caller gave up, or its stream failed
	ResultInvalid     = "invalid"      // refused before reaching the bucket
	ResultUnsupported = "unsupported"  // the bucket does not offer the operation
	ResultOpen        = "breaker_open" // refused at once by the open breaker
)

// Storage is a storage.Storage whose every operation goes through a
// breaker and is counted. It always implements storage.FileImporter and
// storage.Signer, passing them on to the storage it wraps (or, when that
// lacks them, importing through Put and answering storage.ErrUnsupported),
// so wrapping a storage takes none of its features away.
type Storage struct {
	inner storage.Storage
	b     *Breaker // nil: none
	count func(op, result string)
}

var (
	_ storage.Storage      = (*Storage)(nil)
	_ storage.FileImporter = (*Storage)(nil)
	_ storage.Signer       = (*Storage)(nil)
)

// NewStorage wraps s in breaker b (nil for none); count, if not nil, is
// called once for each operation with its op and result.
func NewStorage(s storage.Storage, b *Breaker, count func(op, result string)) *Storage {
	if count == nil {
		count = func(string, string) {}
	}
	return &Storage{inner: s, b: b, count: count}
}

// Unwrap returns the wrapped storage.
func (s *Storage) Unwrap() storage.Storage { return s.inner }

// BreakerOpen reports whether the breaker is open: calls fail at once.
func (s *Storage) BreakerOpen() bool { return s.b.State() == Open }

// Breaker returns the breaker, nil when there is none.
func (s *Storage) Breaker() *Breaker { return s.b }

// do runs one operation through the breaker. streamErr, when not nil,
// returns the error of the caller's own stream, which is not the bucket's.
func (s *Storage) do(ctx context.Context, op string, streamErr func() error, fn func() error) error {
	done, err := s.b.Allow()
	if err != nil {
		s.count(op, ResultOpen)
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	err = fn()
	var r Result
	label := ResultOK
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound):
		label = ResultNotFound
	case errors.Is(err, storage.ErrInvalidKey):
		r, label = Excluded, ResultInvalid
	case errors.Is(err, storage.ErrUnsupported):
		r, label = Excluded, ResultUnsupported
	case ctx.Err() != nil || streamErr != nil && streamErr() != nil:
		r, label = Excluded, ResultCanceled
	default:
		r, label = Failure, ResultError
	}
	done(r)
	s.count(op, label)
	return err
}

// Put implements storage.Storage.
func (s *Storage) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) error {
	sr := &streamReader{r: r}
	return s.do(ctx, OpPut, sr.error, func() error { return s.inner.Put(ctx, key, sr, opts) })
}

// Open implements storage.Storage. Only the opening goes through the
// breaker; reads of the object do not.
func (s *Storage) Open(ctx context.Context, key string) (storage.Reader, error) {
	var rd storage.Reader
	err := s.do(ctx, OpGet, nil, func() error {
		var err error
		rd, err = s.inner.Open(ctx, key)
		return err
	})
	return rd, err
}

// Delete implements storage.Storage.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.do(ctx, OpDelete, nil, func() error { return s.inner.Delete(ctx, key) })
}

// Close closes the wrapped storage.
func (s *Storage) Close() error { return s.inner.Close() }

// ImportFile implements storage.FileImporter: the wrapped storage's, or, when
// it has none, a Put of the file, which is then removed, as the contract
// says.
func (s *Storage) ImportFile(ctx context.Context, key, path string, opts *storage.PutOptions) error {
	if fi, ok := s.inner.(storage.FileImporter); ok {
		return s.do(ctx, OpImport, nil, func() error { return fi.ImportFile(ctx, key, path, opts) })
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storage: import %q: %w", key, err)
	}
	var o storage.PutOptions
	if opts != nil {
		o = *opts
	}
	if info, err := f.Stat(); err == nil {
		o.Size = info.Size()
	}
	err = s.Put(ctx, key, f, &o)
	_ = f.Close()
	if err != nil {
		return err
	}
	return os.Remove(path)
}

// SignPut implements storage.Signer: the wrapped storage's, or
// storage.ErrUnsupported when it cannot sign.
func (s *Storage) SignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error) {
	sg, ok := s.inner.(storage.Signer)
	if !ok {
		s.count(OpSign, ResultUnsupported)
		return "", fmt.Errorf("storage: sign %q: %w", key, storage.ErrUnsupported)
	}
	var u string
	err := s.do(ctx, OpSign, nil, func() error {
		var err error
		u, err = sg.SignPut(ctx, key, contentType, ttl)
		return err
	})
	return u, err
}

// Blob returns the *blob.Bucket of the wrapped *storage.Bucket, for
// server-side copies from a staging area in the same bucket; nil when the
// wrapped storage is not a *storage.Bucket, or while the breaker is open,
// so that no copy is tried then (the caller falls back to Put, which fails
// at once).
func (s *Storage) Blob() *blob.Bucket {
	sb, ok := s.inner.(*storage.Bucket)
	if !ok || s.BreakerOpen() {
		return nil
	}
	return sb.Blob()
}

// streamReader remembers its reader's error, which is the caller's, not
// the bucket's.
// A bucket may read on a goroutine of its own.
type streamReader struct {
	r   io.Reader
	err atomic.Pointer[error]
}

func (s *streamReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (s *streamReader) error() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}
