package carcosa

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/compat"
	"github.com/carcosa-dev/carcosa/internal/idle"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/store"
)

func init() {
	compat.HostOf = func(router any) (compat.Host, bool) {
		r, ok := router.(*Router)
		if !ok || r == nil || r.engine == nil {
			return nil, false
		}
		return compatHost{r}, true
	}
}

// compatHost is the Router as the compatibility adapters see it.
type compatHost struct{ r *Router }

var _ compat.Host = compatHost{}

func (h compatHost) Log() *slog.Logger { return h.r.log }

func (h compatHost) Serve(w http.ResponseWriter, req *http.Request, mux *http.ServeMux, starts func(*http.Request) bool, writeError func(http.ResponseWriter, *http.Request, error)) {
	r := h.r
	r.handle(w, req, mux, func(w http.ResponseWriter, req *http.Request) bool {
		if err := r.limitIP(req); err != nil {
			writeError(w, req, err)
			return true
		}
		if r.draining.Load() && starts(req) {
			writeError(w, req, errDraining)
			return true
		}
		mux.ServeHTTP(w, req)
		return true
	})
}

func (h compatHost) Routes() []*lifecycle.Policy {
	h.r.mu.RLock()
	out := make([]*lifecycle.Policy, 0, len(h.r.routes))
	for _, rh := range h.r.routes {
		out = append(out, rh.Policy())
	}
	h.r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (h compatHost) Admit(ctx context.Context, req *http.Request, route string, input []byte, files []compat.File, oneEach bool) (lifecycle.Grant, error) {
	rh, ok := h.r.route(route)
	if !ok {
		return lifecycle.Grant{}, ErrUnknownRoute
	}
	cfg := rh.Policy()
	var infos []FileInfo
	if files != nil {
		switch {
		case oneEach:
		case len(files) < cfg.MinFiles:
			return lifecycle.Grant{}, ErrTooFewFiles.With(fmt.Sprintf("this route takes at least %d files per request", cfg.MinFiles))
		case len(files) > cfg.MaxFiles:
			return lifecycle.Grant{}, ErrTooManyFiles.With(fmt.Sprintf("this route takes at most %d files per request", cfg.MaxFiles))
		}
		infos = make([]FileInfo, len(files))
		for i, f := range files {
			if err := checkDeclared(cfg, f); err != nil {
				return lifecycle.Grant{}, err
			}
			infos[i] = FileInfo{Name: safename.Clean(f.Name), Size: f.Size, Type: f.Type}
		}
	}
	g, err := rh.admit(ctx, req, input, "", infos)
	if err != nil {
		return lifecycle.Grant{}, err
	}
	if err := h.r.limitOwner(ctx, g); err != nil {
		return lifecycle.Grant{}, err
	}
	return g, nil
}

// checkDeclared checks a file's declared size and type against its
// route. The type is checked again, from the bytes, once they are here;
// a file that declares none is judged by its bytes alone.
func checkDeclared(cfg *lifecycle.Policy, f compat.File) error {
	if f.Size > cfg.MaxFileSize {
		return ErrTooLarge.With("the file is larger than this route's limit of " + apierr.FormatSize(cfg.MaxFileSize))
	}
	if f.Size == 0 || f.Size < -1 {
		return ErrBadRequest.With("every file needs its size in bytes")
	}
	mt, _, _ := strings.Cut(f.Type, ";")
	if strings.TrimSpace(mt) == "" {
		return nil
	}
	return lifecycle.AcceptType(cfg, filetype.ForMIME(f.Type))
}

func (h compatHost) Authorize(req *http.Request, id string) (*store.Upload, error) {
	rec, _, err := h.r.authorize(req, id)
	return rec, err
}

func (h compatHost) Record(ctx context.Context, id string) (*store.Upload, error) {
	if !lifecycle.ValidID(id) {
		return nil, ErrNotFound
	}
	return h.r.engine.Record(ctx, id)
}

func (h compatHost) Stage(ctx context.Context, route string, g lifecycle.Grant, input []byte, f compat.File, via string) (*store.Upload, error) {
	rh, ok := h.r.route(route)
	if !ok {
		return nil, ErrUnknownRoute
	}
	if f.Size <= 0 {
		return nil, ErrBadRequest.With("every file needs its size in bytes")
	}
	id := lifecycle.NewID()
	if err := h.r.engine.Reserve(ctx, id, f.Size, g, route); err != nil {
		return nil, err
	}
	rec := &store.Upload{
		ID: id, Route: route, Owner: g.Owner, Tenant: g.Tenant, Via: via,
		Name: safename.Clean(f.Name), ClaimedType: filetype.ForMIME(f.Type).MIME, Size: f.Size,
		State: store.Uploading, Input: input, Metadata: g.Meta,
		Bucket: h.r.buckets.Place(lifecycle.Placement{Route: rh.Policy().Name, Tier: g.Tier, Size: f.Size}),
	}
	if err := h.r.engine.CreateReserved(ctx, rec); err != nil {
		return nil, err
	}
	if err := h.r.tusHandler.Stage(ctx, id, route, f.Size); err != nil {
		h.r.engine.DropRecord(ctx, id)
		return nil, apierr.Unavailable(err)
	}
	return rec, nil
}

func (h compatHost) Create(ctx context.Context, route string, g lifecycle.Grant, input []byte, f compat.File, via string) (*store.Upload, error) {
	rh, ok := h.r.route(route)
	if !ok {
		return nil, ErrUnknownRoute
	}
	cfg := rh.Policy()
	size, reserve := f.Size, f.Size
	if size < 0 {
		size, reserve = -1, cfg.MaxFileSize
	}
	var t filetype.Type
	if mt, _, _ := strings.Cut(f.Type, ";"); strings.TrimSpace(mt) != "" {
		t = filetype.ForMIME(f.Type)
	}
	id := lifecycle.NewID()
	rec := &store.Upload{
		ID: id, Route: route, Owner: g.Owner, Tenant: g.Tenant, Via: via,
		Name: safename.Clean(f.Name), ClaimedType: t.MIME, Size: size,
		Key: lifecycle.StorageKey(route, id, t), State: store.Uploading, Input: input, Metadata: g.Meta,
		Bucket: h.r.buckets.Place(lifecycle.Placement{Route: route, Tier: g.Tier, Size: size}),
	}
	if err := h.r.engine.Reserve(ctx, id, reserve, g, route); err != nil {
		return nil, err
	}
	if err := h.r.engine.CreateReserved(ctx, rec); err != nil {
		return nil, err
	}
	if via == lifecycle.ViaS3Post {
		h.r.engine.WatchDirect(ctx, id)
	}
	return rec, nil
}

func (h compatHost) S3(bucket string) (lifecycle.S3Bucket, error) {
	b, ok := h.r.engine.S3(bucket)
	if !ok {
		return lifecycle.S3Bucket{}, ErrNoPresign.With("uploads straight to the bucket need an S3 bucket; this route's bucket is not one")
	}
	return b, nil
}

func (h compatHost) PresignTTL() time.Duration { return h.r.cfg.PresignTTL }

func (h compatHost) FinishDirect(ctx context.Context, id string) (*store.Upload, error) {
	ctx, cancel := h.r.engine.ProcessContext(ctx)
	defer cancel()
	return h.r.engine.FinishDirect(ctx, id)
}

func (h compatHost) Offset(ctx context.Context, id string) (int64, error) {
	n, err := h.r.staging.Offset(ctx, id)
	if err != nil {
		return 0, apierr.Unavailable(err)
	}
	return n, nil
}

func (h compatHost) Write(ctx context.Context, rec *store.Upload, offset int64, body io.Reader, stop func()) (int64, error) {
	return h.r.tusHandler.Write(ctx, rec, offset, body, stop)
}

func (h compatHost) WatchIdle(w http.ResponseWriter, req *http.Request) {
	idle.Watch(h.r.log, w, req, h.r.cfg.IdleTimeout)
}

func (h compatHost) Finish(ctx context.Context, id string) (*store.Upload, error) {
	ctx, cancel := h.r.engine.ProcessContext(ctx)
	defer cancel()
	return h.r.engine.FinishLocked(ctx, id, lifecycle.LockWait)
}

func (h compatHost) Withdraw(ctx context.Context, rec *store.Upload) {
	if err := h.r.engine.AbortMultipart(ctx, rec); err != nil {
		h.r.log.WarnContext(ctx, "aborting a withdrawn upload's multipart upload", "upload", rec.ID, "err", err)
	}
	if lifecycle.Staged(rec.Via) {
		h.r.engine.RemoveStaged(ctx, rec.ID)
	} else if rec.Key != "" {
		if err := h.r.engine.DeleteStored(ctx, rec); err != nil && !errors.Is(err, store.ErrNotFound) {
			h.r.log.WarnContext(ctx, "removing a withdrawn upload's bytes", "upload", rec.ID, "err", err)
		}
	}
	if err := h.r.engine.DropRecord(ctx, rec.ID); err != nil {
		h.r.log.WarnContext(ctx, "removing a withdrawn upload's record", "upload", rec.ID, "err", err)
	}
}

func (h compatHost) FileURL(rec *store.Upload) string { return h.r.files.FileURL(rec) }

func (h compatHost) Sign(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, h.r.key)
	m.Write([]byte("carcosa-compat\x00" + purpose + "\x00"))
	m.Write(msg)
	return m.Sum(nil)
}
