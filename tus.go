package carcosa

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/idle"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/tusext"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/store"
)

// tusMeta is what Carcosa reads from a tus upload's Upload-Metadata.
type tusMeta struct {
	route string
	name  string // as the client sent it; cleaned before use
	typ   string // claimed MIME type
	input []byte // JSON, possibly empty
}

// parseTusMeta reads the route, the file's name and claimed type (under the
// names tus-js-client and Uppy use: filename or name, filetype or type) and
// the route input.
func parseTusMeta(md tusd.MetaData) (tusMeta, error) {
	m := tusMeta{route: md["route"]}
	if m.route == "" {
		return m, ErrBadRequest.With(`the Upload-Metadata header must name a "route"`)
	}
	if !routeName.MatchString(m.route) {
		return m, ErrUnknownRoute
	}
	m.name = md["filename"]
	if m.name == "" {
		m.name = md["name"]
	}
	m.typ = md["filetype"]
	if m.typ == "" {
		m.typ = md["type"]
	}
	if len(m.typ) > 255 {
		m.typ = m.typ[:255]
	}
	if in, ok := md["input"]; ok {
		if len(in) > maxInputSize {
			return m, ErrInvalidInput.With("the input is larger than 64 KiB")
		}
		if strings.TrimSpace(in) != "" && !json.Valid([]byte(in)) {
			return m, ErrBadRequest.With("the input is not valid JSON")
		}
		m.input = []byte(in)
	}
	return m, nil
}

// MaxTusMetadata bounds the Upload-Metadata of a tus creation, as sent
// (base64 values), leaving out the route input, which has its own limit of
// 64 KiB decoded. A larger header is refused with ErrMetadataTooLarge.
const MaxTusMetadata = 16 << 10

// checkMetadataSize refuses an Upload-Metadata header larger than
// MaxTusMetadata besides its input entry. The whole header is bounded
// first, since every entry named input is left out of the second count.
func checkMetadataSize(header string) error {
	const slack = 64 // "input ", separators and spaces
	if len(header) > MaxTusMetadata+base64.StdEncoding.EncodedLen(maxInputSize)+slack {
		return ErrMetadataTooLarge
	}
	rest := len(header)
	for el := range strings.SplitSeq(header, ",") {
		if key, _, _ := strings.Cut(strings.TrimSpace(el), " "); key == "input" {
			rest -= len(el)
		}
	}
	if rest > MaxTusMetadata {
		return ErrMetadataTooLarge
	}
	return nil
}

// tusKeys are the Upload-Metadata keys staged with an upload, the ones
// Carcosa reads; tusd would keep any others too, for as long as the upload
// lives. The input is kept in the record only.
var tusKeys = []string{"route", "filename", "name", "filetype", "type"}

// keptMeta is what of md is staged with an upload.
func keptMeta(md tusd.MetaData) tusd.MetaData {
	kept := make(tusd.MetaData, len(tusKeys))
	for _, k := range tusKeys {
		if v, ok := md[k]; ok {
			kept[k] = v
		}
	}
	return kept
}

// ctxKey carries the client's request through tusd to the hooks.
type ctxKey struct{}

// finishKey carries a *finishMark through tusd to the finish hook.
type finishKey struct{}

// finishMark names the upload a tus request finished, which stays shielded
// (see shieldedLocker) until tusd has answered and let go of its lock.
type finishMark struct{ id string }

func httpRequest(ctx context.Context) *http.Request {
	req, _ := ctx.Value(ctxKey{}).(*http.Request)
	return req
}

func (r *Router) newTusHandler() (*tusd.UnroutedHandler, error) {
	composer := tusd.NewStoreComposer()
	r.staging.UseIn(composer)
	composer.UseLocker(r.locker)
	h, err := tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:             composer,
		BasePath:                  strings.TrimSuffix(r.cfg.BasePath, "/") + "/tus/",
		DisableDownload:           true,
		Cors:                      &tusd.CorsConfig{Disable: true},
		PreUploadCreateCallback:   r.tusCreate,
		PreFinishResponseCallback: r.tusFinish,
		NetworkTimeout:            r.cfg.IdleTimeout,
		Logger:                    xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("carcosa: creating the tus handler: %w", err)
	}
	return h, nil
}

// tusLimit gives the staging store the size limit of a new upload's route.
func (r *Router) tusLimit(info tusd.FileInfo) int64 {
	if h, ok := r.route(info.MetaData["route"]); ok {
		return h.Policy().MaxFileSize
	}
	return 1 // unreachable: creation checks the route first
}

// serveTus serves tus 1.0 under B/tus/. Every request but creation is about
// one upload, and is allowed only to its owner.
func (r *Router) serveTus(w http.ResponseWriter, req *http.Request) {
	mark := &finishMark{}
	ctx := context.WithValue(req.Context(), finishKey{}, mark)
	req = req.WithContext(context.WithValue(ctx, ctxKey{}, req))
	tw := &tusWriter{ResponseWriter: w, r: r, req: req}
	defer tw.finish()
	if req.Method == http.MethodPost || req.Method == http.MethodPatch {
		idle.Watch(r.log, tw, req, r.cfg.IdleTimeout)
	}
	defer func() {
		if mark.id != "" {
			r.unshield(mark.id)
		}
	}()

	id := strings.TrimPrefix(req.URL.Path, "/tus/")
	// tusd's unrouted handler reads the upload ID as the whole path.
	req.URL.Path = id
	if req.Method == http.MethodOptions {
		r.tus.Middleware(http.NotFoundHandler()).ServeHTTP(tw, req)
		return
	}
	if id == "" {
		if req.Method != http.MethodPost {
			r.writeError(tw, req, ErrMethod)
			return
		}
		if err := checkMetadataSize(req.Header.Get("Upload-Metadata")); err != nil {
			r.writeError(tw, req, err)
			return
		}
		tw.created = time.Now()
		// Creation with upload: a body sent with a checksum must match it.
		// It is spooled to be checked, once the caller is admitted.
		if req.ContentLength != 0 && req.Header.Get("Upload-Checksum") != "" {
			a, err := r.admitCreation(req)
			if err != nil {
				r.writeError(tw, req, err)
				return
			}
			defer func() {
				if !a.recorded {
					r.engine.ReleaseQuota(context.WithoutCancel(req.Context()), a.id)
				}
			}()
			req = req.WithContext(context.WithValue(req.Context(), admittedKey{}, a))
			limit := a.h.Policy().MaxFileSize
			if a.size >= 0 {
				limit = min(limit, a.size)
			}
			done, ok := r.verifyChecksum(tw, req, limit)
			if !ok {
				return
			}
			defer done()
		}
		if err := r.checkConcat(req); err != nil {
			r.writeError(tw, req, err)
			return
		}
		r.tus.Middleware(http.HandlerFunc(r.tus.PostFile)).ServeHTTP(tw, req)
		return
	}
	var next http.HandlerFunc
	switch req.Method {
	case http.MethodHead:
		next = r.tus.HeadFile
	case http.MethodPatch:
		next = r.tus.PatchFile
	case http.MethodDelete:
		next = r.tus.DelFile
	default:
		r.writeError(tw, req, ErrMethod)
		return
	}
	rec, h, err := r.authorize(req, id)
	if err != nil {
		r.writeError(tw, req, err)
		return
	}
	if req.Method != http.MethodDelete && r.needsFinish(req, rec) {
		// The upload has all its bytes but is not settled: the response
		// that would have said so was lost, or the process stopped.
		ctx, cancel := r.engine.ProcessContext(req.Context())
		rec, err = r.engine.FinishLocked(ctx, id, lifecycle.LockWait)
		cancel()
		if err != nil {
			r.writeError(tw, req, err)
			return
		}
	}
	// An upload with all its bytes was finished above, whatever the time.
	if req.Method != http.MethodDelete && r.engine.Expired(req.Context(), rec, time.Now()) {
		if err := r.engine.Expire(context.WithoutCancel(req.Context()), rec); err != nil {
			r.log.WarnContext(req.Context(), "expiring an upload", "upload", id, "err", err)
		}
		r.writeError(tw, req, ErrUploadExpired)
		return
	}
	if rec.State != store.Uploading {
		r.tusSettled(tw, req, rec)
		return
	}
	tw.created = rec.CreatedAt
	if req.Method == http.MethodPatch {
		left := h.Policy().MaxFileSize
		if rec.Size >= 0 {
			left = rec.Size // tusd checks the offset; this bounds the spool
		}
		done, ok := r.verifyChecksum(tw, req, left)
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
	r.tus.Middleware(next).ServeHTTP(tw, req)

	switch {
	case req.Method == http.MethodDelete && tw.status == http.StatusNoContent:
		if err := r.engine.DropRecord(req.Context(), id); err != nil {
			r.log.ErrorContext(req.Context(), "deleting a terminated upload's record", "upload", id, "err", err)
		}
	case chunked != nil && chunked.exceeded:
		// The client sent more than the file it declared: what it sent
		// is not the file.
		ctx := context.WithoutCancel(req.Context())
		r.engine.RemoveStaged(ctx, id)
		r.engine.Fail(ctx, h, id, errLongerThanUpload)
	case req.Method == http.MethodPatch && tw.tusdCode() == tusstage.ErrTooLarge.ErrorCode:
		// A deferred-length upload grew past its route's limit. (A chunk
		// longer than a declared length is refused by itself, and the
		// upload goes on.)
		ctx := context.WithoutCancel(req.Context())
		r.engine.RemoveStaged(ctx, id)
		r.engine.Fail(ctx, h, id, ErrTooLarge)
	}
}

// tusSettled answers a tus request about an upload that is no longer
// receiving bytes. A HEAD about a ready upload reports it complete, so a
// client that lost the last response does not upload again.
func (r *Router) tusSettled(w http.ResponseWriter, req *http.Request, rec *store.Upload) {
	// complete answers that every byte is in, and the upload's state.
	complete := func(status int) {
		h := w.Header()
		h.Set("Tus-Resumable", "1.0.0")
		h.Set("Upload-Offset", strconv.FormatInt(rec.Size, 10))
		h.Set("Upload-Length", strconv.FormatInt(rec.Size, 10))
		h.Set("Upload-State", string(rec.State))
		h.Set("Cache-Control", "no-store")
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
		r.writeError(w, req, ErrConflict.With("the upload has received all its bytes"))
	default:
		r.writeError(w, req, apierr.OfRecord(rec))
	}
}

// needsFinish reports whether upload rec has all its bytes staged here but
// is not settled yet.
//
// A PATCH can only find its upload complete if it starts at the upload's
// length, so other PATCHes (every chunk but a retried last one) are spared
// the look into staging.
func (r *Router) needsFinish(req *http.Request, rec *store.Upload) bool {
	switch {
	case rec.Via != "tus" || rec.Partial:
		return false
	case rec.State == store.Processing:
		// A file processed in the background is left to its job.
		return !r.engine.Background(rec)
	case rec.State != store.Uploading:
		return false
	case req.Method == http.MethodPatch && rec.Size >= 0 &&
		req.Header.Get("Upload-Offset") != strconv.FormatInt(rec.Size, 10):
		return false
	}
	return r.staging.Complete(req.Context(), rec.ID)
}

// authorize finds upload id and runs its route's middleware to check that
// the caller owns it: the same owner in the same tenant. Uploads of other
// owners and tenants are reported as not found, as are uploads whose
// route's middleware forbids the caller.
func (r *Router) authorize(req *http.Request, id string) (*store.Upload, routeHandler, error) {
	if !lifecycle.ValidID(id) {
		return nil, nil, ErrNotFound
	}
	rec, err := r.store.Get(req.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, apierr.Unavailable(err)
	}
	h, ok := r.route(rec.Route)
	if !ok {
		return nil, nil, ErrNotFound
	}
	g, err := h.admit(req.Context(), req, rec.Input, id, nil)
	if err != nil {
		// A caller refused on the upload's route (a key scoped to other
		// routes, say) learns no more than a caller of another owner.
		// Unauthenticated callers keep their 401, so that the owner with
		// an expired token knows to renew it.
		if apierr.Client(err).Status == http.StatusForbidden {
			return nil, nil, ErrNotFound
		}
		return nil, nil, err
	}
	if !g.Owns(rec) {
		return nil, nil, ErrNotFound
	}
	return rec, h, nil
}

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
var errNoUpload = ErrNotFound.With("no such upload")

// checkConcat checks, before tusd looks at them, that the partial uploads a
// final concatenation names are the caller's partial uploads of its route.
// tusd refuses a partial that is not finished (400) before the creation
// hook runs, which would tell anyone that the ID exists; so the middleware
// runs first (and runs again in the hook), and any upload not the
// caller's is not found.
func (r *Router) checkConcat(req *http.Request) error {
	final, ok := strings.CutPrefix(req.Header.Get("Upload-Concat"), "final;")
	if !ok {
		return nil
	}
	md, err := parseTusMeta(tusd.ParseMetadataHeader(req.Header.Get("Upload-Metadata")))
	if err != nil {
		return err
	}
	h, ok := r.route(md.route)
	if !ok {
		return ErrUnknownRoute
	}
	g, err := h.admit(req.Context(), req, md.input, "", []FileInfo{{Name: safename.Clean(md.name), Size: -1, Type: md.typ}})
	if err != nil {
		return err
	}
	parts := strings.Fields(final)
	if len(parts) > MaxConcatParts {
		return ErrBadRequest.With(fmt.Sprintf("a concatenation joins at most %d partial uploads", MaxConcatParts))
	}
	tusBase := strings.TrimSuffix(r.cfg.BasePath, "/") + "/tus/"
	// A partial named twice is refused by admitTus, on the IDs tusd reads.
	for _, u := range parts {
		_, id, _ := strings.Cut(u, tusBase)
		id = strings.Trim(id, "/")
		if !lifecycle.ValidID(id) {
			return errNoUpload
		}
		p, err := r.store.Get(req.Context(), id)
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
func (r *Router) tusCreate(hook tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	var none tusd.FileInfoChanges
	req := httpRequest(hook.Context)
	if req == nil {
		return tusd.HTTPResponse{}, none, tusError(ErrInternal, "")
	}
	reqID := apierr.RequestID(req)
	info := hook.Upload
	a, _ := hook.Context.Value(admittedKey{}).(*tusAdmission)
	if a == nil {
		size := info.Size
		if info.SizeIsDeferred {
			size = -1
		}
		var err error
		if a, err = r.admitTus(hook.Context, req, info.MetaData, size, info.PartialUploads); err != nil {
			return tusd.HTTPResponse{}, none, tusError(apierr.Client(err), reqID)
		}
	}
	rec := &store.Upload{
		ID: a.id, Route: a.md.route, Owner: a.g.Owner, Tenant: a.g.Tenant, Via: "tus",
		Name: a.name, ClaimedType: a.md.typ, Size: a.size, State: store.Uploading,
		Input: a.md.input, Metadata: a.g.Meta, Partial: info.IsPartial,
		Bucket: r.buckets.Place(lifecycle.Placement{Route: a.md.route, Tier: a.g.Tier, Size: a.size}),
	}
	if err := r.engine.CreateReserved(hook.Context, rec); err != nil {
		return tusd.HTTPResponse{}, none, tusError(apierr.Client(err), reqID)
	}
	a.recorded = true
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{ID: rec.ID, MetaData: keptMeta(info.MetaData)}, nil
}

// tusAdmission is a tus upload admitted for creation: its route, the
// caller's lifecycle.Grant, and the quota reserved under the upload's ID.
type tusAdmission struct {
	id       string
	h        routeHandler
	md       tusMeta
	name     string // safe
	size     int64  // -1 when deferred
	g        lifecycle.Grant
	recorded bool // the upload's record was created
}

// admittedKey carries a *tusAdmission made before tusd saw the request
// (see admitCreation) to tusCreate.
type admittedKey struct{}

// admitTus admits a new tus upload of size bytes (-1: deferred), a final
// concatenation of parts if any: route, size, input, middleware, the
// parts' owner, the owner's rate and quota. The quota is reserved under
// the admission's ID; the caller releases it if no record follows.
func (r *Router) admitTus(ctx context.Context, req *http.Request, meta tusd.MetaData, size int64, parts []string) (*tusAdmission, error) {
	md, err := parseTusMeta(meta)
	if err != nil {
		return nil, err
	}
	h, ok := r.route(md.route)
	if !ok {
		return nil, ErrUnknownRoute
	}
	cfg := h.Policy()
	if size > cfg.MaxFileSize {
		return nil, ErrTooLarge.With("the file is larger than this route's limit of " + apierr.FormatSize(cfg.MaxFileSize))
	}
	name := safename.Clean(md.name)
	g, err := h.admit(ctx, req, md.input, "", []FileInfo{{Name: name, Size: size, Type: md.typ}})
	if err != nil {
		return nil, err
	}
	if len(parts) > MaxConcatParts || hasDuplicate(parts) {
		return nil, ErrBadRequest.With(fmt.Sprintf("a concatenation names each of at most %d partial uploads once", MaxConcatParts))
	}
	for _, pid := range parts {
		p, err := r.store.Get(ctx, pid)
		if err != nil || !p.Partial || !g.Owns(p) || p.Route != md.route {
			return nil, errNoUpload
		}
	}
	// A final concatenation reserves its whole size although its parts
	// hold theirs until they are removed, once it is stored: for that
	// while, the bytes count twice.
	reserved := size
	if size < 0 {
		reserved = cfg.MaxFileSize
	}
	if err := r.limitOwner(ctx, g); err != nil {
		return nil, err
	}
	id := lifecycle.NewID()
	if err := r.engine.Reserve(ctx, id, reserved, g, md.route); err != nil {
		return nil, err
	}
	return &tusAdmission{id: id, h: h, md: md, name: name, size: size, g: g}, nil
}

// admitCreation admits a creation-with-upload request from its headers,
// before its body is read: a body is spooled (for its checksum) only for
// a caller the route accepts, within the file's size and the quota.
func (r *Router) admitCreation(req *http.Request) (*tusAdmission, error) {
	if c := req.Header.Get("Upload-Concat"); c != "" && c != "partial" {
		return nil, ErrBadRequest.With("a final concatenation carries no bytes of its own")
	}
	size := int64(-1)
	if req.Header.Get("Upload-Defer-Length") != "1" {
		n, err := strconv.ParseInt(req.Header.Get("Upload-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, ErrBadRequest.With("Upload-Length must be the file's size in bytes, or Upload-Defer-Length 1")
		}
		size = n
	}
	return r.admitTus(req.Context(), req, tusd.ParseMetadataHeader(req.Header.Get("Upload-Metadata")), size, nil)
}

// tusFinish verifies a tus upload whose last byte arrived, before tusd
// answers the request that brought it, so that the client learns the
// outcome from that response.
func (r *Router) tusFinish(hook tusd.HookEvent) (tusd.HTTPResponse, error) {
	if hook.Upload.IsPartial {
		return tusd.HTTPResponse{}, nil
	}
	if mark, _ := hook.Context.Value(finishKey{}).(*finishMark); mark != nil && mark.id == "" {
		mark.id = hook.Upload.ID
		r.shield(mark.id)
	}
	reqID := ""
	if req := httpRequest(hook.Context); req != nil {
		reqID = apierr.RequestID(req)
	}
	ctx, cancel := r.engine.ProcessContext(hook.Context)
	defer cancel()
	var (
		rec *store.Upload
		err error
	)
	if h, ok := r.route(hook.Upload.MetaData["route"]); ok && r.engine.Async(h.Policy(), hook.Upload.Size) {
		rec, err = r.engine.ProcessLater(ctx, hook.Upload.ID)
	} else {
		rec, err = r.engine.Finish(ctx, hook.Upload.ID)
	}
	if err != nil {
		return tusd.HTTPResponse{}, tusError(apierr.Client(err), reqID)
	}
	for _, pid := range hook.Upload.PartialUploads {
		r.engine.RemoveStaged(ctx, pid)
		if err := r.engine.DropRecord(ctx, pid); err != nil {
			r.log.WarnContext(ctx, "removing a partial upload's record", "upload", pid, "err", err)
		}
	}
	return tusd.HTTPResponse{Header: tusd.HTTPHeader{"Upload-State": string(rec.State)}}, nil
}

// verifyChecksum checks the body of a tus request that carries an
// Upload-Checksum (tus's checksum extension) before tusd reads it: the body
// is spooled to disk while hashed, and handed on only when it matches, so a
// corrupted chunk never reaches the upload. It answers the request itself
// when the checksum is malformed, unsupported or wrong (460), and reports
// ok=false; otherwise done releases the spooled body. A body longer than
// limit bytes (when limit ≥ 0) is refused.
func (r *Router) verifyChecksum(w http.ResponseWriter, req *http.Request, limit int64) (done func(), ok bool) {
	h := req.Header.Get("Upload-Checksum")
	if h == "" {
		return func() {}, true
	}
	sum, err := tusext.ParseChecksum(h)
	if err != nil {
		msg := "Upload-Checksum must be \"<algorithm> <base64 digest>\""
		if errors.Is(err, tusext.ErrUnsupported) {
			msg = "the checksum algorithm is not supported; use one of " + tusext.Algorithms
		}
		r.writeError(w, req, ErrBadRequest.With(msg).Wrap(err))
		return nil, false
	}
	body, err := tusext.Spool(req.Context(), req.Body, sum, r.engine.TempDir(), limit)
	switch {
	case errors.Is(err, tusext.ErrMismatch):
		r.writeError(w, req, ErrChecksumMismatch)
		return nil, false
	case errors.Is(err, tusext.ErrTooLarge):
		r.writeError(w, req, errLongerThanUpload)
		return nil, false
	case errors.Is(err, tusext.ErrSpoolWrite):
		r.log.ErrorContext(req.Context(), "spooling a tus request's body", "err", err)
		r.writeError(w, req, ErrUnavailable.With("the server could not take the request's bytes; try again").Wrap(err))
		return nil, false
	case idle.Idled(req):
		r.writeError(w, req, ErrIdleTimeout.Wrap(err))
		return nil, false
	case err != nil:
		r.writeError(w, req, apierr.Body(err))
		return nil, false
	}
	req.Body = body
	req.ContentLength = body.Size()
	return func() { body.Close() }, true
}

// errLongerThanUpload refuses a request that sends more bytes than its
// upload's length.
var errLongerThanUpload = ErrTooLarge.With("the request sends more bytes than the upload's length")

// exactBody passes on at most left bytes of a request body of unknown
// length, and keeps the last of them back until the body's end shows that
// no byte follows. A body longer than left fails with an
// *http.MaxBytesError before its last allowed byte is given, so that it
// never completes the upload it is written to.
type exactBody struct {
	io.ReadCloser
	left     int64
	exceeded bool
	err      error // what to answer once the last byte is given
}

func (b *exactBody) Read(p []byte) (int, error) {
	switch {
	case b.exceeded:
		return 0, &http.MaxBytesError{Limit: b.left}
	case b.err != nil:
		return 0, b.err
	case len(p) == 0:
		return 0, nil
	case b.left > 1:
		p = p[:min(int64(len(p)), b.left-1)]
		n, err := b.ReadCloser.Read(p)
		b.left -= int64(n)
		return n, err
	}
	// The last byte, if any, and one more to see that none follows.
	var two [2]byte
	n, err := io.ReadAtLeast(b.ReadCloser, two[:], 2)
	switch {
	case int64(n) > b.left:
		b.exceeded = true
		return 0, &http.MaxBytesError{Limit: b.left}
	case n == 1:
		p[0] = two[0]
		b.left = 0
		b.err = err
		if err == io.ErrUnexpectedEOF {
			b.err = io.EOF
		}
		return 1, nil
	}
	return 0, err
}

// tusError makes e a tusd error whose response is Carcosa's JSON.
func tusError(e *Error, reqID string) error {
	h := tusd.HTTPHeader{
		"Content-Type":           "application/json; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
	}
	if ra := apierr.RetryAfter(e); ra != "" {
		h["Retry-After"] = ra
	}
	return tusd.Error{
		ErrorCode: e.Code,
		Message:   e.Message,
		HTTPResponse: tusd.HTTPResponse{
			StatusCode: e.Status,
			Body:       string(apierr.Marshal(e, reqID)),
			Header:     h,
		},
	}
}

// tusWriter rewrites tusd's plain-text errors into Carcosa's JSON errors, so
// that every error a client sees has one shape and no internal text.
type tusWriter struct {
	http.ResponseWriter
	r       *Router
	req     *http.Request
	status  int
	capture bool
	body    bytes.Buffer

	// created, for a request about an unfinished upload, is when the
	// upload was created. A successful response tells when it expires
	// (Upload-Expires), which depends on the offset tusd answers.
	created time.Time
}

func (w *tusWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if !w.created.IsZero() && code < 300 {
		off, err := strconv.ParseInt(w.Header().Get("Upload-Offset"), 10, 64)
		received := err == nil && off > 0
		w.Header().Set("Upload-Expires", w.r.engine.Expires(w.created, received).UTC().Format(http.TimeFormat))
	}
	if ext := w.Header().Get("Tus-Extension"); ext != "" {
		// The extensions Carcosa adds to tusd's.
		w.Header().Set("Tus-Extension", ext+",checksum,expiration")
		w.Header().Set("Tus-Checksum-Algorithm", tusext.Algorithms)
	}
	if code >= 400 && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		w.capture = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.capture {
		if w.body.Len() < 4096 {
			w.body.Write(p)
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (tusd sets read
// deadlines through it).
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tusdCode is the code of the tusd error being rewritten, if any.
func (w *tusWriter) tusdCode() string {
	if !w.capture {
		return ""
	}
	code, _, _ := strings.Cut(strings.TrimSpace(w.body.String()), ": ")
	return code
}

func (w *tusWriter) finish() {
	if !w.capture {
		return
	}
	code, msg, _ := strings.Cut(strings.TrimSpace(w.body.String()), ": ")
	e := tusdError(w.status, code, msg)
	if e.Status >= 500 {
		w.r.log.ErrorContext(w.req.Context(), "tus request failed", "request_id", apierr.RequestID(w.req), "code", code, "err", msg)
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.ResponseWriter.WriteHeader(e.Status)
	if w.req.Method != http.MethodHead {
		w.ResponseWriter.Write(apierr.Marshal(e, apierr.RequestID(w.req)))
	}
}

// tusdError maps one of tusd's errors to a client error. tusd's messages for
// protocol errors are safe to show; server errors are replaced.
func tusdError(status int, code, msg string) *Error {
	switch {
	case code == "ERR_READ_TIMEOUT":
		return ErrIdleTimeout
	case status >= 500:
		return ErrInternal
	case code == "ERR_UPLOAD_NOT_FOUND" || status == http.StatusNotFound:
		return errNoUpload
	case code == "ERR_UPLOAD_SIZE_EXCEEDED":
		return errLongerThanUpload
	case status == http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	}
	c := strings.ToLower(strings.TrimPrefix(code, "ERR_"))
	if c == "" || strings.ContainsAny(c, " \n") {
		c = "bad_request"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return NewError(status, "tus_"+c, msg)
}
