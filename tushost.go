package carcosa

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/tusadapter"
	"github.com/carcosa-dev/carcosa/store"
)

// MaxConcatParts is the most partial uploads one final concatenation may
// join (tus's concatenation extension); each may be named once.
const MaxConcatParts = tusadapter.MaxConcatParts

// MaxTusMetadata bounds the Upload-Metadata of a tus creation, as sent
// (base64 values), leaving out the route input, which has its own limit of
// 64 KiB decoded. A larger header is refused with ErrMetadataTooLarge.
const MaxTusMetadata = tusadapter.MaxTusMetadata

// newTusAdapter makes the handler of B/tus/, which opens the staging area.
func newTusAdapter(r *Router) (*tusadapter.Handler, error) {
	return tusadapter.New(tusadapter.Options{
		BasePath:    r.cfg.BasePath,
		IdleTimeout: r.cfg.IdleTimeout,
		DataDir:     r.cfg.DataDir,
		TmpDir:      filepath.Join(r.cfg.DataDir, lifecycle.TmpDir),
		Staging:     r.cfg.Staging,
		Store:       r.store,
		Log:         r.log,
		Host:        tusHost{r},
	})
}

// lockUpload takes upload id's lock, as tusd does for each request about
// it, waiting at most until ctx is done.
func (r *Router) lockUpload(ctx context.Context, id string) (unlock func(), err error) {
	return r.tusHandler.LockUpload(ctx, id)
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

// tusHost is the Router as the tus adapter sees it.
type tusHost struct{ r *Router }

var _ tusadapter.Host = tusHost{}

func (h tusHost) MaxFileSize(route string) (int64, bool) {
	rh, ok := h.r.route(route)
	if !ok {
		return 0, false
	}
	return rh.Policy().MaxFileSize, true
}

func (h tusHost) Admit(ctx context.Context, req *http.Request, route string, input []byte, f tusadapter.File) (tusadapter.Grant, error) {
	rh, ok := h.r.route(route)
	if !ok {
		return tusadapter.Grant{}, ErrUnknownRoute
	}
	g, err := rh.admit(ctx, req, input, "", []FileInfo{{Name: f.Name, Size: f.Size, Type: f.Type}})
	if err != nil {
		return tusadapter.Grant{}, err
	}
	return tusadapter.Grant{Owner: g.Owner, Tenant: g.Tenant, Tier: g.Tier, Metadata: g.Meta}, nil
}

func (h tusHost) Authorize(req *http.Request, id string) (*store.Upload, error) {
	rec, _, err := h.r.authorize(req, id)
	return rec, err
}

// grantOf is the Router's grant for the adapter's.
func grantOf(g tusadapter.Grant) lifecycle.Grant {
	return lifecycle.Grant{Owner: g.Owner, Tenant: g.Tenant, Tier: g.Tier, Meta: g.Metadata}
}

func (h tusHost) LimitOwner(ctx context.Context, g tusadapter.Grant) error {
	return h.r.limitOwner(ctx, grantOf(g))
}

func (h tusHost) Reserve(ctx context.Context, id string, size int64, g tusadapter.Grant, route string) error {
	return h.r.engine.Reserve(ctx, id, size, grantOf(g), route)
}

func (h tusHost) ReleaseQuota(ctx context.Context, id string) { h.r.engine.ReleaseQuota(ctx, id) }

func (h tusHost) Create(ctx context.Context, rec *store.Upload, tier string) error {
	rec.Bucket = h.r.buckets.Place(lifecycle.Placement{Route: rec.Route, Tier: tier, Size: rec.Size})
	return h.r.engine.CreateReserved(ctx, rec)
}

func (h tusHost) InBackground(route string, size int64) bool {
	rh, ok := h.r.route(route)
	return ok && h.r.engine.Async(rh.Policy(), size)
}

func (h tusHost) Finish(ctx context.Context, id string) (*store.Upload, error) {
	return h.r.engine.Finish(ctx, id)
}

func (h tusHost) FinishLocked(ctx context.Context, id string) (*store.Upload, error) {
	return h.r.engine.FinishLocked(ctx, id, lifecycle.LockWait)
}

func (h tusHost) ProcessLater(ctx context.Context, id string) (*store.Upload, error) {
	return h.r.engine.ProcessLater(ctx, id)
}

func (h tusHost) ProcessContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return h.r.engine.ProcessContext(ctx)
}

func (h tusHost) Fail(ctx context.Context, rec *store.Upload, cause error) {
	rh, _ := h.r.route(rec.Route)
	h.r.engine.Fail(ctx, rh, rec.ID, cause)
}

func (h tusHost) RemoveStaged(ctx context.Context, id string) { h.r.engine.RemoveStaged(ctx, id) }

func (h tusHost) DropRecord(ctx context.Context, id string) error {
	return h.r.engine.DropRecord(ctx, id)
}

func (h tusHost) Expires(created time.Time, received bool) time.Time {
	return h.r.engine.Expires(created, received)
}

func (h tusHost) Expired(ctx context.Context, rec *store.Upload, now time.Time) bool {
	return h.r.engine.Expired(ctx, rec, now)
}

func (h tusHost) Expire(ctx context.Context, rec *store.Upload) error {
	return h.r.engine.Expire(ctx, rec)
}

func (h tusHost) Progress(rec *store.Upload, offset int64, bytesPerSecond float64) {
	h.r.live.Progress(rec, offset, bytesPerSecond)
}
