package blobstage

import (
	"context"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/tusstage"
)

// innerUpload is an upload of one of the two kinds of store, before limits
// and hashing.
type innerUpload interface {
	handler.Upload
	handler.LengthDeclarableUpload

	// meta returns the upload's info; its Offset may be stale.
	meta(ctx context.Context) (handler.FileInfo, error)
	// concat appends the partial uploads, all of the same kind.
	concat(ctx context.Context, partials []innerUpload) error
	// ready makes the bytes of an upload whose offset reached its size
	// readable.
	ready(ctx context.Context) error
	// singleObject returns the key of the one object that holds all the
	// bytes of a ready upload, or "" if there is none.
	singleObject() string
}

// upload is what tusd sees: an inner upload with the per-upload limit and
// the running SHA-256 added to its writes.
type upload struct {
	s     *Store
	id    string
	inner innerUpload
}

func (u *upload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	return u.inner.GetInfo(ctx)
}

func (u *upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return u.inner.GetReader(ctx)
}

func (u *upload) FinishUpload(ctx context.Context) error {
	return u.inner.FinishUpload(ctx)
}

// Terminate removes everything staged for the upload (Store.Remove).
func (u *upload) Terminate(ctx context.Context) error {
	return u.s.Remove(ctx, u.id)
}

// DeclareLength fixes a deferred length, refusing one above the upload's
// limit with tusstage.ErrTooLarge.
func (u *upload) DeclareLength(ctx context.Context, length int64) error {
	info, err := u.inner.meta(ctx)
	if err != nil {
		return err
	}
	if l := u.s.limitFor(info); l > 0 && length > l {
		return tusstage.ErrTooLarge
	}
	return u.inner.DeclareLength(ctx, length)
}

// ConcatUploads appends the partial uploads, which must come from this
// store. The final upload gets no hash state: its digest is computed by
// reading it once.
func (u *upload) ConcatUploads(ctx context.Context, partials []handler.Upload) error {
	inner := make([]innerUpload, len(partials))
	for i, p := range partials {
		pu, ok := p.(*upload)
		if !ok || pu.s != u.s {
			return fmt.Errorf("blobstage: partial upload of type %T is not staged in this store", p)
		}
		inner[i] = pu.inner
	}
	return u.inner.concat(ctx, inner)
}

// WriteChunk passes src to the inner upload, stopping at the upload's limit
// and hashing the bytes on their way. Once src offers more bytes than the
// limit allows, the allowed ones are written and tusstage.ErrTooLarge
// returned, as tusstage does.
//
// If reading src fails, the bytes read before are kept and the read error
// returned with their count, as tusd's filestore does. (tusd's own body reader
// never fails: it ends the stream and reports the error itself.)
//
// The hash state is saved after the chunk when the inner store reports
// having kept exactly the bytes that were hashed; otherwise it is deleted
// (unknown from then on).
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	info, err := u.inner.meta(ctx)
	if err != nil {
		return 0, err
	}
	h, err := u.s.hashAt(ctx, u.id, offset)
	if err != nil {
		return 0, err
	}
	cr := &capReader{r: src, left: -1}
	if l := u.s.limitFor(info); l > 0 {
		cr.left = max(l-offset, 0)
	}
	tr := newHashReader(cr, h)
	n, err := u.inner.WriteChunk(ctx, offset, tr)
	tr.wait()

	// The state is written even if the request is gone: the bytes are kept.
	sctx := context.WithoutCancel(ctx)
	switch read := tr.count(); {
	case read != n:
		_ = u.s.dropState(sctx, u.id)
	case h != nil && n > 0:
		_ = u.s.saveState(sctx, u.id, offset+n, h)
	}
	over, rerr := cr.result()
	switch {
	case err != nil:
	case over:
		err = tusstage.ErrTooLarge
	case rerr != nil:
		err = rerr
	}
	return n, err
}

// capReader reads at most left bytes of r (left < 0: no cap) and then ends.
// At the cap it checks whether r had more to give and records it. A read
// error ends the stream like EOF and is recorded, so that the inner store
// keeps the bytes read before it (s3store would drop the part being read).
type capReader struct {
	r    io.Reader
	left int64

	mu   sync.Mutex
	over bool
	err  error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		var one [1]byte
		for {
			n, err := c.r.Read(one[:])
			if n > 0 {
				c.mu.Lock()
				c.over = true
				c.mu.Unlock()
				return 0, io.EOF
			}
			if err != nil {
				return 0, c.end(err)
			}
		}
	}
	if c.left > 0 && int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	if c.left > 0 {
		c.left -= int64(n)
	}
	if err != nil {
		err = c.end(err)
	}
	return n, err
}

// end records a read error other than EOF and returns EOF.
func (c *capReader) end(err error) error {
	if err != io.EOF {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return io.EOF
}

// result returns whether r offered more than the cap, and the read error.
func (c *capReader) result() (over bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over, c.err
}

// hashReader counts what it reads and feeds it into h (if not nil) on a
// goroutine of its own, so that hashing runs beside the store's writes
// rather than between them. Call wait before reading h. s3store reads
// from another goroutine than the one that calls count, hence the lock.
type hashReader struct {
	r io.Reader
	h hash.Hash

	mu     sync.Mutex
	n      int64
	closed bool // set by wait

	q    chan *[]byte // bytes to hash, in order; nil without h
	done chan struct{}
}

// hashBufSize is the size of the copies queued for hashing; at most
// hashQueue of them wait, which bounds the memory one chunk holds.
const (
	hashBufSize = 64 << 10
	hashQueue   = 16
)

var hashBufs = sync.Pool{New: func() any { b := make([]byte, hashBufSize); return &b }}

func newHashReader(r io.Reader, h hash.Hash) *hashReader {
	t := &hashReader{r: r, h: h}
	if h != nil {
		t.q = make(chan *[]byte, hashQueue)
		t.done = make(chan struct{})
		go func() {
			defer close(t.done)
			for b := range t.q {
				t.h.Write(*b)
				*b = (*b)[:cap(*b)]
				hashBufs.Put(b)
			}
		}()
	}
	return t
}

func (t *hashReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.mu.Lock()
		// A read after wait (s3store's reader may outlive a failed
		// WriteChunk) is counted, not hashed: the count then tells the
		// state is unknown.
		if t.q != nil && !t.closed {
			for rest := p[:n]; len(rest) > 0; {
				b := hashBufs.Get().(*[]byte)
				m := copy(*b, rest)
				*b = (*b)[:m]
				t.q <- b
				rest = rest[m:]
			}
		}
		t.n += int64(n)
		t.mu.Unlock()
	}
	return n, err
}

// wait waits until every byte read so far is hashed; later reads are not
// hashed. Call it once.
func (t *hashReader) wait() {
	if t.q == nil {
		return
	}
	t.mu.Lock()
	t.closed = true
	close(t.q)
	t.mu.Unlock()
	<-t.done
}

func (t *hashReader) count() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}
