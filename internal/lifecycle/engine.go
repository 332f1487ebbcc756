// Package lifecycle is the state machine of uploads: everything that
// happens to an upload between its creation and its end. It verifies a
// file (type, extension, polyglot, size), stores it, scans it, quarantines
// or releases it, rewrites it and makes its derivatives, counts it against
// its quotas, runs its route's callbacks and settles it ready, rejected,
// quarantined or failed; it processes large files and retries scans in the
// background, recovers what a crash or a failing backend left unfinished,
// and expires what was never finished.
//
// Every change of an upload's record goes through Engine.Update (its
// creation through Engine.Create, its removal through Engine.DeleteRecord),
// which writes the record and then tells the Observer: the one place where
// events, webhooks, metrics and traces attach.
//
// Operations that settle or end an upload run one at a time per upload
// within a process, each waiting its turn; across processes, resumable
// uploads are held by their lock.
//
// The engine knows nothing of HTTP. The adapters (multipart, tus,
// presigned uploads, the Go API) hand it files and ask it to finish them;
// the routes answer it through the Route interface.
package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/internal/tracing"

	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/internal/staging"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// Policy is what the engine and the adapters know of a route: what it
// accepts and how its files are processed.
type Policy struct {
	Name        string
	Accept      []string
	MaxFileSize int64
	MinFiles    int
	MaxFiles    int
	Attachment  bool
	Public      bool
	AcceptsAny  bool // Accept lists "any": executables are allowed

	SkipScan          bool
	ScanFailOpen      bool
	AcceptUnscannable bool
	AsyncAbove        int64 // -1: never

	Derivatives map[string]transform.Spec
	Presets     map[string]transform.Spec
	PresetsOnly bool
	Rewrite     bool
}

// ViaUploadThing names uploads that came in by the UploadThing adapter's
// ingest (compat/uploadthing), whose bytes are staged as tus's are.
const ViaUploadThing = "uploadthing"

// Staged reports whether uploads that came in via are kept in the staging
// area until they are finished, as tus uploads are.
func Staged(via string) bool { return via == "tus" || via == ViaUploadThing }

// Route is how the engine reaches a route's callbacks.
type Route interface {
	// Policy is the route's policy; the engine does not change it.
	Policy() *Policy

	// Complete runs OnComplete for upload rec, which is stored and
	// verified, and returns its result as JSON.
	Complete(ctx context.Context, rec *store.Upload) (json.RawMessage, error)

	// Fail runs OnError for upload rec, which ended with err. rec is not
	// served (its State says so) and its bytes are removed.
	Fail(ctx context.Context, rec *store.Upload, err error)
}

// Grant is who a route's middleware admitted: the owner, in a tenant, of
// a tier, with the metadata the callbacks get, as JSON.
type Grant struct {
	Owner  string
	Tenant string
	Tier   string
	Meta   []byte
}

// Owns reports whether the caller g is rec's owner: the same owner in the
// same tenant.
func (g Grant) Owns(rec *store.Upload) bool {
	return g.Owner == rec.Owner && g.Tenant == rec.Tenant
}

// Config holds what an Engine is built from.
type Config struct {
	Store    store.Store
	Staging  staging.Area   // resumable uploads until their last byte
	Buckets  *Buckets       // where files are kept
	Queue    queue.Queue    // background work; the engine registers its job kind
	Scanner  scan.Scanner   // nil: no scans
	Quota    *quota.Manager // nil: no quotas
	Images   *imaging.Pool
	Observer Observer // nil: none
	Log      *slog.Logger

	// Routes finds a route by name.
	Routes func(name string) (Route, bool)

	// Lock takes a resumable upload's lock, as tusd does for every request
	// about it, waiting at most until ctx is done.
	Lock func(ctx context.Context, id string) (unlock func(), err error)

	DataDir        string // temporary files go to DataDir/tmp
	Quarantine     string // the bucket of quarantined files; "" for each file's own
	ProcessTimeout time.Duration
	PresignTTL     time.Duration
	UploadTTL      time.Duration
	IdleUploadTTL  time.Duration

	// BeforeVerify, when set (by tests), runs when finishing a resumable
	// upload is about to verify it.
	BeforeVerify func(id string)

	// StageTimer, when set, is told how long each processing stage of a
	// file took (one of the Stage constants), where it ran, failed or not.
	// A file received in one request (multipart) is verified and stored as
	// it streams in: its verify and store stages are not timed apart.
	StageTimer func(stage string, d time.Duration)

	// Tracer, when set, traces each processing stage and each background
	// job as a span; nil traces nothing.
	Tracer trace.Tracer
}

// The processing stages StageTimer is told of.
const (
	StageVerify      = "verify"      // a staged file's type, extension, polyglot and size checks
	StageStore       = "store"       // moving a staged file into its bucket
	StageScan        = "scan"        // waiting for the malware scan (which streams while the bytes arrive), or the scan of a stored file
	StageDerivatives = "derivatives" // the rewrite of an image, then its derivatives (timed apart)
	StageCallback    = "callback"    // the route's OnComplete
)

// beginStage begins processing stage name of upload rec: a span, a child of
// ctx's, and a timer. The returned function ends both, recording the
// stage's error when *errp is not nil; call it as
//
//	ctx, end := eng.beginStage(ctx, StageScan, rec)
//	defer end(&err)
func (eng *Engine) beginStage(ctx context.Context, name string, rec *store.Upload) (context.Context, func(errp *error)) {
	start := time.Now()
	ctx, span := eng.tracer.Start(ctx, "carcosa."+name, trace.WithAttributes(
		tracing.Stage.String(name), tracing.UploadID.String(rec.ID), tracing.Route.String(rec.Route), tracing.Size.Int64(rec.Size)))
	return ctx, func(errp *error) {
		if eng.cfg.StageTimer != nil {
			eng.cfg.StageTimer(name, time.Since(start))
		}
		var err error
		if errp != nil {
			err = *errp
		}
		tracing.End(span, err)
	}
}

// Engine runs the lifecycle of uploads. It is safe for concurrent use.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	staging  staging.Area
	buckets  *Buckets
	queue    queue.Queue
	scanner  scan.Scanner
	quota    *quota.Manager
	images   *imaging.Pool
	observer Observer
	route    func(name string) (Route, bool)
	stages   []stage
	tracer   trace.Tracer
	started  time.Time

	finMu     sync.Mutex
	finishing map[string]*finishTurn

	bgMu     sync.Mutex
	bgCancel context.CancelFunc
	bgDone   chan struct{}
}

// JobProcess is the kind of the queue's jobs that process an upload in the
// background.
const JobProcess = jobProcess

// New returns an Engine for cfg and registers its jobs on cfg.Queue.
func New(cfg Config) *Engine {
	e := &Engine{
		cfg: cfg, log: cfg.Log, store: cfg.Store, staging: cfg.Staging, buckets: cfg.Buckets,
		queue: cfg.Queue, scanner: cfg.Scanner, quota: cfg.Quota, images: cfg.Images,
		observer: cfg.Observer, route: cfg.Routes,
		stages:    defaultStages(),
		tracer:    cfg.Tracer,
		started:   time.Now(),
		finishing: make(map[string]*finishTurn),
	}
	if e.tracer == nil {
		e.tracer = tracing.Tracer(nil)
	}
	cfg.Queue.Handle(jobProcess, e.processJob)
	cfg.Queue.Handle(jobWatch, e.watchJob)
	return e
}

// lockUpload takes upload id's lock.
func (eng *Engine) lockUpload(ctx context.Context, id string) (func(), error) {
	return eng.cfg.Lock(ctx, id)
}

// NewID returns a random 128-bit ID in lowercase hex: URL- and path-safe.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether id is of NewID's form.
func ValidID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// routeName is the form of a route's name.
var routeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidRouteName reports whether name is of the form of a route's name:
// 1-64 lowercase letters, digits, '-' and '_', starting with a letter or
// digit (so that no key of a stored file starts with a dot).
func ValidRouteName(name string) bool { return routeName.MatchString(name) }

// MaxInputSize bounds the JSON input a client may send with an upload.
const MaxInputSize = 64 << 10
