// Package compat is the Router as the compatibility adapters see it
// (compat/uploadthing, compat/companion): front doors that speak another
// service's protocol over the same routes, middleware, checks and
// lifecycle as the Router's own contract.
//
// The root package registers HostOf when it is loaded; an adapter package
// reaches a *carcosa.Router's Host through it, so the Router grows no
// exported methods for them.
package compat

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
)

// HostOf returns the Host of a *carcosa.Router; it reports false for
// anything else. Set by package carcosa.
var HostOf func(router any) (Host, bool)

// File is a file as a client declared it: nothing here is trusted.
type File struct {
	Name string // as the client named it; the Host makes it safe
	Size int64  // -1 when not declared
	Type string // the MIME type the client claimed
}

// Host is what an adapter asks of the Router. Errors are *apierr.Error
// values or wrap them (see apierr.Client), which an adapter writes in its
// own protocol's shape.
type Host interface {
	// Log is the Router's logger.
	Log() *slog.Logger

	// Serve answers req with mux, around which it does what every request
	// to the Router gets: a request ID, a started Router, a span, metrics
	// under mux's pattern, an access log line, the per-IP rate limit and,
	// while draining, the refusal of requests for which starts reports
	// true. writeError writes those refusals.
	Serve(w http.ResponseWriter, req *http.Request, mux *http.ServeMux, starts func(*http.Request) bool, writeError func(http.ResponseWriter, *http.Request, error))

	// Routes are the routes' policies, by name.
	Routes() []*lifecycle.Policy

	// Admit checks a new request for files of route: their count, declared
	// sizes and types against the route's policy, the input, the route's
	// middleware and the owner's rate. ErrUnknownRoute when no route has
	// that name. Files may be nil when the client declares none up front.
	// With oneEach set, the client sends each file in a request of its
	// own (as tus clients do), so the route's file counts are not checked.
	Admit(ctx context.Context, req *http.Request, route string, input []byte, files []File, oneEach bool) (lifecycle.Grant, error)

	// Authorize finds upload id and checks, by its route's middleware, that
	// the caller owns it. An upload of another owner is not found.
	Authorize(req *http.Request, id string) (*store.Upload, error)

	// Record is upload id's record; apierr.ErrNotFound when there is none.
	Record(ctx context.Context, id string) (*store.Upload, error)

	// Stage records a new resumable upload of f on route for g (quota
	// reserved, bucket placed), with via naming the adapter, and opens it
	// in the staging area for Write.
	Stage(ctx context.Context, route string, g lifecycle.Grant, input []byte, f File, via string) (*store.Upload, error)

	// Create records a new upload of f on route for g whose client sends
	// the bytes straight to the upload's bucket (a direct upload, see
	// lifecycle.Direct), via naming how: the quota reserved (f.Size, or
	// the route's MaxFileSize when f.Size is -1), the bucket placed, the
	// record made uploading, with the storage key the object must be
	// written at (Key) and f's type as claimed; a type of "" is judged by
	// the bytes alone. An upload via lifecycle.ViaS3Post, of which no
	// request will say that its bytes are in place, is watched for them
	// and finished.
	Create(ctx context.Context, route string, g lifecycle.Grant, input []byte, f File, via string) (*store.Upload, error)

	// S3 is the S3 API of bucket, for clients that send bytes straight to
	// it: ErrNoPresign (501) when it is not an S3 bucket that storage.Open
	// opened.
	S3(bucket string) (lifecycle.S3Bucket, error)

	// PresignTTL is how long the URLs and policies handed out for a
	// bucket stay valid (Config.PresignTTL).
	PresignTTL() time.Duration

	// FinishDirect verifies direct upload id, whose object is in place,
	// and settles it as a presigned upload is (size within the route's
	// limit, type from the bytes, SHA-256, scan, OnComplete), a refused
	// file's object removed; a large file the route processes in the
	// background is returned processing. apierr.ErrNotUploaded when the
	// object is not there. Finishing is detached from ctx's end, within
	// the Router's ProcessTimeout.
	FinishDirect(ctx context.Context, id string) (*store.Upload, error)

	// Offset is how many bytes staged upload id has received.
	Offset(ctx context.Context, id string) (int64, error)

	// Write appends body to staged upload rec, which must have received
	// exactly offset bytes, holding the upload's lock, and publishes its
	// progress as live events. A later Write of the
	// same upload takes the lock over: it calls this one's stop, which
	// must make body's reads fail. It returns the upload's offset after
	// the write, also when body fails midway (the bytes received are
	// kept). More bytes than the upload's size are refused.
	Write(ctx context.Context, rec *store.Upload, offset int64, body io.Reader, stop func()) (int64, error)

	// WatchIdle ends req, whose body brings an upload's bytes, when the
	// body goes the Router's IdleTimeout without a byte.
	WatchIdle(w http.ResponseWriter, req *http.Request)

	// Finish verifies, scans and stores upload id, all of whose bytes
	// are staged, and runs its route's OnComplete, before it returns the
	// record as it settled. Finishing is detached from ctx's end, within
	// the Router's ProcessTimeout.
	Finish(ctx context.Context, id string) (*store.Upload, error)

	// Withdraw ends upload rec, not yet settled, as if it never was: its
	// staged or stored bytes (and a direct upload's S3 multipart uploads)
	// and its record are removed and its quota is given back.
	Withdraw(ctx context.Context, rec *store.Upload)

	// FileURL is where the file of upload rec, ready, is served: a path
	// under the Router's BasePath, signed when its route is private.
	FileURL(rec *store.Upload) string

	// Sign returns a MAC of msg under the Router's signing key, for URLs
	// an adapter hands out; purpose separates one use from another.
	Sign(purpose string, msg []byte) []byte
}
