package carcosa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// Presigned uploads go from the client straight into the bucket:
//
//  1. POST B/routes/{route}/presign with the input and the files (name,
//     size, type): the route's middleware, counts, sizes and declared types
//     are checked, and each file gets an upload ID and a signed PUT URL.
//  2. The client PUTs each file to its URL, with the declared Content-Type.
//  3. POST B/uploads/{id}/complete: the server finds the object, checks its
//     size, reads it once (first bytes for the type, all of it for the
//     SHA-256), runs the verification stages and settles the upload. A file
//     that differs from its declaration ends rejected and its object is
//     removed.
//
// Uploads never completed are removed once their URL has expired.

type presignRequest struct {
	Input json.RawMessage `json:"input"`
	Files []presignFile   `json:"files"`
}

type presignFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

type presignedUpload struct {
	ID        string            `json:"id"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expiresAt"`
}

func (r *Router) servePresign(w http.ResponseWriter, req *http.Request) {
	h, ok := r.route(req.PathValue("route"))
	if !ok {
		r.writeError(w, req, ErrUnknownRoute)
		return
	}
	cfg := h.config()
	var pr presignRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 2*maxInputSize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pr); err != nil {
		r.writeError(w, req, ErrBadRequest.With(`the body must be JSON: {"input": …, "files": [{"name", "size", "type"}]}`))
		return
	}
	switch {
	case len(pr.Files) < cfg.minFiles:
		r.writeError(w, req, ErrTooFewFiles.With(fmt.Sprintf("this route takes at least %d files per request", cfg.minFiles)))
		return
	case len(pr.Files) > cfg.maxFiles:
		r.writeError(w, req, ErrTooManyFiles.With(fmt.Sprintf("this route takes at most %d files per request", cfg.maxFiles)))
		return
	}
	infos := make([]FileInfo, len(pr.Files))
	types := make([]filetype.Type, len(pr.Files))
	for i, f := range pr.Files {
		t := filetype.ForMIME(f.Type)
		switch {
		case f.Size <= 0:
			r.writeError(w, req, ErrBadRequest.With("every file needs its size in bytes"))
			return
		case f.Size > cfg.maxFileSize:
			r.writeError(w, req, ErrTooLarge.With("the file is larger than this route's limit of "+apierr.FormatSize(cfg.maxFileSize)))
			return
		case t.MIME == "":
			r.writeError(w, req, ErrBadRequest.With("every file needs its type"))
			return
		}
		if err := acceptType(cfg, t); err != nil {
			r.writeError(w, req, err)
			return
		}
		types[i] = t
		infos[i] = FileInfo{Name: safename.Clean(f.Name), Size: f.Size, Type: t.MIME}
	}
	var input []byte
	if len(pr.Input) > 0 {
		input = pr.Input
	}
	g, err := h.admit(req.Context(), req, input, "", infos)
	if err == nil {
		err = r.limitOwner(req.Context(), g)
	}
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	ttl := r.cfg.PresignTTL
	out := make([]presignedUpload, 0, len(infos))
	// A refusal of one file takes back the files before it: the client
	// gets all of its URLs or none.
	refuse := func(err error) {
		for _, p := range out {
			r.dropRecord(req.Context(), p.ID)
		}
		r.writeError(w, req, err)
	}
	for i, info := range infos {
		bucket := r.buckets.place(placement{route: cfg.name, tier: g.tier, size: info.Size})
		dst, err := r.buckets.get(bucket)
		if err != nil {
			refuse(err)
			return
		}
		signer, ok := dst.(storage.Signer)
		if !ok {
			refuse(ErrNoPresign)
			return
		}
		id := newID()
		key := storageKey(cfg.name, id, types[i])
		rec := &store.Upload{
			ID: id, Route: cfg.name, Owner: g.owner, Tenant: g.tenant, Via: "presign",
			Name: info.Name, ClaimedType: types[i].MIME, Size: info.Size, Key: key,
			Bucket: bucket, State: store.Uploading, Input: input, Metadata: g.meta,
		}
		if err := r.reserve(req.Context(), id, info.Size, g, cfg.name); err != nil {
			refuse(err)
			return
		}
		if err := r.createReserved(req.Context(), rec); err != nil {
			refuse(err)
			return
		}
		u, err := signer.SignPut(req.Context(), key, types[i].MIME, ttl)
		if errors.Is(err, storage.ErrUnsupported) {
			r.dropRecord(req.Context(), id)
			refuse(ErrNoPresign)
			return
		}
		if err != nil {
			r.dropRecord(req.Context(), id)
			r.buckets.failed(bucket)
			refuse(apierr.Unavailable(err))
			return
		}
		out = append(out, presignedUpload{
			ID: id, URL: u, Method: http.MethodPut,
			Headers:   map[string]string{"Content-Type": types[i].MIME},
			ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second),
		})
	}
	apierr.WriteJSON(w, http.StatusCreated, map[string]any{"uploads": out})
}

// serveComplete answers POST B/uploads/{id}/complete for a presigned upload:
// its record once the file is verified, or why it was refused.
func (r *Router) serveComplete(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	rec, _, err := r.authorize(req, id)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	if rec.Via != "presign" {
		r.writeError(w, req, ErrConflict.With("only presigned uploads are completed this way"))
		return
	}
	ctx, cancel := r.processCtx(req.Context())
	defer cancel()
	if h, ok := r.route(rec.Route); ok && rec.State == store.Uploading && r.async(h.config(), rec.Size) {
		// A large file is verified in the background, once it is there.
		if err := r.checkPresigned(ctx, rec); err != nil {
			r.writeError(w, req, err)
			return
		}
		if rec, err = r.processLater(ctx, id); err != nil {
			r.writeError(w, req, err)
			return
		}
		apierr.WriteJSON(w, http.StatusAccepted, r.uploadJSON(rec))
		return
	}
	rec, err = r.finishWith(ctx, id, r.finishPresigned)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, r.uploadJSON(rec))
}

// checkPresigned checks that the object of presigned upload rec is there
// with its declared size; a wrong size is verified, and refused, by
// finishPresigned.
func (r *Router) checkPresigned(ctx context.Context, rec *store.Upload) error {
	src, err := r.storageOf(rec)
	if err != nil {
		return err
	}
	obj, err := src.Open(ctx, rec.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotUploaded
	}
	if err != nil {
		return apierr.Unavailable(err)
	}
	obj.Close()
	return nil
}

// finishPresigned verifies a file a client PUT to its presigned URL and
// settles its upload.
func (r *Router) finishPresigned(ctx context.Context, id string) (*store.Upload, error) {
	rec, h, done, err := r.unsettled(ctx, id)
	if err != nil || done {
		return rec, err
	}
	refuse := func(err error) (*store.Upload, error) {
		return nil, r.refuseStored(ctx, h, rec, err)
	}
	src, err := r.storageOf(rec)
	if err != nil {
		return nil, err
	}
	obj, err := src.Open(ctx, rec.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotUploaded
	}
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	defer obj.Close()
	if obj.Size() != rec.Size {
		return refuse(ErrSizeMismatch.With(apierr.SizeMismatch(obj.Size(), rec.Size)))
	}
	if rec, err = r.update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		return nil
	}); err != nil {
		return nil, apierr.Unavailable(err)
	}
	// One read: the first bytes for the type, every byte for the hash and
	// the scanner. (A file larger than the scanner examines is judged by
	// its size, without a scan.)
	head := make([]byte, filetype.SniffLen)
	n, err := io.ReadFull(obj, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, apierr.Unavailable(err)
	}
	head = head[:n]
	cfg := h.config()
	scan := r.scans(cfg)
	if limit := int64(0); scan {
		limit = r.scanner.MaxSize()
		scan = limit == 0 || rec.Size <= limit
	}
	d := r.newDigest(ctx, head, scan)
	_, err = io.Copy(d, obj)
	size, sum, scanned := d.finish(err)
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	if size != rec.Size {
		return refuse(ErrSizeMismatch)
	}
	c := &candidate{route: cfg, name: rec.Name, head: head, size: size, sha256: sum, scan: scanned}
	if err := r.runEarly(ctx, c); err != nil {
		return refuse(err)
	}
	if c.typ.MIME != rec.ClaimedType {
		return refuse(ErrTypeMismatch.With(fmt.Sprintf("the file's content (%s) does not match its declared type", c.typ.MIME)))
	}
	if err := r.runFinal(ctx, c); err != nil {
		return refuse(err)
	}
	return r.settle(ctx, h, rec, c, rec.Key)
}

// sweepPresigned removes a presigned upload never completed once its URL has
// expired, and finishes one whose completion a crash interrupted.
func (r *Router) sweepPresigned(ctx context.Context, rec *store.Upload, before time.Time) {
	if rec.State == store.Processing {
		pctx, cancel := r.processCtx(ctx)
		defer cancel()
		r.finishWith(pctx, rec.ID, r.finishPresigned)
		return
	}
	if !rec.UpdatedAt.Before(before.Add(-r.cfg.PresignTTL - time.Minute)) {
		return
	}
	if err := r.deleteStored(ctx, rec); err != nil {
		r.log.WarnContext(ctx, "removing an expired presigned upload", "upload", rec.ID, "err", err)
		return
	}
	h, _ := r.route(rec.Route)
	r.fail(ctx, h, rec.ID, ErrUploadExpired)
}
