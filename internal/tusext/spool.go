package tusext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
)

// Spooled is a verified request body held in a temporary file, positioned at
// its start. Read it, then Close it: Close releases the file. Reads are not
// safe for concurrent use; Close is, with Reads and with itself, because
// tusd closes the body of a request it cuts short from a goroutine of its
// own while the request's handler may read or close it.
type Spooled struct {
	f     *os.File
	size  int64
	name  string // the file's path while it still has one to remove
	close sync.Once
}

// Read reads the spooled body.
func (s *Spooled) Read(p []byte) (int, error) { return s.f.Read(p) }

// Size returns the body's length in bytes.
func (s *Spooled) Size() int64 { return s.size }

// Close closes and removes the file. Later calls do nothing and return nil,
// once the first has returned, so an early Close may be followed by a
// deferred one.
func (s *Spooled) Close() (err error) {
	s.close.Do(func() {
		err = s.f.Close()
		if s.name != "" {
			// Removal comes after Close because Windows cannot remove an open file.
			err = errors.Join(err, os.Remove(s.name))
		}
	})
	return err
}

// Spool reads body to its end into a temporary file in dir ("" means
// os.TempDir()), computing sum's algorithm as it goes, and returns the file
// as a Spooled positioned at its start when the digest equals sum.Sum.
//
// limit is the most bytes body may hold; a longer body makes Spool stop
// reading after limit+1 bytes and return ErrTooLarge. A negative limit means
// no limit. Spool returns ErrMismatch when the digest differs, ErrUnsupported
// or ErrMalformed when sum did not come from ParseChecksum and is not valid,
// and the context's error when ctx is done before body ends. Cancellation is
// checked between reads: a read blocked inside body is for body's owner to
// end (net/http does so when the client goes away).
//
// Whatever it returns, Spool leaves no file behind except the one inside a
// returned Spooled. The file's name is random, never taken from the request.
func Spool(ctx context.Context, body io.Reader, sum Checksum, dir string, limit int64) (*Spooled, error) {
	return spool(ctx, body, sum, dir, limit, true)
}

// spool is Spool. With unlinkEarly it removes the file's name right after
// creating it, where the system allows (not Windows), so that the bytes live
// only as long as the open file: even a process killed mid-chunk then leaves
// nothing in dir. Tests turn it off to check the explicit clean-up that
// Windows relies on.
func spool(ctx context.Context, body io.Reader, sum Checksum, dir string, limit int64, unlinkEarly bool) (_ *Spooled, err error) {
	alg, ok := lookup(sum.Algorithm)
	if !ok {
		return nil, ErrUnsupported
	}
	if len(sum.Sum) != alg.size {
		return nil, ErrMalformed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tusext: spooling cancelled: %w", context.Cause(ctx))
	}

	f, err := os.CreateTemp(dir, "tusext-*.chunk")
	if err != nil {
		return nil, fmt.Errorf("%w: creating it: %w", ErrSpoolWrite, err)
	}
	s := &Spooled{f: f, name: f.Name()}
	if unlinkEarly && os.Remove(s.name) == nil {
		s.name = ""
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	h := alg.new()
	src := &ctxReader{ctx: ctx, r: body}
	var r io.Reader = src
	if limit >= 0 && limit < math.MaxInt64 {
		r = io.LimitReader(src, limit+1) // the extra byte tells "too long" from "exactly limit"
	}
	// Neither r nor the MultiWriter has WriterTo/ReaderFrom, so io.Copy
	// streams through one fixed buffer.
	n, err := io.Copy(io.MultiWriter(f, h), r)
	switch {
	case err != nil && ctx.Err() != nil:
		// A body closed because its request ended fails with its own error;
		// the context says why.
		return nil, fmt.Errorf("tusext: spooling cancelled: %w", context.Cause(ctx))
	case err != nil && src.err != nil:
		return nil, fmt.Errorf("tusext: reading body: %w", err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrSpoolWrite, err)
	case limit >= 0 && n > limit:
		return nil, ErrTooLarge
	case !bytes.Equal(h.Sum(nil), sum.Sum):
		return nil, ErrMismatch
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%w: rewinding it: %w", ErrSpoolWrite, err)
	}
	s.size = n
	return s, nil
}

// ctxReader ends a read loop once ctx is done, and records whether an error
// came from the body rather than from the file being written.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	err error // the body's last error other than io.EOF
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
