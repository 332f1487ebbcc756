package tusadapter

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/idle"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
	"github.com/carcosa-dev/carcosa/store"
)

// ctxKey carries the client's request through tusd to the hooks and the
// locks: it names the request that holds a lock (see shieldedLocker).
type ctxKey struct{}

func httpRequest(ctx context.Context) *http.Request {
	req, _ := ctx.Value(ctxKey{}).(*http.Request)
	return req
}

func (h *Handler) writeError(w http.ResponseWriter, req *http.Request, err error) {
	apierr.Write(h.log, w, req, err)
}

// ServeHTTP serves tus 1.0 under B/tus/. Every request but creation is
// about one upload, and is allowed only to its owner.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	gate := &bodyGate{}
	req = req.WithContext(context.WithValue(context.WithValue(req.Context(), ctxKey{}, req), gateKey{}, gate))
	tw := &tusWriter{ResponseWriter: w, h: h, req: req}
	defer tw.finish()
	if req.Method == http.MethodPost || req.Method == http.MethodPatch {
		idle.Watch(h.log, tw, req, h.idle)
	}

	id := strings.TrimPrefix(req.URL.Path, "/tus/")
	// tusd's unrouted handler reads the upload ID as the whole path.
	req.URL.Path = id
	if req.Method == http.MethodOptions {
		h.tus.Middleware(http.NotFoundHandler()).ServeHTTP(tw, req)
		return
	}
	if id == "" {
		if req.Method != http.MethodPost {
			h.writeError(tw, req, apierr.ErrMethod)
			return
		}
		if err := checkMetadataSize(req.Header.Get("Upload-Metadata")); err != nil {
			h.writeError(tw, req, err)
			return
		}
		tw.created = time.Now()
		// Creation with upload: a body sent with a checksum must match it.
		// It is spooled to be checked, once the caller is admitted.
		if req.ContentLength != 0 && req.Header.Get("Upload-Checksum") != "" {
			a, err := h.admitCreation(req)
			if err != nil {
				h.writeError(tw, req, err)
				return
			}
			defer func() {
				// The reservation is the record's once the creation hook
				// made one; otherwise it is given back.
				ctx := context.WithoutCancel(req.Context())
				if _, err := h.store.Get(ctx, a.id); errors.Is(err, store.ErrNotFound) {
					h.host.ReleaseQuota(ctx, a.id)
				}
			}()
			req = req.WithContext(context.WithValue(req.Context(), admittedKey{}, *a))
			limit := a.maxFileSize
			if a.size >= 0 {
				limit = min(limit, a.size)
			}
			done, ok := h.verifyChecksum(tw, req, limit)
			if !ok {
				return
			}
			defer done()
		}
		if err := h.checkConcat(req); err != nil {
			h.writeError(tw, req, err)
			return
		}
		gate.wrap(req)
		h.tus.Middleware(http.HandlerFunc(h.tus.PostFile)).ServeHTTP(tw, req)
		return
	}
	var next http.HandlerFunc
	switch req.Method {
	case http.MethodHead:
		next = h.tus.HeadFile
	case http.MethodPatch:
		next = h.tus.PatchFile
	case http.MethodDelete:
		next = h.tus.DelFile
	default:
		h.writeError(tw, req, apierr.ErrMethod)
		return
	}
	rec, err := h.host.Authorize(req, id)
	if err != nil {
		h.writeError(tw, req, err)
		return
	}
	if req.Method != http.MethodDelete && h.needsFinish(req, rec) {
		// The upload has all its bytes but is not settled: the response
		// that would have said so was lost, or the process stopped.
		ctx, cancel := h.host.ProcessContext(req.Context())
		rec, err = h.host.FinishLocked(ctx, id)
		cancel()
		if err != nil {
			h.writeError(tw, req, err)
			return
		}
	}
	// An upload with all its bytes was finished above, whatever the time.
	if req.Method != http.MethodDelete && h.host.Expired(req.Context(), rec, time.Now()) {
		if err := h.host.Expire(context.WithoutCancel(req.Context()), rec); err != nil {
			h.log.WarnContext(req.Context(), "expiring an upload", "upload", id, "err", err)
		}
		h.writeError(tw, req, apierr.ErrUploadExpired)
		return
	}
	if rec.State != store.Uploading {
		h.tusSettled(tw, req, rec)
		return
	}
	tw.created = rec.CreatedAt
	if req.Method == http.MethodPatch {
		left, _ := h.host.MaxFileSize(rec.Route) // Authorize found the route
		if rec.Size >= 0 {
			left = rec.Size // tusd checks the offset; this bounds the spool
		}
		done, ok := h.verifyChecksum(tw, req, left)
		if !ok {
			return
		}
		defer done()
	}
	var chunked *exactBody
	if req.Method == http.MethodPatch && req.ContentLength < 0 && rec.Size >= 0 {
		// A body of unknown length (chunked): tusd would store the
		// upload's remaining bytes, finish it, and only then refuse the
		// rest.
		if off, err := strconv.ParseInt(req.Header.Get("Upload-Offset"), 10, 64); err == nil && 0 <= off && off <= rec.Size {
			chunked = &exactBody{ReadCloser: req.Body, left: rec.Size - off}
			req.Body = chunked
		}
	}
	var progress *progressBody
	if req.Method == http.MethodPatch {
		if off, err := strconv.ParseInt(req.Header.Get("Upload-Offset"), 10, 64); err == nil && off >= 0 {
			progress = &progressBody{ReadCloser: req.Body, rec: rec, offset: off, host: h.host, start: time.Now()}
			progress.last = progress.start
			req.Body = progress
		}
	}
	gate.wrap(req)
	h.tus.Middleware(next).ServeHTTP(tw, req)
	if progress != nil && !progress.ended && tw.status == http.StatusNoContent {
		// The end of a PATCH whose body's end the adapter did not see.
		if off, err := strconv.ParseInt(tw.Header().Get("Upload-Offset"), 10, 64); err == nil {
			progress.offset = off
			progress.report()
		}
	}

	switch {
	case req.Method == http.MethodDelete && tw.status == http.StatusNoContent:
		if err := h.host.DropRecord(req.Context(), id); err != nil {
			h.log.ErrorContext(req.Context(), "deleting a terminated upload's record", "upload", id, "err", err)
		}
	case chunked != nil && chunked.exceeded:
		// The client sent more than the file it declared: what it sent
		// is not the file.
		ctx := context.WithoutCancel(req.Context())
		h.host.RemoveStaged(ctx, id)
		h.host.Fail(ctx, rec, errLongerThanUpload)
	case req.Method == http.MethodPatch && tw.tusdCode() == tusstage.ErrTooLarge.ErrorCode:
		// A deferred-length upload grew past its route's limit. (A chunk
		// longer than a declared length is refused by itself, and the
		// upload goes on.)
		ctx := context.WithoutCancel(req.Context())
		h.host.RemoveStaged(ctx, id)
		h.host.Fail(ctx, rec, apierr.ErrTooLarge)
	}
}

// tusSettled answers a tus request about an upload that is no longer
// receiving bytes. A HEAD about a ready upload reports it complete, so a
// client that lost the last response does not upload again.
func (h *Handler) tusSettled(w http.ResponseWriter, req *http.Request, rec *store.Upload) {
	// complete answers that every byte is in, and the upload's state.
	complete := func(status int) {
		hd := w.Header()
		hd.Set("Tus-Resumable", "1.0.0")
		hd.Set("Upload-Offset", strconv.FormatInt(rec.Size, 10))
		hd.Set("Upload-Length", strconv.FormatInt(rec.Size, 10))
		hd.Set("Upload-State", string(rec.State))
		hd.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
	}
	switch {
	case rec.State == store.Ready && req.Method == http.MethodHead:
		complete(http.StatusOK)
	case rec.State == store.Processing && req.Method == http.MethodHead:
		complete(http.StatusOK) // processed in the background
	case rec.State == store.Ready && req.Method == http.MethodPatch &&
		req.Header.Get("Upload-Offset") == strconv.FormatInt(rec.Size, 10) && req.ContentLength == 0:
		// A retried last PATCH whose response was lost.
		complete(http.StatusNoContent)
	case rec.State == store.Ready, rec.State == store.Processing:
		h.writeError(w, req, apierr.ErrConflict.With("the upload has received all its bytes"))
	default:
		h.writeError(w, req, apierr.OfRecord(rec))
	}
}

// needsFinish reports whether upload rec has all its bytes staged here but
// is not settled yet.
//
// A PATCH can only find its upload complete if it starts at the upload's
// length, so other PATCHes (every chunk but a retried last one) are spared
// the look into staging.
func (h *Handler) needsFinish(req *http.Request, rec *store.Upload) bool {
	switch {
	case rec.Via != "tus" || rec.Partial:
		return false
	case rec.State == store.Processing:
		// A file processed in the background is left to its job.
		return !h.host.InBackground(rec.Route, rec.Size)
	case rec.State != store.Uploading:
		return false
	case req.Method == http.MethodPatch && rec.Size >= 0 &&
		req.Header.Get("Upload-Offset") != strconv.FormatInt(rec.Size, 10):
		return false
	}
	return h.staging.Complete(req.Context(), rec.ID)
}

// tusFinish verifies a tus upload whose last byte arrived, before tusd
// answers the request that brought it, so that the client learns the
// outcome from that response.
func (h *Handler) tusFinish(hook tusd.HookEvent) (tusd.HTTPResponse, error) {
	if hook.Upload.IsPartial {
		return tusd.HTTPResponse{}, nil
	}
	reqID := ""
	if req := httpRequest(hook.Context); req != nil {
		reqID = apierr.RequestID(req)
		// The lock this request holds on the upload, if any, is not to
		// be given up until tusd unlocks it (see shieldedLocker).
		h.locks.shield(req, hook.Upload.ID)
	}
	ctx, cancel := h.host.ProcessContext(hook.Context)
	defer cancel()
	var (
		rec *store.Upload
		err error
	)
	if h.host.InBackground(hook.Upload.MetaData["route"], hook.Upload.Size) {
		rec, err = h.host.ProcessLater(ctx, hook.Upload.ID)
	} else {
		rec, err = h.host.Finish(ctx, hook.Upload.ID)
	}
	if err != nil {
		return tusd.HTTPResponse{}, tusError(apierr.Client(err), reqID)
	}
	for _, pid := range hook.Upload.PartialUploads {
		h.host.RemoveStaged(ctx, pid)
		if err := h.host.DropRecord(ctx, pid); err != nil {
			h.log.WarnContext(ctx, "removing a partial upload's record", "upload", pid, "err", err)
		}
	}
	return tusd.HTTPResponse{Header: tusd.HTTPHeader{"Upload-State": string(rec.State)}}, nil
}
