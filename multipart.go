package carcosa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/idle"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// multipartOverhead allows for part headers and the input part on top of the
// files' bytes.
const multipartOverhead = 1 << 20

// pendingFile is a file of a multipart request that passed verification and
// waits for the request to end before it settles.
type pendingFile struct {
	rec *store.Upload
	key string
	c   *candidate
}

// serveMultipart takes files as multipart/form-data, streaming each "file"
// part through verification into storage without buffering it. An "input"
// part, if any, must come before the files. The request is all or nothing:
// when a file is refused, every file of the request is removed (see
// settleAll).
func (r *Router) serveMultipart(w http.ResponseWriter, req *http.Request) {
	h, ok := r.route(req.PathValue("route"))
	if !ok {
		r.writeError(w, req, ErrUnknownRoute)
		return
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "multipart/form-data" {
		r.writeError(w, req, ErrBadRequest.With("expected a multipart/form-data body"))
		return
	}
	cfg := h.config()
	idle.Watch(r.log, w, req, r.cfg.IdleTimeout)
	req.Body = http.MaxBytesReader(w, req.Body, int64(cfg.maxFiles)*cfg.maxFileSize+multipartOverhead)
	mr, err := req.MultipartReader()
	if err != nil {
		r.writeError(w, req, ErrBadRequest.With("the multipart body is malformed"))
		return
	}
	ctx, cancel := r.processCtx(req.Context())
	defer cancel()

	var (
		input    []byte
		admitted bool
		g        grant
		pending  []pendingFile
	)
	abort := func(err error) {
		for _, p := range pending {
			r.deleteStored(ctx, p.rec)
			r.fail(ctx, h, p.rec.ID, err)
		}
		r.writeError(w, req, err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			abort(apierr.Multipart(err))
			return
		}
		switch part.FormName() {
		case "input":
			if admitted {
				part.Close()
				abort(ErrBadRequest.With(`the "input" part must come before the files`))
				return
			}
			input, err = io.ReadAll(io.LimitReader(part, maxInputSize+1))
			part.Close()
			if err != nil {
				abort(apierr.Multipart(err))
				return
			}
		case "file", "files", "files[]":
			if !admitted {
				g, err = h.admit(req.Context(), req, input, "", nil)
				if err == nil {
					err = r.limitOwner(req.Context(), g)
				}
				if err != nil {
					part.Close()
					abort(err)
					return
				}
				admitted = true
			}
			if len(pending) == cfg.maxFiles {
				part.Close()
				abort(ErrTooManyFiles.With(fmt.Sprintf("this route takes at most %d files per request", cfg.maxFiles)))
				return
			}
			p, err := r.receive(ctx, h, part, part.FileName(), part.Header.Get("Content-Type"), g, input, req.ContentLength)
			part.Close()
			if err != nil {
				abort(err)
				return
			}
			pending = append(pending, p)
		default:
			part.Close() // unknown fields are ignored
		}
	}
	if len(pending) < cfg.minFiles {
		abort(ErrTooFewFiles.With(fmt.Sprintf("this route takes at least %d files per request", cfg.minFiles)))
		return
	}
	out, err := r.settleAll(ctx, h, pending)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	apierr.WriteJSON(w, http.StatusCreated, map[string]any{"uploads": out})
}

// settleAll settles the files of one request, all or none. Each file in
// turn is scanned, given its derivatives and handed to OnComplete while its
// record stays processing; once every one has passed, they are all marked
// ready. When one is refused, or a backend fails, the others are withdrawn:
// their bytes are removed and they end rejected with ErrBatchRejected,
// which OnError sees, even those whose OnComplete already ran. The error
// returned is the refused file's.
func (r *Router) settleAll(ctx context.Context, h routeHandler, pending []pendingFile) ([]Upload, error) {
	type completed struct {
		rec    *store.Upload
		result json.RawMessage
	}
	done := make([]completed, 0, len(pending))
	for i, p := range pending {
		p.c.batch = len(pending) > 1
		rec, result, err := r.completeStored(ctx, h, p.rec, p.c, p.key)
		if err != nil {
			r.endProcessing(ctx, h, p.rec.ID, err)
			for _, d := range done {
				r.refuseStored(ctx, h, d.rec, ErrBatchRejected)
			}
			for _, q := range pending[i+1:] {
				r.refuseStored(ctx, h, q.rec, ErrBatchRejected)
			}
			return nil, err
		}
		done = append(done, completed{rec, result})
	}
	out := make([]Upload, 0, len(done))
	for i, d := range done {
		rec, err := r.markReady(ctx, d.rec, d.result)
		if err != nil {
			// The store failed. A ready record cannot be rejected, so the
			// files already ready are deleted, records and all.
			for _, u := range out {
				r.withdrawReady(ctx, h, u.ID)
			}
			r.endProcessing(ctx, h, d.rec.ID, err)
			for _, q := range done[i+1:] {
				r.refuseStored(ctx, h, q.rec, ErrBatchRejected)
			}
			return nil, err
		}
		out = append(out, r.uploadJSON(rec))
	}
	return out, nil
}

// endProcessing ends upload id, of a multipart request, for cause when
// settling it stopped with the upload still processing (a backend failed):
// no retry would finish it, since its request ends. One that could not be
// read is left to the recovery sweep, which ends it interrupted.
func (r *Router) endProcessing(ctx context.Context, h routeHandler, id string, cause error) {
	rec, err := r.store.Get(ctx, id)
	if err == nil && rec.State == store.Processing {
		r.refuseStored(ctx, h, rec, cause)
	}
}

// withdrawReady deletes upload id, ready, of a request whose other files
// could not all be settled: its bytes and its record are removed, its quota
// given back, and OnError sees it with ErrBatchRejected.
func (r *Router) withdrawReady(ctx context.Context, h routeHandler, id string) {
	rec, err := r.store.Get(ctx, id)
	if err == nil {
		err = r.deleteStored(ctx, rec)
	}
	if err == nil {
		err = r.dropRecord(ctx, id)
	}
	if err != nil {
		r.log.ErrorContext(ctx, "withdrawing a ready file of a failed request", "upload", id, "err", err)
		return
	}
	f := r.fileOf(rec)
	f.URL, f.Derivatives = "", nil // no longer served
	h.fail(ctx, rec.Metadata, f, ErrBatchRejected)
}

// receive streams one file into storage: the first bytes are checked before
// the rest is read, the size is limited and the SHA-256 computed on the way.
// The file's record ends processing, or rejected with its bytes removed.
//
// The file reserves quota for the most it may take: the route's largest
// file, or the request's length when that is less (bodyLen, -1 if unknown).
func (r *Router) receive(ctx context.Context, h routeHandler, body io.Reader, clientName, claimed string, g grant, input []byte, bodyLen int64) (pendingFile, error) {
	cfg := h.config()
	lr := &limitedReader{r: body, left: cfg.maxFileSize}
	head := make([]byte, filetype.SniffLen)
	n, err := io.ReadFull(lr, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return pendingFile{}, readError(lr, err)
	}
	head = head[:n]
	// The record names its storage key before any byte is stored, so that
	// the bytes of a request that dies with its process can be found and
	// removed.
	id := newID()
	key := storageKey(cfg.name, id, filetype.Detect(head))
	bucket := r.buckets.place(placement{route: cfg.name, tier: g.tier, size: -1})
	dst, err := r.buckets.get(bucket)
	if err != nil {
		return pendingFile{}, err
	}
	rec := &store.Upload{
		ID: id, Route: cfg.name, Owner: g.owner, Tenant: g.tenant, Via: "multipart",
		Name: safename.Clean(clientName), ClaimedType: truncate(claimed, 255), Size: -1,
		Key: key, Bucket: bucket, State: store.Uploading, Input: input, Metadata: g.meta,
	}
	most := cfg.maxFileSize
	if bodyLen > 0 {
		most = min(most, bodyLen)
	}
	if err := r.reserve(ctx, id, most, g, cfg.name); err != nil {
		return pendingFile{}, err
	}
	if err := r.createReserved(ctx, rec); err != nil {
		return pendingFile{}, err
	}
	refuse := func(err error) (pendingFile, error) {
		return pendingFile{}, r.fail(ctx, h, rec.ID, err)
	}
	c := &candidate{route: cfg, name: rec.Name, head: head}
	if err := r.runEarly(ctx, c); err != nil {
		return refuse(err)
	}
	// One read: the bytes go to storage, the hash and the scanner at once.
	d := r.newDigest(ctx, head, r.scans(cfg))
	src := io.MultiReader(bytes.NewReader(head), io.TeeReader(lr, d))
	err = dst.Put(ctx, key, src, &storage.PutOptions{ContentType: c.typ.MIME})
	c.size, c.sha256, c.scan = d.finish(err)
	if err != nil {
		if lr.exceeded || lr.err != nil {
			return refuse(readError(lr, err))
		}
		r.buckets.failed(bucket)
		return refuse(apierr.Unavailable(err))
	}
	if err := r.runFinal(ctx, c); err != nil {
		r.deleteStored(ctx, rec)
		return refuse(err)
	}
	rec, err = r.update(ctx, rec.ID, func(u *store.Upload) error {
		u.State = store.Processing
		u.Type, u.Size, u.SHA256 = c.typ.MIME, c.size, c.sha256
		return nil
	})
	if err != nil {
		r.deleteStored(ctx, &store.Upload{ID: id, Key: key, Bucket: bucket})
		return refuse(apierr.Unavailable(err))
	}
	return pendingFile{rec: rec, key: key, c: c}, nil
}

// limitedReader fails once more than left bytes are read, so a file over its
// route's limit is refused while it streams.
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	err      error // the underlying reader's error other than EOF
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.exceeded = true
		return n, ErrTooLarge
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// readError explains why reading a file's bytes stopped.
func readError(l *limitedReader, err error) error {
	if l.exceeded {
		return ErrTooLarge
	}
	if l.err != nil {
		return apierr.Body(l.err)
	}
	return apierr.Body(err)
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (w *hashCounter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
