package carcosa

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-playground/validator/v10"
	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/breaker"
	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/logctx"
	"github.com/carcosa-dev/carcosa/internal/serve"
	"github.com/carcosa-dev/carcosa/internal/staging"
	"github.com/carcosa-dev/carcosa/internal/tracing"
	"github.com/carcosa-dev/carcosa/internal/tusadapter"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/sqlite"
	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/webhook"
)

// Router is the upload system mounted as an http.Handler. Create it with
// New, declare routes with Handle, then serve it under Config.BasePath:
//
//	mux.Handle("/api/uploads/", r)
//
// A Router is safe for concurrent use. Close it after the server has shut
// down.
type Router struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	storage  storage.Storage
	buckets  *lifecycle.Buckets
	engine   *lifecycle.Engine
	staging  staging.Area // opened by tusHandler
	validate *validator.Validate
	key      []byte
	scanner  scan.Scanner
	queue    queue.Queue
	quota    *quota.Manager // nil without Config.Quota
	audit    store.AuditLog // nil when the Store keeps no audit log
	fetcher  *safefetch.Client
	webhooks *webhook.Dispatcher // nil when there is nothing to send to

	images     *imaging.Pool
	files      *serve.Files
	tusHandler *tusadapter.Handler         // serves B/tus/
	live       *live                       // publishes and serves live events
	relay      *relay                      // sends webhooks from a Store's change log; nil without one
	metrics    *metrics                    // nil without Config.Metrics
	breakers   map[string]*breaker.Breaker // by dependency; none when disabled
	tracer     trace.Tracer                // a no-op one without Config.TracerProvider

	mu       sync.RWMutex
	routes   map[string]routeHandler
	serving  atomic.Bool
	draining atomic.Bool   // new uploads are refused; see Drain
	drained  chan struct{} // closed by Drain: owners' event streams end

	mux     *http.ServeMux
	closers []func() error

	outside sync.Once // the hint about a request outside BasePath is logged once

	// beforeVerify, when set (by tests, before serving), runs when
	// finishing a resumable upload is about to verify it.
	beforeVerify func(id string)

	lifeMu   sync.Mutex // guards what follows
	queueRun bool       // the queue was started
	stopped  bool
}

// New returns a Router for cfg. It opens the embedded defaults for any
// backend cfg leaves nil; Close closes only what New opened.
func New(cfg Config) (*Router, error) {
	cfg = cfg.WithDefaults()
	err := cfg.validate()
	if err != nil {
		return nil, err
	}
	// Every line logged with a request's context names the request.
	cfg.Logger = logctx.Logger(cfg.Logger)
	// DataDir/tmp holds tus request bodies while their checksum is verified.
	// This makes DataDir too, if missing: private, as all Carcosa keeps.
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, lifecycle.TmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("carcosa: creating DataDir: %w", err)
	}
	r := &Router{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    cfg.Store,
		storage:  cfg.Storage,
		validate: newValidator(),
		key:      cfg.SigningKey,
		routes:   make(map[string]routeHandler),
		scanner:  cfg.Scanner,
		queue:    cfg.Queue,
		tracer:   tracing.Tracer(cfg.TracerProvider),
		drained:  make(chan struct{}),
	}
	video := cfg.Video
	if video == nil {
		if f, err := transform.NewFFmpeg(); err == nil {
			video = f
		} else {
			r.log.Info("carcosa: videos get no derivatives", "reason", err.Error())
		}
	}
	engine := cfg.ImageEngine
	if engine == nil {
		engine = transform.New(cfg.TransformLimits)
	}
	r.images = imaging.New(engine, cfg.TransformWorkers, video)
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if r.store == nil {
		s, err := sqlite.Open(filepath.Join(cfg.DataDir, "carcosa.db"))
		if err != nil {
			return nil, fmt.Errorf("carcosa: opening the default store: %w", err)
		}
		r.store = s
		r.closers = append(r.closers, s.Close)
	}
	if r.storage == nil {
		dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "files"))
		if err != nil {
			return nil, err
		}
		b, err := storage.Open(context.Background(), "file://"+filepath.ToSlash(dir))
		if err != nil {
			return nil, fmt.Errorf("carcosa: opening the default storage: %w", err)
		}
		r.storage = b
		r.closers = append(r.closers, b.Close)
	}
	if r.key == nil {
		if r.key, err = loadOrCreateKey(filepath.Join(cfg.DataDir, "signing.key")); err != nil {
			return nil, err
		}
	}
	if r.queue == nil {
		r.queue = queue.NewMemory(&queue.MemoryOptions{Logger: cfg.Logger})
	}
	r.breakers = newBreakers(cfg)
	if r.metrics, err = newMetrics(cfg.Metrics, r.breakers, r.queue, r.log); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, r.metrics.unregister)
	r.buckets = newBuckets(cfg, r.storage, r.breakers, r.metrics)
	if r.scanner != nil {
		r.scanner = breaker.NewScanner(r.scanner, r.breakers[breakerScanner])
	}
	r.files = newFiles(r)
	if r.tusHandler, err = newTusAdapter(r); err != nil {
		return nil, err
	}
	r.staging = r.tusHandler.Staging()
	r.audit, _ = r.store.(store.AuditLog)
	r.fetcher = safefetch.New(cfg.Fetch)
	if cfg.Quota != nil {
		ledger, ok := r.store.(store.Quotas)
		if !ok {
			return nil, errors.New("carcosa: Config.Quota needs a Store that keeps quota usage (store.Quotas)")
		}
		if r.quota, err = quota.New(ledger, r.audit, *cfg.Quota); err != nil {
			return nil, err
		}
	}
	if r.scanner == nil {
		r.log.Warn("carcosa: no malware scanner is configured (Config.Scanner): uploaded files are not scanned")
	}
	if err := r.newWebhooks(); err != nil {
		return nil, fmt.Errorf("carcosa: %w", err)
	}
	r.engine = lifecycle.New(lifecycle.Config{
		Store: r.store, Staging: r.staging, Buckets: r.buckets, Queue: r.queue,
		Scanner: r.scanner, Quota: r.quota, Observer: r.observers(), Log: r.log,
		Images: r.images,
		Routes: func(name string) (lifecycle.Route, bool) { return r.route(name) },
		Lock:   r.lockUpload,

		DataDir: cfg.DataDir, Quarantine: cfg.Quarantine,
		ProcessTimeout: cfg.ProcessTimeout, PresignTTL: cfg.PresignTTL,
		UploadTTL: cfg.UploadTTL, IdleUploadTTL: cfg.IdleUploadTTL,
		StageTimer: r.metrics.stageTimer(),
		Tracer:     r.tracer,
		BeforeVerify: func(id string) {
			if r.beforeVerify != nil {
				r.beforeVerify(id)
			}
		},
	})
	b := cfg.Broker
	if b == nil {
		b = broker.New()
		r.closers = append(r.closers, b.Close)
	}
	r.live = newLive(r, b)
	r.mux = r.newMux()
	ok = true
	return r, nil
}

// Close stops the Router (see Stop, given ProcessTimeout) and releases the
// backends New opened. Call it after the HTTP server has shut down.
func (r *Router) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ProcessTimeout)
	if err := r.Stop(ctx); err != nil {
		r.log.Error("stopping the Router", "err", err)
	}
	cancel()
	if r.live != nil {
		r.live.Close()
	}
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	r.closers = nil
	return apierr.API(errors.Join(errs...))
}

func (r *Router) addRoute(name string, h routeHandler) error {
	if r.serving.Load() {
		return fmt.Errorf("route %q: routes must be declared before the Router serves requests", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.routes[name]; dup {
		return fmt.Errorf("route %q is declared twice", name)
	}
	r.routes[name] = h
	return nil
}

func (r *Router) route(name string) (routeHandler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.routes[name]
	return h, ok
}

// ServeHTTP serves the HTTP contract under Config.BasePath.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handle(w, req, r.mux, r.serve)
}

// handle gives req what every request to the Router gets, whichever
// front door it came in by (the contract under BasePath, or a
// compatibility adapter): a request ID, a started Router, a server span,
// metrics under the pattern mux finds for it, and an access log line.
// serve answers it and reports whether it was the Router's to answer.
func (r *Router) handle(w http.ResponseWriter, req *http.Request, mux *http.ServeMux, serve func(http.ResponseWriter, *http.Request) bool) {
	start := time.Now()
	// A client's request ID is kept for correlation when it is short enough
	// to log; otherwise the Router makes one. Every line logged during the
	// request names it, through the request's context.
	id := req.Header.Get("X-Request-ID")
	if id == "" || len(id) > 128 {
		id = lifecycle.NewID()
	}
	ctx, info := logctx.WithRequest(req.Context(), id)
	if !r.serving.Load() {
		// A Router not started by its owner starts with its first request;
		// its background work carries nothing of that request.
		if err := r.Start(context.Background()); err != nil {
			r.log.ErrorContext(ctx, "starting the Router", "err", err)
		}
	}
	ctx, span := r.startSpan(ctx, req, id) // nil without tracing
	req2 := req.Clone(ctx)
	req2.Header.Set("X-Request-ID", id)
	w.Header().Set("X-Request-ID", id)
	if r.metrics == nil && r.cfg.AccessLog == nil && span == nil {
		serve(w, req2)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	var body *countingBody
	if req2.Body != nil && req2.Body != http.NoBody {
		body = &countingBody{ReadCloser: req2.Body}
		req2.Body = body
	}
	path := req2.URL.Path // before serve takes BasePath off
	routed := serve(sw, req2)
	d := time.Since(start)
	if routed {
		r.metrics.record(mux, req2, sw.status(), d)
	}
	var ids []string
	if span != nil || r.cfg.AccessLog != nil {
		ids = requestUploads(req2, r.tusPrefix(), path, info)
	}
	r.endSpan(span, req2, sw.status(), ids)
	r.logAccess(req2, path, info, sw, body, d, ids)
}

// serve serves req, whose path is still the full one, and reports whether
// it was under BasePath.
func (r *Router) serve(w http.ResponseWriter, req *http.Request) bool {
	base := r.cfg.BasePath
	p := req.URL.Path
	if base != "/" {
		if p != base && !strings.HasPrefix(p, base+"/") {
			// Usually a mounting mistake, which every request would repeat.
			r.outside.Do(func() {
				r.log.WarnContext(req.Context(), fmt.Sprintf(
					"carcosa: a request reached the Router outside its BasePath %s; mount it with mux.Handle(%q, r)", base, base+"/"),
					"path", p)
			})
			r.writeError(w, req, ErrNotFound)
			return false
		}
		p = strings.TrimPrefix(p, base)
	}
	if p == "" {
		p = "/"
	}
	req.URL.Path = p
	req.URL.RawPath = ""
	if err := r.limitIP(req); err != nil {
		r.writeError(w, req, err)
		return true
	}
	if r.draining.Load() && r.startsUpload(req) {
		if strings.HasPrefix(p, "/tus/") {
			w.Header().Set("Tus-Resumable", "1.0.0")
		}
		r.writeError(w, req, errDraining)
		return true
	}
	r.mux.ServeHTTP(w, req)
	return true
}

func (r *Router) newMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /routes", r.serveRoutes)
	m.HandleFunc("POST /routes/{route}", r.serveMultipart)
	m.HandleFunc("POST /routes/{route}/presign", r.servePresign)
	m.HandleFunc("POST /uploads/{id}/complete", r.serveComplete)
	m.HandleFunc("GET /uploads/{id}", r.serveUpload)
	m.HandleFunc("GET /uploads/{id}/events", r.live.serveUpload)
	m.HandleFunc("GET /uploads", r.live.serveList)
	m.HandleFunc("GET /events", r.live.serveOwner)
	m.HandleFunc("DELETE /uploads/{id}", r.deleteUpload)
	m.HandleFunc("GET /files/{key...}", r.files.ServeFile)
	m.HandleFunc("GET /usage", r.serveUsage)
	m.Handle("/tus/", r.tusHandler)
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		r.writeError(w, req, ErrNotFound)
	})
	return m
}

// routeJSON is one entry of GET B/routes.
type routeJSON struct {
	Name        string        `json:"name"`
	Accept      []string      `json:"accept"`
	MaxFileSize int64         `json:"maxFileSize"`
	MinFiles    int           `json:"minFiles"`
	MaxFiles    int           `json:"maxFiles"`
	Public      bool          `json:"public"`
	Input       []SchemaField `json:"input"`
}

func (r *Router) serveRoutes(w http.ResponseWriter, req *http.Request) {
	r.mu.RLock()
	list := make([]routeJSON, 0, len(r.routes))
	for _, h := range r.routes {
		c := h.Policy()
		in := h.schema()
		if in == nil {
			in = []SchemaField{}
		}
		list = append(list, routeJSON{
			Name: c.Name, Accept: c.Accept, MaxFileSize: c.MaxFileSize,
			MinFiles: c.MinFiles, MaxFiles: c.MaxFiles, Public: c.Public, Input: in,
		})
	}
	r.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"routes": list})
}

func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if k, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil && len(k) >= 32 {
			return k, nil
		}
		return nil, fmt.Errorf("carcosa: %s does not hold a hex key of at least 32 bytes", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("carcosa: reading the signing key: %w", err)
	}
	k := make([]byte, 32)
	rand.Read(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process made it first
			return loadOrCreateKey(path)
		}
		return nil, fmt.Errorf("carcosa: writing the signing key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(k) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("carcosa: writing the signing key: %w", err)
	}
	return k, nil
}

// writeError writes err as a JSON error response; see apierr.Write.
func (r *Router) writeError(w http.ResponseWriter, req *http.Request, err error) {
	apierr.Write(r.log, w, req, err)
}
