package tusadapter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/carcosa-dev/carcosa/internal/staging"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// Host is what the adapter asks of the rest of the system: the routes and
// their middleware, the owner's rate and quota, and an upload's life
// outside tus (finishing, failing, expiring, removing).
type Host interface {
	// MaxFileSize is the size limit of route's files; ok is false when no
	// route has that name.
	MaxFileSize(route string) (size int64, ok bool)
	// Admit runs route's middleware for a caller creating an upload of f
	// with input, and returns what it granted; ErrUnknownRoute when no
	// route has that name.
	Admit(ctx context.Context, req *http.Request, route string, input []byte, f File) (Grant, error)
	// Authorize finds upload id and checks that the caller owns it. An
	// upload the caller does not own is not found.
	Authorize(req *http.Request, id string) (*store.Upload, error)

	// LimitOwner applies the rate at which g's owner may create uploads.
	LimitOwner(ctx context.Context, g Grant) error
	// Reserve counts a new upload of size bytes (the most it may take,
	// when its size is deferred) against g's quotas on route, under id.
	Reserve(ctx context.Context, id string, size int64, g Grant, route string) error
	// ReleaseQuota gives back what upload id reserved.
	ReleaseQuota(ctx context.Context, id string)
	// Create records new upload rec, whose quota is reserved under rec.ID,
	// in the bucket chosen by its route, size and the owner's tier, and
	// gives the reservation back if that fails.
	Create(ctx context.Context, rec *store.Upload, tier string) error

	// InBackground reports whether a file of size bytes of route is
	// processed after the request that brought its last byte.
	InBackground(route string, size int64) bool
	// Finish verifies and stores upload id, all of whose bytes are staged.
	Finish(ctx context.Context, id string) (*store.Upload, error)
	// FinishLocked finishes upload id holding its lock.
	FinishLocked(ctx context.Context, id string) (*store.Upload, error)
	// ProcessLater leaves upload id, all of whose bytes are staged, to be
	// processed in the background.
	ProcessLater(ctx context.Context, id string) (*store.Upload, error)
	// ProcessContext detaches the finishing of an upload from ctx's
	// cancellation, within the time finishing may take.
	ProcessContext(ctx context.Context) (context.Context, context.CancelFunc)
	// Fail ends upload rec, whose staged bytes are removed, with cause.
	Fail(ctx context.Context, rec *store.Upload, cause error)
	// RemoveStaged removes what is staged of upload id.
	RemoveStaged(ctx context.Context, id string)
	// DropRecord deletes the record of upload id, whose bytes are gone,
	// and gives back its quota.
	DropRecord(ctx context.Context, id string) error

	// Expires is when an upload created at created expires, by whether it
	// has received a byte.
	Expires(created time.Time, received bool) time.Time
	// Expired reports whether upload rec, still receiving bytes, is past
	// its expiry at now.
	Expired(ctx context.Context, rec *store.Upload, now time.Time) bool
	// Expire removes the staged bytes of upload rec, past its expiry, and
	// ends it.
	Expire(ctx context.Context, rec *store.Upload) error

	// Progress tells that offset bytes of upload rec have arrived, at
	// bytesPerSecond over the request bringing them. It must not block.
	Progress(rec *store.Upload, offset int64, bytesPerSecond float64)
}

// Grant is what a route's middleware granted a caller.
type Grant struct {
	Owner    string
	Tenant   string
	Tier     string
	Metadata []byte // JSON
}

// Owns reports whether the caller g is rec's owner: the same owner in the
// same tenant.
func (g Grant) Owns(rec *store.Upload) bool {
	return g.Owner == rec.Owner && g.Tenant == rec.Tenant
}

// File is a file as the client declared it, for a route's middleware.
type File struct {
	Name string // safe display name
	Size int64  // declared size; -1 when not declared
	Type string // the MIME type the client claimed
}

// Options are the dependencies of a Handler.
type Options struct {
	// BasePath is the path the Router is mounted at, in its canonical
	// form ("/" or "/a/b"); tus is served under BasePath/tus/.
	BasePath string
	// IdleTimeout is how long a request may go without sending a byte of
	// its body; it also bounds tusd's reads.
	IdleTimeout time.Duration
	// DataDir holds the local staging area (DataDir/tus) when Staging is
	// nil.
	DataDir string
	// TmpDir holds request bodies while their checksum is verified.
	TmpDir string
	// Staging is the bucket uploads are staged in; nil for DataDir/tus.
	Staging *storage.Bucket
	// Store keeps the records, and locks uploads if it is a store.Locker.
	Store store.Store
	// Log receives the adapter's logs.
	Log *slog.Logger
	// Host is the rest of the system.
	Host Host
}

// Handler serves tus requests whose path starts with /tus/ (the part of
// the URL after BasePath).
type Handler struct {
	basePath string
	idle     time.Duration
	tmpDir   string
	store    store.Store
	log      *slog.Logger
	host     Host
	staging  staging.Area
	locks    *shieldedLocker
	core     tusd.DataStore // the staging area as tusd's store
	tus      *tusd.UnroutedHandler
}

// New opens the staging area and makes the tus handler.
func New(o Options) (*Handler, error) {
	h := &Handler{
		basePath: o.BasePath,
		idle:     o.IdleTimeout,
		tmpDir:   o.TmpDir,
		store:    o.Store,
		log:      o.Log,
		host:     o.Host,
		locks:    newShieldedLocker(newLocker(o.Store)),
	}
	var err error
	if h.staging, err = h.openStaging(o.Staging, o.DataDir); err != nil {
		return nil, err
	}
	composer := tusd.NewStoreComposer()
	h.staging.UseIn(composer)
	h.core = composer.Core
	composer.UseLocker(h.locks)
	h.tus, err = tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:             composer,
		BasePath:                  h.tusBase(),
		DisableDownload:           true,
		Cors:                      &tusd.CorsConfig{Disable: true},
		PreUploadCreateCallback:   h.tusCreate,
		PreFinishResponseCallback: h.tusFinish,
		NetworkTimeout:            o.IdleTimeout,
		Logger:                    xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("carcosa: creating the tus handler: %w", err)
	}
	return h, nil
}

// tusBase is the path of tus uploads' URLs.
func (h *Handler) tusBase() string {
	return strings.TrimSuffix(h.basePath, "/") + "/tus/"
}

// Staging is the staging area the Handler opened.
func (h *Handler) Staging() staging.Area { return h.staging }

// tusLimit gives the staging store the size limit of a new upload's route.
func (h *Handler) tusLimit(info tusd.FileInfo) int64 {
	if n, ok := h.host.MaxFileSize(info.MetaData["route"]); ok {
		return n
	}
	return 1 // unreachable: creation checks the route first
}
