package tusadapter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/store"
)

// MaxConcatParts is the most partial uploads one final concatenation may
// join (tus's concatenation extension); each may be named once.
const MaxConcatParts = 1000

func hasDuplicate(ids []string) bool {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return true
		}
		seen[id] = true
	}
	return false
}

// errNoUpload answers a tus request about an upload that does not exist or
// is another owner's, alike, so that IDs cannot be probed.
var errNoUpload = apierr.ErrNotFound.With("no such upload")

// checkConcat checks, before tusd looks at them, that the partial uploads a
// final concatenation names are the caller's partial uploads of its route.
// tusd refuses a partial that is not finished (400) before the creation
// hook runs, which would tell anyone that the ID exists; so the middleware
// runs first (and runs again in the hook), and any upload not the
// caller's is not found.
func (h *Handler) checkConcat(req *http.Request) error {
	final, ok := strings.CutPrefix(req.Header.Get("Upload-Concat"), "final;")
	if !ok {
		return nil
	}
	md, err := parseTusMeta(tusd.ParseMetadataHeader(req.Header.Get("Upload-Metadata")))
	if err != nil {
		return err
	}
	g, err := h.host.Admit(req.Context(), req, md.route, md.input, File{Name: safename.Clean(md.name), Size: -1, Type: md.typ})
	if err != nil {
		return err
	}
	parts := strings.Fields(final)
	if len(parts) > MaxConcatParts {
		return apierr.ErrBadRequest.With(fmt.Sprintf("a concatenation joins at most %d partial uploads", MaxConcatParts))
	}
	tusBase := h.tusBase()
	// A partial named twice is refused by admitTus, on the IDs tusd reads.
	for _, u := range parts {
		_, id, _ := strings.Cut(u, tusBase)
		id = strings.Trim(id, "/")
		if !lifecycle.ValidID(id) {
			return errNoUpload
		}
		p, err := h.store.Get(req.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errNoUpload
		case err != nil:
			return apierr.Unavailable(err)
		case !p.Partial || !g.Owns(p) || p.Route != md.route:
			return errNoUpload
		}
	}
	return nil
}

// tusCreate admits a new tus upload: route, size, input and middleware, and
// records it. The upload's ID is Carcosa's.
func (h *Handler) tusCreate(hook tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	var none tusd.FileInfoChanges
	req := httpRequest(hook.Context)
	if req == nil {
		return tusd.HTTPResponse{}, none, tusError(apierr.ErrInternal, "")
	}
	reqID := apierr.RequestID(req)
	info := hook.Upload
	var a *tusAdmission
	if v, ok := hook.Context.Value(admittedKey{}).(tusAdmission); ok {
		a = &v
	} else {
		size := info.Size
		if info.SizeIsDeferred {
			size = -1
		}
		var err error
		if a, err = h.admitTus(hook.Context, req, info.MetaData, size, info.PartialUploads); err != nil {
			return tusd.HTTPResponse{}, none, tusError(apierr.Client(err), reqID)
		}
	}
	rec := &store.Upload{
		ID: a.id, Route: a.md.route, Owner: a.g.Owner, Tenant: a.g.Tenant, Via: "tus",
		Name: a.name, ClaimedType: a.md.typ, Size: a.size, State: store.Uploading,
		Input: a.md.input, Metadata: a.g.Metadata, Partial: info.IsPartial,
	}
	if err := h.host.Create(hook.Context, rec, a.g.Tier); err != nil {
		return tusd.HTTPResponse{}, none, tusError(apierr.Client(err), reqID)
	}
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{ID: rec.ID, MetaData: keptMeta(info.MetaData)}, nil
}

// tusAdmission is a tus upload admitted for creation: its route, the
// caller's grant, and the quota reserved under the upload's ID.
type tusAdmission struct {
	id          string
	maxFileSize int64 // the route's
	md          tusMeta
	name        string // safe
	size        int64  // -1 when deferred
	g           Grant
}

// admittedKey carries a tusAdmission made before tusd saw the request
// (see admitCreation) to tusCreate, which reads it.
type admittedKey struct{}

// admitTus admits a new tus upload of size bytes (-1: deferred), a final
// concatenation of parts if any: route, size, input, middleware, the
// parts' owner, the owner's rate and quota. The quota is reserved under
// the admission's ID; the caller releases it if no record follows.
func (h *Handler) admitTus(ctx context.Context, req *http.Request, meta tusd.MetaData, size int64, parts []string) (*tusAdmission, error) {
	md, err := parseTusMeta(meta)
	if err != nil {
		return nil, err
	}
	maxFileSize, ok := h.host.MaxFileSize(md.route)
	if !ok {
		return nil, apierr.ErrUnknownRoute
	}
	if size > maxFileSize {
		return nil, apierr.ErrTooLarge.With("the file is larger than this route's limit of " + apierr.FormatSize(maxFileSize))
	}
	name := safename.Clean(md.name)
	g, err := h.host.Admit(ctx, req, md.route, md.input, File{Name: name, Size: size, Type: md.typ})
	if err != nil {
		return nil, err
	}
	if len(parts) > MaxConcatParts || hasDuplicate(parts) {
		return nil, apierr.ErrBadRequest.With(fmt.Sprintf("a concatenation names each of at most %d partial uploads once", MaxConcatParts))
	}
	for _, pid := range parts {
		p, err := h.store.Get(ctx, pid)
		if err != nil || !p.Partial || !g.Owns(p) || p.Route != md.route {
			return nil, errNoUpload
		}
	}
	// A final concatenation reserves its whole size although its parts
	// hold theirs until they are removed, once it is stored: for that
	// while, the bytes count twice.
	reserved := size
	if size < 0 {
		reserved = maxFileSize
	}
	if err := h.host.LimitOwner(ctx, g); err != nil {
		return nil, err
	}
	id := lifecycle.NewID()
	if err := h.host.Reserve(ctx, id, reserved, g, md.route); err != nil {
		return nil, err
	}
	return &tusAdmission{id: id, maxFileSize: maxFileSize, md: md, name: name, size: size, g: g}, nil
}

// admitCreation admits a creation-with-upload request from its headers,
// before its body is read: a body is spooled (for its checksum) only for
// a caller the route accepts, within the file's size and the quota.
func (h *Handler) admitCreation(req *http.Request) (*tusAdmission, error) {
	if c := req.Header.Get("Upload-Concat"); c != "" && c != "partial" {
		return nil, apierr.ErrBadRequest.With("a final concatenation carries no bytes of its own")
	}
	size := int64(-1)
	if req.Header.Get("Upload-Defer-Length") != "1" {
		n, err := strconv.ParseInt(req.Header.Get("Upload-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, apierr.ErrBadRequest.With("Upload-Length must be the file's size in bytes, or Upload-Defer-Length 1")
		}
		size = n
	}
	return h.admitTus(req.Context(), req, tusd.ParseMetadataHeader(req.Header.Get("Upload-Metadata")), size, nil)
}
