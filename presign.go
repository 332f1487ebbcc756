package carcosa

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
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
	cfg := h.Policy()
	var pr presignRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 2*maxInputSize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pr); err != nil {
		r.writeError(w, req, ErrBadRequest.With(`the body must be JSON: {"input": …, "files": [{"name", "size", "type"}]}`))
		return
	}
	switch {
	case len(pr.Files) < cfg.MinFiles:
		r.writeError(w, req, ErrTooFewFiles.With(fmt.Sprintf("this route takes at least %d files per request", cfg.MinFiles)))
		return
	case len(pr.Files) > cfg.MaxFiles:
		r.writeError(w, req, ErrTooManyFiles.With(fmt.Sprintf("this route takes at most %d files per request", cfg.MaxFiles)))
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
		case f.Size > cfg.MaxFileSize:
			r.writeError(w, req, ErrTooLarge.With("the file is larger than this route's limit of "+apierr.FormatSize(cfg.MaxFileSize)))
			return
		case t.MIME == "":
			r.writeError(w, req, ErrBadRequest.With("every file needs its type"))
			return
		}
		if err := lifecycle.AcceptType(cfg, t); err != nil {
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
			r.engine.DropRecord(req.Context(), p.ID)
		}
		r.writeError(w, req, err)
	}
	for i, info := range infos {
		bucket := r.buckets.Place(lifecycle.Placement{Route: cfg.Name, Tier: g.Tier, Size: info.Size})
		dst, err := r.buckets.Get(bucket)
		if err != nil {
			refuse(err)
			return
		}
		signer, ok := dst.(storage.Signer)
		if !ok {
			refuse(ErrNoPresign)
			return
		}
		id := lifecycle.NewID()
		key := lifecycle.StorageKey(cfg.Name, id, types[i])
		rec := &store.Upload{
			ID: id, Route: cfg.Name, Owner: g.Owner, Tenant: g.Tenant, Via: "presign",
			Name: info.Name, ClaimedType: types[i].MIME, Size: info.Size, Key: key,
			Bucket: bucket, State: store.Uploading, Input: input, Metadata: g.Meta,
		}
		if err := r.engine.Reserve(req.Context(), id, info.Size, g, cfg.Name); err != nil {
			refuse(err)
			return
		}
		if err := r.engine.CreateReserved(req.Context(), rec); err != nil {
			refuse(err)
			return
		}
		u, err := signer.SignPut(req.Context(), key, types[i].MIME, ttl)
		if errors.Is(err, storage.ErrUnsupported) {
			r.engine.DropRecord(req.Context(), id)
			refuse(ErrNoPresign)
			return
		}
		if err != nil {
			r.engine.DropRecord(req.Context(), id)
			r.buckets.Failed(bucket)
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
	ctx, cancel := r.engine.ProcessContext(req.Context())
	defer cancel()
	if h, ok := r.route(rec.Route); ok && rec.State == store.Uploading && r.engine.Async(h.Policy(), rec.Size) {
		// A large file is verified in the background, once it is there.
		if err := r.engine.CheckPresigned(ctx, rec); err != nil {
			r.writeError(w, req, err)
			return
		}
		if rec, err = r.engine.ProcessLater(ctx, id); err != nil {
			r.writeError(w, req, err)
			return
		}
		apierr.WriteJSON(w, http.StatusAccepted, r.uploadJSON(rec))
		return
	}
	rec, err = r.engine.FinishPresigned(ctx, id)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, r.uploadJSON(rec))
}
