// Command basic runs Carcosa with three upload routes and a web page at / to
// try them: drag files in, watch them upload (resumable, through tus) and
// open the result.
//
// On its embedded defaults it needs no other service: the files, the SQLite
// database, the resumable-upload staging area and the signing key all live
// under -data.
//
//	go run ./examples/basic -addr 127.0.0.1:8080 -data ./carcosa-data
//
// With -storage, the files go to a gocloud.dev/blob bucket instead, here an
// S3-compatible one such as MinIO (credentials from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, or any other source of the AWS SDK's default chain),
// and with -postgres the upload records go to PostgreSQL:
//
//	AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin \
//	go run ./examples/basic -data ./carcosa-data \
//		-storage 's3://carcosa?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1' \
//		-postgres 'postgres://carcosa:secret@127.0.0.1:5432/carcosa?sslmode=disable'
//
// A local directory works as a bucket too:
//
//	go run ./examples/basic -storage 'file:///srv/carcosa/files' -postgres 'postgres://…'
//
// Either flag may be used alone. Even with both, -data keeps the tus staging
// area (the bytes of resumable uploads until they finish) and the signing
// key. With -postgres, background work (the scans of large files, retries
// of scans that failed, webhook deliveries) also goes to PostgreSQL, in
// River's tables, so it survives restarts, and live events (the page's
// progress and states) pass through PostgreSQL's LISTEN/NOTIFY, so that
// several instances serve them.
//
// With -clamd, every file is scanned for malware by a ClamAV daemon before
// it is ready; an infected file is quarantined and its upload answered 422
// malware_detected:
//
//	go run ./examples/basic -clamd tcp://127.0.0.1:3310
//
// Without it, files are not scanned, which the server logs at start-up.
//
// With -webhook (repeatable), every upload event (upload.created,
// upload.ready, …) is POSTed to each URL given, signed per Standard
// Webhooks with -webhook-secret, or with a secret made at start-up and
// logged once:
//
//	go run ./examples/basic -webhook http://127.0.0.1:9000/hooks -webhook-secret whsec_…
//
// Each browser that loads the page is an owner of its own, by a random ID
// in an HttpOnly cookie that the page sets: it alone can read, resume and
// delete its uploads. Requests without that cookie (curl, scripts,
// tus-js-client in Node) share one anonymous owner and cannot touch a
// browser's uploads.
//
// -quota-bytes and -quota-files bound what each owner may keep, each browser
// and the anonymous owner (429 quota_exceeded beyond, and
// GET /api/uploads/usage?route=files says what is left); -rate limits
// requests per client address (429 rate_limited, with Retry-After):
//
//	go run ./examples/basic -quota-bytes 1GiB -quota-files 100 -rate 20
//
// GET /livez and GET /readyz are the health endpoints (Router.Health): the
// process answers; every backend answers, else 503. GET /metrics serves the
// Router's Prometheus metrics (carcosa_uploads_total and the others), with
// Go's and the process's, for Prometheus to scrape. -admin-addr serves all
// three on an address of their own instead, apart from the uploads (in
// production, out of the proxy's reach):
//
//	go run ./examples/basic -admin-addr 127.0.0.1:9090
//
// With OTEL_EXPORTER_OTLP_ENDPOINT set, the Router's traces (a span per
// request, per processing stage, per webhook delivery; a browser's
// traceparent is continued) are sent there by OTLP over HTTP, as the
// other standard OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME variables say:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 go run ./examples/basic
//
// -access-log logs one line per request to the uploads API (method, path
// without its query, status, bytes in and out, duration, request_id,
// upload_id), beside the other logs; every log line written during a
// request carries its request_id, the X-Request-ID of the response.
//
// -gen-ts writes the TypeScript types of the routes (their names and
// inputs, for a typed client) to a file and exits without serving or
// opening anything; go generate rewrites web/carcosa-routes.ts with it,
// which a test keeps up to date:
//
//	go generate ./examples/basic
//
// /api/uploadthing speaks UploadThing's protocol over the same routes
// (package compat/uploadthing): an app written for @uploadthing/react
// uploads here when its components are given url: "/api/uploadthing",
// each route name being a slug. Its OnComplete result reaches the app's
// onClientUploadComplete as serverData.
//
// /api/companion serves the S3 routes of Uppy's Companion (package
// compat/companion): Uppy's @uppy/aws-s3 with companionEndpoint
// "/api/companion" sends files straight to the -storage bucket, which
// must be an S3 one (others answer 501), each file's route named by its
// metadata field "route"; the server signs each part and checks each file
// once it is there:
//
//	go run ./examples/basic -storage 's3://carcosa?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1'
//
// On SIGINT or SIGTERM the server drains (Router.Drain): new uploads are
// answered 503 with Retry-After and /readyz 503, the requests in flight
// get 30 seconds to finish, then the Router closes, running the
// background work they queued.

// The backends are opened, the bucket listed and clamd pinged before the
// server listens: a wrong URL, a missing bucket, refused credentials, an
// unreachable database or clamd end the process at start-up with exit
// code 1.
package main

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/broker/pgbroker"
	"github.com/carcosa-dev/carcosa/compat/companion"
	"github.com/carcosa-dev/carcosa/compat/uploadthing"
	"github.com/carcosa-dev/carcosa/queue/riverqueue"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/azure"
	_ "github.com/carcosa-dev/carcosa/storage/gcs"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
	"github.com/carcosa-dev/carcosa/store/postgres"
	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/webhook"
)

//go:embed web
var web embed.FS

// ImageInput is what the page may send with images.
type ImageInput struct {
	Caption string `json:"caption" validate:"max=200"`
}

// Meta is what the middleware hands to the callbacks.
type Meta struct {
	Client  string `json:"client"`
	Caption string `json:"caption,omitempty"` // an image's, from ImageInput
}

// options is what run needs; main fills it from the flags.
type options struct {
	// Addr is the address to listen on; port 0 picks a free one.
	Addr string
	// AdminAddr is where the operator's endpoints (/livez, /readyz) are
	// served, apart from the uploads; empty means on Addr with them.
	AdminAddr string
	// Data holds the tus staging area and the signing key, and the files
	// and the SQLite database unless Storage and Postgres say otherwise.
	Data string
	// Storage is a gocloud.dev/blob bucket URL for the files; empty means
	// the file bucket Data/files.
	Storage string
	// Staging is a bucket URL for resumable uploads in progress; empty
	// means the Storage bucket when it is not a file:// bucket, else the
	// local disk under Data.
	Staging string
	// Postgres is a PostgreSQL connection string for the upload records;
	// empty means SQLite at Data/carcosa.db.
	Postgres string
	// PostgresTable is the records' table in Postgres; empty means
	// postgres.DefaultTable.
	PostgresTable string
	// Clamd is the address of a clamd that scans every file, such as
	// tcp://127.0.0.1:3310 or unix:///run/clamav/clamd.ctl; empty means
	// files are not scanned.
	Clamd string
	// ClamdMaxSize is the largest file sent to Clamd; larger files are
	// refused. 0 means scan.ClamdOptions' default, 100 MiB.
	ClamdMaxSize int64
	// QuotaBytes and QuotaFiles bound what each owner may keep: each
	// browser, by its visitor cookie, and the anonymous owner that requests
	// without the cookie share; 0 means no limit.
	QuotaBytes int64
	QuotaFiles int64
	// Rate is how many requests a second each client address may make,
	// with bursts of ten times as many; 0 means no limit.
	Rate float64
	// Webhooks are URLs that receive every upload event, signed with
	// WebhookSecret; empty WebhookSecret with Webhooks makes one, logged
	// once at start-up.
	Webhooks      []string
	WebhookSecret string
	// Traces exports the Router's traces by OTLP over HTTP, configured by
	// the standard OTEL_EXPORTER_OTLP_* environment variables; main sets
	// it when OTEL_EXPORTER_OTLP_ENDPOINT (or its _TRACES_ form) is set.
	Traces bool
	// AccessLog logs one line per request to the Router (method, path
	// without the query, status, bytes, duration, request and upload IDs)
	// to the example's log.
	AccessLog bool
	// QueueSchema is the PostgreSQL schema of River's tables, for the
	// background jobs, when Postgres is set; empty means the connection's
	// search_path. No flag sets it; tests give each run a schema of its own.
	QueueSchema string
}

// startupTimeout bounds the opening of the bucket and the database.
const startupTimeout = 30 * time.Second

// shutdownTimeout bounds the wait for the requests in flight at shutdown.
const shutdownTimeout = 30 * time.Second

func main() {
	var o options
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&o.AdminAddr, "admin-addr", "",
		"address of the operator's endpoints (/livez, /readyz); empty serves them on -addr")
	flag.StringVar(&o.Data, "data", "./carcosa-data",
		"directory for the resumable-upload (tus) staging area and the signing key, always; and for the files and the database unless -storage and -postgres are set")
	flag.StringVar(&o.Storage, "storage", "",
		"gocloud.dev/blob bucket `URL` for the files, such as file:///srv/files or s3://bucket?region=eu-west-1 (default: the file bucket under -data)")
	flag.StringVar(&o.Staging, "staging", "",
		"bucket `URL` for resumable uploads until they finish (default: the -storage bucket, unless it is a file:// bucket; then local disk under -data)")
	flag.StringVar(&o.Postgres, "postgres", "",
		"PostgreSQL connection string (`DSN`) for the upload records, such as postgres://user:pass@host:5432/db (default: SQLite under -data)")
	flag.StringVar(&o.PostgresTable, "postgres-table", postgres.DefaultTable,
		"table of the upload records in -postgres")
	flag.StringVar(&o.Clamd, "clamd", "",
		"clamd `address` that scans every file for malware, such as tcp://127.0.0.1:3310 or unix:///run/clamav/clamd.ctl (default: files are not scanned)")
	maxScan := byteSize(defaultClamdMaxSize)
	flag.Var(&maxScan, "clamd-max-size",
		"largest file `size` sent to -clamd, such as 100MiB or 1GiB; larger files are refused (too_large_to_scan). Keep it within clamd's MaxFileSize and StreamMaxLength (clamd.conf; both 100MiB by default): clamd answers a file over MaxFileSize as clean without scanning it")
	quotaBytes := byteSize(0)
	flag.Var(&quotaBytes, "quota-bytes",
		"the most bytes each browser may keep, such as 1GiB, requests without the page's cookie counting together as one; beyond it uploads answer 429 quota_exceeded (default: no limit)")
	flag.Int64Var(&o.QuotaFiles, "quota-files", 0,
		"the most files each browser may keep, requests without the page's cookie counting together as one (default: no limit)")
	flag.Float64Var(&o.Rate, "rate", 0,
		"requests a second each client address may make, in bursts of ten times as many; beyond it requests answer 429 rate_limited (default: no limit)")
	flag.Func("webhook",
		"`URL` that receives every upload event as a signed webhook (upload.created, upload.ready, …); repeat the flag for several",
		func(u string) error { o.Webhooks = append(o.Webhooks, u); return nil })
	flag.StringVar(&o.WebhookSecret, "webhook-secret", "",
		"`secret` (whsec_…) that signs the requests of every -webhook (default: a new one, logged once at start-up)")
	flag.BoolVar(&o.AccessLog, "access-log", false,
		"log one line per request to the uploads API: method, path (never the query, which holds signatures), status, bytes in and out, duration, request_id and upload_id")
	genTS := flag.String("gen-ts", "",
		"write the TypeScript types of the routes (Router.WriteTypeScript) to `file`, such as web/carcosa-routes.ts, and exit without serving")
	flag.Parse()
	if *genTS != "" {
		if err := writeTypeScript(*genTS); err != nil {
			fmt.Fprintln(os.Stderr, "-gen-ts:", err)
			os.Exit(1)
		}
		return
	}
	o.ClamdMaxSize = int64(maxScan)
	o.QuotaBytes = int64(quotaBytes)
	o.Traces = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, o, nil); err != nil {
		log.Error("exiting", "err", err)
		stop()
		os.Exit(1)
	}
}

// run opens the backends o names, serves until ctx is done, then shuts down
// gracefully and closes them. It returns an error at once, before
// listening, if a backend cannot be opened. When ready is not nil, the
// listening address is sent on it.
func run(ctx context.Context, log *slog.Logger, o options, ready chan<- string) error {
	// The Router's metrics, with Go's and the process's, are served at
	// /metrics (on -admin-addr when set) for Prometheus to scrape.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := carcosa.Config{
		BasePath: "/api/uploads",
		DataDir:  o.Data,
		Logger:   log,
		Metrics:  metrics,
	}
	if o.AccessLog {
		cfg.AccessLog = log
	}
	if o.QuotaBytes < 0 || o.QuotaFiles < 0 || o.Rate < 0 {
		return errors.New("-quota-bytes, -quota-files and -rate must not be negative")
	}
	if o.QuotaBytes > 0 || o.QuotaFiles > 0 {
		cfg.Quota = &quota.Policy{Owner: quota.Limits{Bytes: o.QuotaBytes, Files: o.QuotaFiles}}
		log.Info("quota", "bytes", o.QuotaBytes, "files", o.QuotaFiles)
	}
	if o.Rate > 0 {
		cfg.RateLimit.IP = ratelimit.NewMemory(ratelimit.Limit{Rate: o.Rate, Burst: max(1, int(o.Rate*10))}, nil)
		log.Info("rate limit", "per_second", o.Rate)
	}
	if err := configureWebhooks(log, o, &cfg); err != nil {
		return err
	}
	if o.Traces {
		tp, err := openTracing(ctx)
		if err != nil {
			return err
		}
		// Shut down after the Router has closed: its last spans are sent.
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(ctx); err != nil {
				log.Warn("sending the last traces", "err", err)
			}
		}()
		cfg.TracerProvider = tp
		log.Info("traces", "exporter", "otlp/http")
	}
	if o.Clamd != "" {
		c, err := openClamd(ctx, log, o.Clamd, o.ClamdMaxSize)
		if err != nil {
			return err
		}
		cfg.Scanner = c
	}
	// What is opened here is closed after the Router, whose Close runs
	// after the server has shut down: deferred calls run last first.
	if o.Storage != "" {
		b, err := openStorage(ctx, o.Storage)
		if err != nil {
			return err
		}
		defer func() {
			if err := b.Close(); err != nil {
				log.Warn("closing the storage", "err", err)
			}
		}()
		cfg.Storage = b
		// The URL's query and user information may hold credentials.
		if u, err := url.Parse(o.Storage); err == nil {
			log.Info("storage", "scheme", u.Scheme, "bucket", u.Host+u.Path)
			if o.Staging == "" && u.Scheme != "file" {
				cfg.Staging = b
			}
		}
	}
	if o.Staging != "" && o.Staging != o.Storage {
		b, err := openStorage(ctx, o.Staging)
		if err != nil {
			return err
		}
		defer func() {
			if err := b.Close(); err != nil {
				log.Warn("closing the staging bucket", "err", err)
			}
		}()
		cfg.Staging = b
	} else if o.Staging != "" {
		cfg.Staging = cfg.Storage.(*storage.Bucket)
	}
	if o.Postgres != "" {
		table := cmp.Or(o.PostgresTable, postgres.DefaultTable)
		s, err := openPostgres(ctx, o.Postgres, table)
		if err != nil {
			return err
		}
		defer func() {
			if err := s.Close(); err != nil {
				log.Warn("closing the PostgreSQL store", "err", err)
			}
		}()
		cfg.Store = s
		log.Info("records", "store", "postgres", "table", table)

		q, closeQueue, err := openRiver(ctx, log, o.Postgres, o.QueueSchema)
		if err != nil {
			return err
		}
		defer closeQueue()
		cfg.Queue = q
		log.Info("background jobs", "queue", "river", "database", "postgres")

		// Live events (progress, states) reach a browser whichever
		// instance it asks.
		b, err := pgbroker.Open(ctx, o.Postgres, &pgbroker.Options{Logger: log})
		if err != nil {
			return fmt.Errorf("-postgres: %w", err)
		}
		defer b.Close()
		cfg.Broker = b
		log.Info("live events", "broker", "postgres")
	}

	// Without a scanner, New warns that files are not scanned.
	uploads, err := carcosa.New(cfg)
	if err != nil {
		return err
	}
	defer uploads.Close()
	if cfg.Scanner == nil {
		log.Info("to scan uploads for malware, start with -clamd tcp://HOST:3310 or -clamd unix:///PATH/clamd.ctl")
	}

	// With a scanner, a file larger than it examines would be refused once
	// uploaded (too_large_to_scan); a route limit no higher refuses it
	// while it streams, and GET /api/uploads/routes tells clients.
	maxSize := func(n int64) int64 {
		if cfg.Scanner != nil {
			return min(n, cfg.Scanner.MaxSize())
		}
		return n
	}
	handleRoutes(uploads, maxSize)

	// Started now, not by the first request: the recovery sweep and the
	// background jobs a previous run left (scans, webhook deliveries) run
	// even before anyone visits.
	if err := uploads.Start(ctx); err != nil {
		return err
	}

	page, err := fs.Sub(web, "web")
	if err != nil {
		return err
	}
	// admin holds the operator's endpoints, served on -admin-addr when it
	// is set, else beside the uploads.
	admin := http.NewServeMux()
	health := uploads.Health()
	admin.Handle("/livez", health)
	admin.Handle("/readyz", health)
	admin.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))

	// UploadThing's clients reach the same routes here, and Uppy's
	// @uppy/aws-s3 (companionEndpoint "/api/companion") signs its uploads
	// into the -storage bucket here (an S3 one; others answer 501).
	ut, err := uploadthing.New(uploads, nil)
	if err != nil {
		return err
	}
	uppyS3, err := companion.New(uploads, &companion.Options{Path: "/api/companion"})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/api/uploads/", uploads)
	mux.Handle("/api/uploadthing", ut)
	mux.Handle("/api/uploadthing/", ut)
	mux.Handle("/api/companion/", uppyS3)
	mux.Handle("/", withVisitorCookie(http.FileServerFS(page)))
	if o.AdminAddr == "" {
		mux.Handle("/livez", admin)
		mux.Handle("/readyz", admin)
		mux.Handle("/metrics", admin)
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	servers := []*http.Server{newServer(mux)}
	listeners := []net.Listener{ln}
	if o.AdminAddr != "" {
		aln, err := net.Listen("tcp", o.AdminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("-admin-addr: %w", err)
		}
		servers = append(servers, newServer(admin))
		listeners = append(listeners, aln)
		log.Info("admin listening", "url", fmt.Sprintf("http://%s/", aln.Addr()))
	}
	log.Info("listening", "url", fmt.Sprintf("http://%s/", ln.Addr()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		log.Info("shutting down")
	}
	// Graceful shutdown: new uploads are refused (503, Retry-After) and
	// /readyz answers 503 while the requests in flight, uploads among
	// them, get up to 30 s to finish; then the deferred Close runs the
	// background work they queued.
	uploads.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return serveErr
}

// handleRoutes declares the example's routes on uploads: images (with a
// caption as input), documents and files. maxSize lowers a route's largest
// file to what the scanner examines.
func handleRoutes(uploads *carcosa.Router, maxSize func(int64) int64) {
	// The owner is the browser's, by its visitor cookie, or the anonymous
	// one; the Router compares it on every request about an upload, so
	// another owner's uploads are not found.
	visitor := func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[Meta], error) {
		return carcosa.Grant[Meta]{Owner: visitorOwner(req.HTTP), Metadata: Meta{Client: "web"}}, nil
	}
	// The Router logs every upload that becomes ready; the result, kept in
	// the record, is what the page shows.
	done := func(ctx context.Context, m Meta, f carcosa.File) (any, error) {
		result := map[string]any{"sha256": f.SHA256}
		if m.Caption != "" {
			result["caption"] = m.Caption
		}
		return result, nil
	}
	carcosa.Handle(uploads, "images", carcosa.Route[ImageInput, Meta]{
		Accept:      []string{"image"},
		MaxFileSize: maxSize(16 << 20),
		MaxFiles:    10,
		Public:      true,
		// A 256×256 thumbnail of every image, shown on the page.
		Derivatives: map[string]transform.Spec{
			"thumb": {Width: 256, Height: 256, Fit: transform.Cover, Format: transform.JPEG},
		},
		// The caption the page sends as the route's input reaches
		// OnComplete through the metadata.
		Middleware: func(ctx context.Context, req *carcosa.Request[ImageInput]) (carcosa.Grant[Meta], error) {
			m := Meta{Client: "web", Caption: req.Input.Caption}
			return carcosa.Grant[Meta]{Owner: visitorOwner(req.HTTP), Metadata: m}, nil
		},
		OnComplete: done,
	})
	carcosa.Handle(uploads, "documents", carcosa.Route[struct{}, Meta]{
		Accept:      []string{"pdf", "text"},
		MaxFileSize: maxSize(64 << 20),
		MaxFiles:    10,
		Middleware:  visitor,
		OnComplete:  done,
	})
	carcosa.Handle(uploads, "files", carcosa.Route[struct{}, Meta]{
		Accept:      []string{"any"},
		MaxFileSize: maxSize(2 << 30),
		MaxFiles:    10,
		Attachment:  true,
		Middleware:  visitor,
		OnComplete:  done,
	})
}

// newServer returns the example's server of h. A client must send its
// headers within ReadHeaderTimeout, and an idle keep-alive connection is
// closed after IdleTimeout, so that slow or idle clients cannot hold
// connections open. There is no ReadTimeout or WriteTimeout: each bounds a
// whole request or response, however fast its bytes flow, and would cut a
// large upload or download that is still making progress. A stalled
// upload is the Router's to cut, by a read deadline that every byte that
// arrives pushes back.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// openStorage opens the bucket at rawURL. storage.Open checks that the
// bucket exists and answers, so a missing bucket or refused credentials show
// now rather than at the first upload; its errors hold no credentials.
func openStorage(ctx context.Context, rawURL string) (*storage.Bucket, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	b, err := storage.Open(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("-storage: %w", err)
	}
	return b, nil
}

// openPostgres opens the PostgreSQL store and brings its table up to date.
// postgres.Open's errors never hold the DSN's password.
func openPostgres(ctx context.Context, dsn, table string) (*postgres.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, &postgres.Options{Table: table})
	if err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	return s, nil
}

// defaultClamdMaxSize is clamd's default MaxFileSize and StreamMaxLength.
const defaultClamdMaxSize = 100 << 20

// openClamd returns a scanner on the clamd at addr, once clamd has
// answered PING. A clamd that does not answer stops the server now rather
// than failing every upload.
func openClamd(ctx context.Context, log *slog.Logger, addr string, maxSize int64) (*scan.Clamd, error) {
	c, err := scan.NewClamd(addr, scan.ClamdOptions{MaxSize: maxSize})
	if err != nil {
		return nil, fmt.Errorf("-clamd: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		return nil, fmt.Errorf("-clamd: clamd at %s does not answer (is it running and listening there?): %w", addr, err)
	}
	version, err := c.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("-clamd: clamd at %s: %w", addr, err)
	}
	// clamd passes files over its own limits as clean, unscanned: make
	// sure they cover -clamd-max-size.
	if err := c.CheckLimit(ctx); err != nil {
		return nil, fmt.Errorf("-clamd: clamd at %s: %w (see -clamd-max-size)", addr, err)
	}
	log.Info("malware scanning", "clamd", addr, "version", version, "maxSize", c.MaxSize())
	return c, nil
}

// openRiver returns a durable queue for the background jobs, in River's
// tables of the database dsn names (created or migrated now), on a pool of
// its own, and the function that closes that pool once the Router has
// stopped the queue.
func openRiver(ctx context.Context, log *slog.Logger, dsn, schema string) (*riverqueue.Queue[pgx.Tx], func(), error) {
	// openPostgres has parsed the same string and reached the database.
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, errors.New("-postgres: the connection string is malformed")
	}
	hide := func(err error) error {
		msg := err.Error()
		if p := pcfg.ConnConfig.Password; p != "" {
			msg = strings.ReplaceAll(msg, p, "REDACTED")
		}
		return errors.New("-postgres: the background queue: " + msg)
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, nil, hide(err)
	}
	// An attempt is bounded a little above the Router's processing time,
	// so that the job of an instance that died is taken up again within
	// minutes (JobTimeout and a grace).
	q, err := riverqueue.New(pool, &riverqueue.Options{Schema: schema, Logger: log, JobTimeout: 12 * time.Minute})
	if err == nil {
		// Start would migrate too, at the first request; failing now is
		// clearer.
		err = q.Migrate(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, nil, hide(err)
	}
	return q, pool.Close, nil
}

// byteSize is a flag of a size in bytes, with an optional unit: B, KiB,
// MiB, GiB.
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []string{"B", "KiB", "MiB"} {
		if n < 1<<10 || n%(1<<10) != 0 {
			return strconv.FormatInt(n, 10) + u
		}
		n >>= 10
	}
	return strconv.FormatInt(n, 10) + "GiB"
}

func (b *byteSize) Set(s string) error {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > math.MaxInt64/mult {
		return errors.New("want a positive number of bytes, optionally with a unit: B, KiB, MiB, GiB")
	}
	*b = byteSize(n * mult)
	return nil
}

// configureWebhooks makes cfg.Webhooks of the -webhook URLs, all signed by
// -webhook-secret or, without it, by a new secret logged once, so that the
// receivers can be given it.
func configureWebhooks(log *slog.Logger, o options, cfg *carcosa.Config) error {
	if len(o.Webhooks) == 0 {
		if o.WebhookSecret != "" {
			return errors.New("-webhook-secret: no -webhook to sign for")
		}
		return nil
	}
	secret := o.WebhookSecret
	if secret == "" {
		secret = webhook.NewSecret()
		log.Info("webhook secret made for this run; give it to the receivers, or pass -webhook-secret", "secret", secret)
	} else if _, err := webhook.ParseSecret(secret); err != nil {
		return fmt.Errorf("-webhook-secret: %w", err)
	}
	for i, u := range o.Webhooks {
		e := webhook.Endpoint{Name: "webhook-" + strconv.Itoa(i+1), URL: u, Secrets: []string{secret}}
		// The URL may hold a token: neither the error nor the log quotes
		// more than its host.
		if err := e.Validate(); err != nil {
			return fmt.Errorf("-webhook: the %s: %w", ordinal(i+1), err)
		}
		cfg.Webhooks = append(cfg.Webhooks, e)
		if pu, err := url.Parse(u); err == nil {
			log.Info("webhook", "name", e.Name, "host", pu.Host)
		}
	}
	return nil
}

// ordinal names the n-th flag given.
func ordinal(n int) string {
	switch n {
	case 1:
		return "first"
	case 2:
		return "second"
	case 3:
		return "third"
	}
	return strconv.Itoa(n) + "th"
}

// openTracing returns a TracerProvider that sends spans by OTLP over HTTP
// in batches, where the standard OTEL_EXPORTER_OTLP_* variables say (the
// endpoint, headers, timeout). The service is named carcosa-example
// unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names it.
func openTracing(ctx context.Context) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "carcosa-example")),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
