package tusstage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tus/tusd/v2/pkg/handler"
)

// upload wraps a filestore upload. filestore keeps the .info file and handles
// creation, lookup, termination and length declaration; every path that
// appends data goes through this type so the hash state stays in step.
type upload struct {
	store *Store
	id    string
	inner handler.Upload
	// offset is the data file's size as last seen or written by this value.
	// It replaces the inner upload's offset, which only the inner WriteChunk
	// would advance and which is therefore stale after our own writes.
	offset int64
}

func (u *upload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	info, err := u.inner.GetInfo(ctx)
	if err != nil {
		return info, err
	}
	info.Offset = u.offset
	return info, nil
}

func (u *upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return u.inner.GetReader(ctx)
}

// fallbackLimit re-derives the limit when the sidecar that carried it is lost.
func (u *upload) fallbackLimit(ctx context.Context) func() int64 {
	return func() int64 {
		info, err := u.inner.GetInfo(ctx)
		if err != nil {
			// filestore never fails here; refusing everything would still be
			// safer than silently dropping a limit.
			return 1
		}
		return u.store.limitFor(info)
	}
}

// openAppend opens the data file for appending and checks that it currently
// holds exactly want bytes, so the hash state and the file cannot drift apart
// through a write landing at an unexpected position.
func (u *upload) openAppend(want int64) (*os.File, error) {
	f, err := os.OpenFile(u.store.Path(u.id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, handler.ErrNotFound
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() != want {
		f.Close()
		return nil, handler.ErrMismatchOffset
	}
	return f, nil
}

// remaining returns how many more bytes the limit allows at offset, or -1 for
// no limit.
func remaining(limit, offset int64) int64 {
	if limit <= 0 {
		return -1
	}
	return max(limit-offset, 0)
}

// WriteChunk appends src at offset, hashing exactly the bytes that reached the
// file and stopping with ErrTooLarge at the upload's limit. The sidecar is
// saved even when the copy fails, covering the bytes that were written.
//
// It returns once the bytes are in the file: the last of them are hashed and
// the state saved in the background, which the next use of the state waits
// for (Store.settle). A failed save is self-healing: the next write notices
// the offset mismatch and rebuilds the state from the file.
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	u.store.settle(u.id)
	f, err := u.openAppend(offset)
	if err != nil {
		return 0, err
	}
	st, recovered, err := u.store.stateAt(ctx, u.id, offset, u.fallbackLimit(ctx))
	if err != nil {
		f.Close()
		return 0, err
	}

	n, hashed, werr := copyWritten(f, st.h, src, remaining(st.limit, offset))
	cerr := f.Close()
	u.offset = offset + n
	st.offset = u.offset
	done := u.store.finishing(u.id)
	go func() {
		defer done()
		hashed()
		if n > 0 || recovered {
			_ = u.store.saveState(u.id, st)
		}
	}()
	// The copy error goes first: it is what tusd must report (ErrTooLarge ->
	// 413).
	if werr != nil {
		return n, werr
	}
	return n, cerr
}

// FinishUpload makes sure the saved hash state covers the whole file, which is
// what Digest then reads.
func (u *upload) FinishUpload(ctx context.Context) error {
	u.store.settle(u.id)
	info, err := u.inner.GetInfo(ctx)
	if err != nil {
		return err
	}
	fi, err := os.Stat(u.store.Path(u.id))
	if err != nil {
		return err
	}
	if info.SizeIsDeferred || fi.Size() != info.Size {
		return fmt.Errorf("tusstage: finishing upload %s with %d of %d bytes: %w", u.id, fi.Size(), info.Size, ErrNotFinished)
	}
	st, recovered, err := u.store.stateAt(ctx, u.id, info.Size, u.fallbackLimit(ctx))
	if err != nil {
		return err
	}
	if recovered {
		if err := u.store.saveState(u.id, st); err != nil {
			return err
		}
	}
	u.offset = info.Size
	return u.inner.FinishUpload(ctx)
}

// ConcatUploads appends the partial uploads, in order, to this (final) upload,
// hashing as it goes. tusd does not call FinishUpload on a final upload, so
// the state saved here is already the final digest.
func (u *upload) ConcatUploads(ctx context.Context, partials []handler.Upload) (err error) {
	u.store.settle(u.id)
	info, err := u.inner.GetInfo(ctx)
	if err != nil {
		return err
	}
	f, err := u.openAppend(u.offset)
	if err != nil {
		return err
	}
	base := u.offset
	st, recovered, err := u.store.stateAt(ctx, u.id, base, u.fallbackLimit(ctx))
	if err != nil {
		f.Close()
		return err
	}

	// Never grow past the size tusd created the final upload with, nor past
	// the limit.
	room := info.Size - base
	if r := remaining(st.limit, base); r >= 0 && r < room {
		room = r
	}

	var written int64
	for _, p := range partials {
		if err = context.Cause(ctx); err != nil {
			break
		}
		var n int64
		n, err = u.appendPartial(f, st, p, room-written)
		written += n
		if err != nil {
			break
		}
	}

	cerr := f.Close()
	u.offset = base + written
	st.offset = u.offset
	var serr error
	if written > 0 || recovered {
		serr = u.store.saveState(u.id, st)
	}
	return errors.Join(err, cerr, serr)
}

// appendPartial copies exactly the bytes partial p reported to f.
func (u *upload) appendPartial(f *os.File, st *state, p handler.Upload, room int64) (int64, error) {
	pu, ok := p.(*upload)
	if !ok {
		return 0, fmt.Errorf("tusstage: partial upload of type %T is not staged here", p)
	}
	src, err := os.Open(u.store.Path(pu.id))
	if err != nil {
		return 0, err
	}
	defer src.Close()
	n, err := copyHashed(f, st.h, io.LimitReader(src, pu.offset), room)
	if err == nil && n != pu.offset {
		err = fmt.Errorf("tusstage: partial upload %s has %d of %d bytes", pu.id, n, pu.offset)
	}
	return n, err
}

// Terminate removes the upload's data and .info (via filestore) and its hash
// state.
func (u *upload) Terminate(ctx context.Context) error {
	u.store.settle(u.id)
	t, ok := u.inner.(handler.TerminatableUpload)
	if !ok {
		return errors.New("tusstage: wrapped upload cannot be terminated")
	}
	if err := t.Terminate(ctx); err != nil {
		return err
	}
	err := os.Remove(u.store.hashPath(u.id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return u.store.removeTemps(u.id)
}

// DeclareLength fixes a deferred length, refusing one above the upload's limit.
func (u *upload) DeclareLength(ctx context.Context, length int64) error {
	u.store.settle(u.id)
	st, err := u.store.loadState(u.id)
	if err != nil {
		return err
	}
	var limit int64
	if st != nil {
		limit = st.limit
	} else {
		limit = u.fallbackLimit(ctx)()
	}
	if limit > 0 && length > limit {
		return ErrTooLarge
	}
	d, ok := u.inner.(handler.LengthDeclarableUpload)
	if !ok {
		return errors.New("tusstage: wrapped upload cannot declare its length")
	}
	return d.DeclareLength(ctx, length)
}
