package tusadapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
)

// Resumable uploads that come in by another protocol than tus (the
// UploadThing adapter's ingest) are staged in the same area and under the
// same locks as tus uploads, so that finishing, expiry and recovery treat
// them alike.

// errTakenOver ends a Write whose upload another Write took over.
var errTakenOver = errors.New("tusadapter: the upload was taken over by a later request")

// Stage opens upload id of size bytes of route in the staging area.
func (h *Handler) Stage(ctx context.Context, id, route string, size int64) error {
	_, err := h.core.NewUpload(ctx, tusd.FileInfo{
		ID: id, Size: size, MetaData: tusd.MetaData{"route": route},
	})
	return err
}

// Write appends body to staged upload rec at offset, holding the upload's
// lock, and tells the Host of its progress as tus requests do; see
// compat.Host.Write.
func (h *Handler) Write(ctx context.Context, rec *store.Upload, offset int64, body io.Reader, stop func()) (int64, error) {
	id := rec.ID
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l, err := h.locks.NewLock(id)
	if err != nil {
		return 0, apierr.Unavailable(err)
	}
	lctx, lcancel := context.WithTimeout(ctx, lifecycle.LockWait)
	err = l.Lock(lctx, func() {
		// A client that comes back after losing its connection takes
		// over from the request still holding the upload, as tus's do.
		cancel(errTakenOver)
		stop()
	})
	lcancel()
	if err != nil {
		if errors.Is(err, tusd.ErrLockTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return 0, apierr.ErrConflict.With("the upload is busy; try again")
		}
		return 0, apierr.Unavailable(err)
	}
	defer func() {
		if err := l.Unlock(); err != nil {
			h.log.ErrorContext(ctx, "unlocking an upload", "upload", id, "err", err)
		}
	}()
	up, err := h.core.GetUpload(wctx, id)
	if errors.Is(err, tusd.ErrNotFound) {
		return 0, apierr.ErrNotFound.With("no such upload")
	}
	if err != nil {
		return 0, apierr.Unavailable(err)
	}
	info, err := up.GetInfo(wctx)
	if err != nil {
		return 0, apierr.Unavailable(err)
	}
	if info.Offset != offset {
		return info.Offset, apierr.ErrConflict.With(fmt.Sprintf("the upload has %d bytes; send the rest from there", info.Offset))
	}
	rest := info.Size - offset
	now := time.Now()
	pb := &progressBody{ReadCloser: io.NopCloser(io.LimitReader(body, rest)), host: h.host, rec: rec, offset: offset, start: now, last: now}
	n, err := up.WriteChunk(wctx, offset, pb)
	offset += n
	if err != nil {
		if cause := context.Cause(wctx); errors.Is(cause, errTakenOver) {
			return offset, apierr.ErrConflict.With("a later request took the upload over")
		}
		return offset, err
	}
	if n == rest {
		// The body must end with the file.
		var one [1]byte
		if m, _ := io.ReadFull(body, one[:]); m > 0 {
			return offset, apierr.ErrBadRequest.With("the body holds more bytes than the file's declared size")
		}
	}
	return offset, nil
}
