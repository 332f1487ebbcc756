package carcosa

import (
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/idle"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
)

// multipartOverhead allows for part headers and the input part on top of the
// files' bytes.
const multipartOverhead = 1 << 20

// serveMultipart takes files as multipart/form-data, streaming each "file"
// part through verification into storage without buffering it. An "input"
// part, if any, must come before the files. The request is all or nothing:
// when a file is refused, every file of the request is removed (see
// lifecycle.Engine.SettleAll).
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
	cfg := h.Policy()
	idle.Watch(r.log, w, req, r.cfg.IdleTimeout)
	req.Body = http.MaxBytesReader(w, req.Body, int64(cfg.MaxFiles)*cfg.MaxFileSize+multipartOverhead)
	mr, err := req.MultipartReader()
	if err != nil {
		r.writeError(w, req, ErrBadRequest.With("the multipart body is malformed"))
		return
	}
	ctx, cancel := r.engine.ProcessContext(req.Context())
	defer cancel()

	var (
		input    []byte
		admitted bool
		g        lifecycle.Grant
		pending  []lifecycle.Pending
	)
	abort := func(err error) {
		for _, p := range pending {
			r.engine.Withdraw(ctx, h, p, err)
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
			if len(pending) == cfg.MaxFiles {
				part.Close()
				abort(ErrTooManyFiles.With(fmt.Sprintf("this route takes at most %d files per request", cfg.MaxFiles)))
				return
			}
			p, err := r.engine.Receive(ctx, h, part, part.FileName(), part.Header.Get("Content-Type"), g, input, req.ContentLength)
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
	if len(pending) < cfg.MinFiles {
		abort(ErrTooFewFiles.With(fmt.Sprintf("this route takes at least %d files per request", cfg.MinFiles)))
		return
	}
	recs, err := r.engine.SettleAll(ctx, h, pending)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	out := make([]Upload, len(recs))
	for i, rec := range recs {
		out[i] = r.uploadJSON(rec)
	}
	apierr.WriteJSON(w, http.StatusCreated, map[string]any{"uploads": out})
}
