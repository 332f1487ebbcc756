package carcosa

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/webhook"
)

// Config configures a Router. The zero value of every field but DataDir is a
// working default; WithDefaults fills the defaults in, on a copy. New calls
// it, then refuses a negative or contradictory value with an error that
// names the field. New never changes the caller's Config.
type Config struct {
	// BasePath is the path the Router is mounted at, such as
	// "/api/uploads". The Router answers requests under it and writes URLs
	// with it; it answers others 404, and logs once how to mount it (with
	// mux.Handle("/api/uploads/", r), which keeps the path whole). Defaults
	// to "/".
	BasePath string

	// DataDir holds the embedded defaults: the SQLite database
	// (DataDir/carcosa.db), the files (DataDir/files), the resumable-upload
	// staging area (DataDir/tus), request bodies being checked
	// (DataDir/tmp) and the URL signing key (DataDir/signing.key).
	// Everything Carcosa creates there, DataDir included, is private to the
	// process's user: files 0600, directories 0700. Existing files and
	// directories keep their modes. Required.
	DataDir string

	// Storage keeps the files. Defaults to the file system under
	// DataDir/files.
	Storage storage.Storage

	// Buckets are further buckets, by name, that Rules can send new
	// uploads to. Config.Storage is the default bucket, named "".
	Buckets map[string]storage.Storage

	// Rules choose the bucket of each new upload by route, declared size
	// and the owner's tier; see Rule. Without rules every file goes to
	// Storage.
	Rules []Rule

	// Failover names, for a bucket, the bucket that takes its new uploads
	// while it fails: a resumable upload whose move into its bucket fails
	// is moved into the failover at once, and for 30 seconds after a
	// failed write new uploads are placed there. "" names the default
	// bucket.
	Failover map[string]string

	// Staging keeps resumable uploads until their last byte arrives. A
	// bucket (from storage.Open) lets every instance serve every upload,
	// and keeps them through restarts: on S3 (with storage/s3 imported)
	// the uploads are S3 multipart uploads (tusd's s3store), elsewhere one
	// object per request, joined when the upload is stored. Uploads are
	// staged under the prefix ".carcosa-tus/"; the Router does not close
	// Staging. Defaults to DataDir/tus on local disk, where an upload can
	// be served only by the process whose disk holds it.
	Staging *storage.Bucket

	// Store keeps upload records. A Store that implements store.Locker
	// (store/postgres does) also locks resumable uploads, so that many
	// instances can share the work. Defaults to SQLite at
	// DataDir/carcosa.db.
	Store store.Store

	// SigningKey signs the URLs of private files; at least 32 bytes. Defaults
	// to a random key kept in DataDir/signing.key, so URLs survive restarts.
	SigningKey []byte

	// SignedURLTTL is how long a signed URL stays valid. Defaults to 1 hour.
	SignedURLTTL time.Duration

	// PresignTTL is how long a presigned upload URL stays valid; an upload
	// not completed within it (and a minute's grace) is removed. Defaults
	// to 1 hour.
	PresignTTL time.Duration

	// ProcessTimeout bounds the verification, storage and callbacks of one
	// finished file, which continue even if the client disconnects.
	// Defaults to 10 minutes.
	ProcessTimeout time.Duration

	// Scanner scans every file for malware before it is ready (routes may
	// opt out; see Route.SkipScan), e.g. scan.NewClamd. Defaults to none:
	// files are not scanned, which New logs as a warning.
	Scanner scan.Scanner

	// Quarantine names the bucket that keeps infected files, under the
	// prefix ".quarantine/"; they are never served. Defaults to "", which
	// keeps each in its own bucket, under that prefix.
	Quarantine string

	// Queue runs background work: the processing of large files and the
	// retries of scans that failed. The Router registers its handlers on
	// it in New, starts it in Start (or with its first request) and stops
	// it in Stop and Close. A durable queue (queue/riverqueue) keeps
	// waiting jobs through crashes. Defaults to an in-process queue
	// (queue.NewMemory), whose waiting jobs Stop runs before it returns.
	Queue queue.Queue

	// IdleTimeout is how long a request may go without sending a byte of
	// its body before it is cut off with 408 request_timeout: a client that
	// stalls mid-upload holds neither a connection nor a spooled chunk for
	// longer. It is a read deadline on the connection, pushed forward as
	// bytes arrive (through http.ResponseController, which a
	// ResponseWriter wrapped by the host must allow with Unwrap). It also
	// bounds tusd's own reads. Defaults to 60 seconds.
	IdleTimeout time.Duration

	// UploadTTL is how long a resumable upload may take from its creation
	// to its last byte (tus's expiration extension: Upload-Expires). An
	// upload not finished by then answers 410 and is removed by the
	// recovery sweep. Defaults to 24 hours.
	UploadTTL time.Duration

	// IdleUploadTTL is how long a resumable upload may wait for its first
	// byte: one that has received none within IdleUploadTTL of its
	// creation (a partial or deferred-length upload alike) expires as if
	// past UploadTTL, and Upload-Expires says so while its offset is 0.
	// Defaults to 1 hour.
	IdleUploadTTL time.Duration

	// TransformLimits bound every image transform (derivatives and
	// on-the-fly): the pixel budget checked before decoding, the memory
	// all of them hold at once (MaxMemory: transforms beyond it wait, and
	// an image that needs more on its own is refused), the largest output.
	// A negative field is an error. Each zero field defaults to package
	// transform's default (transform.DefaultMaxPixels and the others: 50
	// megapixels, 256 MiB of memory, 4096 pixels a side, 64 MiB read, 16
	// MiB written).
	TransformLimits transform.Limits

	// TransformWorkers is the most image transforms run at once, so that
	// they cannot starve uploads. Defaults to GOMAXPROCS.
	TransformWorkers int

	// ImageEngine makes the image transforms, within its own Limits: with
	// an engine given, TransformLimits' zero fields are filled in from
	// them, and a field set otherwise is an error, so that one set of
	// limits is in force. Package transform/vips makes one on libvips
	// (cgo), which shrinks JPEGs while decoding them. Defaults to
	// transform.New(TransformLimits), in pure Go.
	ImageEngine transform.Engine

	// Video makes the poster frames of videos, from which their
	// derivatives are made; without it, videos get no derivatives.
	// Defaults to ffmpeg when it is installed (transform.NewFFmpeg).
	Video transform.Video

	// Quota bounds the bytes and files each owner and each tenant may keep,
	// across routes and per route (see package quota); limits changed with
	// Router.SetQuota are kept in the Store and win. The Store must keep
	// quota usage (store.Quotas), as the built-in Stores do. Defaults to
	// nil: no quotas, and Usage and SetQuota return ErrNoQuotas.
	Quota *quota.Policy

	// Fetch bounds Router.UploadFromURL's downloads: the addresses it may
	// reach (none that is loopback, private, link-local or a cloud
	// metadata service, unless AllowedNets says so), ports, redirects and
	// time. Defaults to package safefetch's defaults, except MaxBytes,
	// which defaults to no limit of its own: the route bounds the size.
	Fetch safefetch.Options

	// RateLimit bounds how fast clients may go: requests per client
	// address, upload creations per owner. Defaults to none.
	RateLimit RateLimits

	// Observer, if set, is told of every state change of every upload
	// (created, each move between states, deleted) right after the record
	// is written. It must return quickly. None by default.
	Observer Observer

	// Broker carries live events (progress and state changes, served as
	// Server-Sent Events under B/uploads/{id}/events and B/events) between
	// instances: the instance that holds an upload publishes, any instance
	// serves the stream. With several instances, use one they share:
	// broker/pgbroker (PostgreSQL LISTEN/NOTIFY) or broker/redisbroker.
	// Defaults to the in-process broker.New(), which New closes with the
	// Router; a Broker given here is the caller's to close.
	Broker broker.Broker
	// Webhooks are the operator's webhook endpoints: each receives every
	// upload event (upload.created, upload.ready, …; see package webhook)
	// of every tenant, signed with its Secrets, through the Queue, retried
	// on the Standard Webhooks schedule. They are trusted: any address,
	// loopback included. Tenants' own endpoints are kept in the Store
	// (store.Webhooks) and managed through Router.Webhooks. Defaults to
	// none.
	Webhooks []webhook.Endpoint

	// Logger receives the Router's logs; it never gets file contents, names
	// or input, nor a signature, token or key. Every line logged during a
	// request carries its request_id (the X-Request-ID the response
	// names), and trace_id and span_id when the request's context holds an
	// OpenTelemetry span. Defaults to slog.Default().
	Logger *slog.Logger

	// Breaker configures the circuit breakers in front of the Scanner and
	// of each bucket: after repeated failures, calls fail at once rather
	// than waiting for timeouts (see BreakerSettings). On by default.
	Breaker BreakerSettings

	// AccessLog, if set, receives one line per request the Router served,
	// once it has ended, at level Info: "request", with method, path (the
	// path only: queries hold signatures), status, bytes_out (of the
	// response body), bytes_in (of the request body read), duration,
	// request_id, trace_id when traced, and upload_id (or upload_ids) when
	// the request is about uploads. Defaults to nil: no access log.
	AccessLog *slog.Logger

	// Metrics, if set, receives the Router's Prometheus metrics
	// (carcosa_uploads_total and the others the README lists); New fails
	// if they are registered there already, and Close unregisters them.
	// Defaults to nil: no metrics, at no cost.
	Metrics prometheus.Registerer

	// TracerProvider, if set, traces the Router with OpenTelemetry: a span
	// per HTTP request (continuing the trace of an incoming traceparent
	// header), per processing stage of an upload (verify, store, scan,
	// derivatives, callback), per background job and per webhook delivery
	// attempt, which sends traceparent on. An upload's later work
	// continues the trace of the request that created it. Defaults to
	// nil: no spans, at no cost, and incoming traceparent headers are
	// ignored.
	TracerProvider trace.TracerProvider
}

// WithDefaults returns a copy of c with every default filled in: BasePath
// in its canonical form ("/" when empty), the durations, TransformLimits
// (from ImageEngine's limits when it is set), TransformWorkers,
// Fetch.MaxBytes, Logger and Breaker. It never fails and leaves c, and
// everything c points to, unchanged. New calls it, then validates the
// result.
//
// The backends that New opens itself when they are nil (Storage, Staging,
// Store, the SigningKey in DataDir, Queue, Video) are not filled in here:
// opening them can fail, and Close closes them.
func (c Config) WithDefaults() Config {
	c.BasePath = "/" + strings.Trim(c.BasePath, "/")
	if c.SignedURLTTL == 0 {
		c.SignedURLTTL = time.Hour
	}
	if c.PresignTTL == 0 {
		c.PresignTTL = time.Hour
	}
	if c.ProcessTimeout == 0 {
		c.ProcessTimeout = 10 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = time.Minute
	}
	if c.UploadTTL == 0 {
		c.UploadTTL = 24 * time.Hour
	}
	if c.IdleUploadTTL == 0 {
		c.IdleUploadTTL = time.Hour
	}
	// Zero only: a negative limit is left for validate to refuse.
	l := &c.TransformLimits
	def := transform.Limits{
		MaxPixels:      transform.DefaultMaxPixels,
		MaxMemory:      transform.DefaultMaxMemory,
		MaxSide:        transform.DefaultMaxSide,
		MaxInputBytes:  transform.DefaultMaxInputBytes,
		MaxOutputBytes: transform.DefaultMaxOutputBytes,
	}
	if c.ImageEngine != nil {
		def = c.ImageEngine.Limits()
	}
	if l.MaxPixels == 0 {
		l.MaxPixels = def.MaxPixels
	}
	if l.MaxMemory == 0 {
		l.MaxMemory = def.MaxMemory
	}
	if l.MaxSide == 0 {
		l.MaxSide = def.MaxSide
	}
	if l.MaxInputBytes == 0 {
		l.MaxInputBytes = def.MaxInputBytes
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = def.MaxOutputBytes
	}
	if c.TransformWorkers == 0 {
		c.TransformWorkers = runtime.GOMAXPROCS(0)
	}
	if c.Fetch.MaxBytes == 0 {
		c.Fetch.MaxBytes = math.MaxInt64 // each route bounds its files
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = 5
	}
	if c.Breaker.OpenFor == 0 {
		c.Breaker.OpenFor = 30 * time.Second
	}
	if c.Breaker.HalfOpenProbes == 0 {
		c.Breaker.HalfOpenProbes = 1
	}
	return c
}

// validate reports the first bad value of c, as an error naming the field,
// so that none reaches a make or a package that panics on it. New calls it
// on the result of WithDefaults, so a zero duration is not an error here.
func (c Config) validate() error {
	if c.DataDir == "" {
		return errors.New("carcosa: Config.DataDir is required")
	}
	if strings.ContainsAny(c.BasePath, "?#") {
		return errors.New("carcosa: Config.BasePath must be a path, without a query or fragment")
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"SignedURLTTL", c.SignedURLTTL},
		{"PresignTTL", c.PresignTTL},
		{"ProcessTimeout", c.ProcessTimeout},
		{"IdleTimeout", c.IdleTimeout},
		{"UploadTTL", c.UploadTTL},
		{"IdleUploadTTL", c.IdleUploadTTL},
		{"Breaker.OpenFor", c.Breaker.OpenFor},
	} {
		if f.v < 0 {
			return fmt.Errorf("carcosa: Config.%s must not be negative", f.name)
		}
	}
	if c.SigningKey != nil && len(c.SigningKey) < 32 {
		return errors.New("carcosa: Config.SigningKey must have at least 32 bytes")
	}
	if c.TransformWorkers < 0 {
		return errors.New("carcosa: Config.TransformWorkers must not be negative")
	}
	l := c.TransformLimits
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxPixels", l.MaxPixels},
		{"MaxMemory", l.MaxMemory},
		{"MaxSide", int64(l.MaxSide)},
		{"MaxInputBytes", l.MaxInputBytes},
		{"MaxOutputBytes", l.MaxOutputBytes},
	} {
		if f.v < 0 {
			return fmt.Errorf("carcosa: Config.TransformLimits.%s must not be negative", f.name)
		}
	}
	if c.ImageEngine != nil && c.ImageEngine.Limits() != l {
		return fmt.Errorf("carcosa: Config.TransformLimits (%+v) differ from Config.ImageEngine's limits (%+v); set them on the engine", l, c.ImageEngine.Limits())
	}
	if c.Quota != nil {
		check := func(name string, l quota.Limits) error {
			if l.Bytes < 0 {
				return fmt.Errorf("carcosa: Config.Quota.%s.Bytes must not be negative (0 means no limit)", name)
			}
			if l.Files < 0 {
				return fmt.Errorf("carcosa: Config.Quota.%s.Files must not be negative (0 means no limit)", name)
			}
			return nil
		}
		if err := check("Owner", c.Quota.Owner); err != nil {
			return err
		}
		if err := check("Tenant", c.Quota.Tenant); err != nil {
			return err
		}
		for route, rl := range c.Quota.Routes {
			if err := check(fmt.Sprintf("Routes[%q].Owner", route), rl.Owner); err != nil {
				return err
			}
			if err := check(fmt.Sprintf("Routes[%q].Tenant", route), rl.Tenant); err != nil {
				return err
			}
		}
	}
	// safefetch.New panics on what Validate refuses.
	if err := c.Fetch.Validate(); err != nil {
		return fmt.Errorf("carcosa: Config.Fetch: %w", err)
	}
	names := map[string]bool{}
	for i, e := range c.Webhooks {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("carcosa: Config.Webhooks[%d]: %w", i, err)
		}
		if names[e.Name] {
			return fmt.Errorf("carcosa: Config.Webhooks[%d]: Name %q is taken", i, e.Name)
		}
		names[e.Name] = true
	}
	return c.validateBuckets()
}
