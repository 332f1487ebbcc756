package carcosa

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// Route declares one upload route. I is the type of the client's JSON input
// (use struct{} for none); it is validated with go-playground/validator
// `validate` tags. With a pointer type (*T), an empty or null input gives a
// nil input and no validation, so required fields are only enforced when the
// client sends an input; use T itself to make the input mandatory. M is the
// metadata the middleware hands to the callbacks;
// it is kept with the upload as JSON, so it must round-trip through
// encoding/json.
type Route[I, M any] struct {
	// Accept lists what the route takes: categories ("image", "video",
	// "audio", "pdf", "text", "any"), exact MIME types ("image/png") or
	// wildcards ("image/*"). Types are judged from the file's content, never
	// from the client's claim. Executables are refused unless "any" is
	// listed. Required.
	Accept []string

	// MaxFileSize is the largest file accepted, in bytes. It is enforced while
	// the bytes stream in. Defaults to 4 MiB.
	MaxFileSize int64

	// MinFiles and MaxFiles bound the number of files in one multipart
	// request. Defaults to 1 and 1. (Each tus upload is one file.)
	MinFiles, MaxFiles int

	// Attachment forces Content-Disposition: attachment when files are
	// served. Types that are not safe to display inline are always served as
	// attachments.
	Attachment bool

	// Public makes files readable by anyone who knows their URL. Files of
	// other routes are served only through signed, expiring URLs.
	Public bool

	// SkipScan turns malware scanning off for this route. Otherwise every
	// file is scanned when Config.Scanner is set, and reaches ready only
	// once found clean.
	SkipScan bool

	// ScanFailOpen accepts files unscanned, recorded as such, when the
	// scanner fails or times out. By default scanning fails closed: the
	// upload is failed and not served, its bytes are kept, and the scan is
	// retried in the background until it succeeds or the queue gives up.
	ScanFailOpen bool

	// AcceptUnscannable accepts files larger than the scanner examines
	// (scan.Scanner.MaxSize), recorded as unscanned. By default they are
	// refused with too_large_to_scan.
	AcceptUnscannable bool

	// AsyncAbove is the size above which a file that is scanned, or gets
	// derivatives, is processed in the background: the request that brings a resumable upload's last
	// byte, or completes a presigned one, answers at once with state
	// processing, and the record becomes ready (or quarantined) later.
	// Defaults to 32 MiB; -1 processes every file before answering.
	// Multipart files are scanned while they stream, within the request.
	AsyncAbove int64

	// Derivatives are images made from each image file of the route (and
	// from a video's poster frame, where ffmpeg is installed), by name:
	// e.g. {"thumb": {Width: 256, Height: 256, Fit: transform.Cover}}. They
	// are made after the scan, stored beside the file, listed in its
	// record and deleted with it. An image that cannot be decoded within
	// Config.TransformLimits is rejected (image_too_large, image_corrupt).
	// Names are 1-32 lowercase letters, digits, '-' and '_'. A derivative
	// may be WebP or AVIF (Format transform.WebP, transform.AVIF) but not
	// transform.Auto, which needs a request. AVIF's encoder takes about 160
	// bytes of the memory budget an output pixel: under the default
	// TransformLimits, 1280×960 from a 12 MP photo fits (248 of 256 MiB)
	// and 1400×1050 does not, and a derivative that does not fit gets its
	// file rejected as image_too_large.
	Derivatives map[string]transform.Spec

	// Presets are named on-the-fly transforms: GET B/files/{key}?preset=name.
	// A preset of Format transform.Auto gives each client AVIF, WebP or the
	// source's format by its Accept header. Other transforms need
	// parameters signed by Router.TransformURL, unless PresetsOnly refuses
	// them.
	Presets     map[string]transform.Spec
	PresetsOnly bool

	// Rewrite decodes and re-encodes every JPEG, PNG and GIF of the route,
	// at its own size and format, before it is ready: whatever rides along
	// with the image (a polyglot's other content, metadata) is dropped. The
	// record's size and SHA-256 are the rewritten file's.
	Rewrite bool

	// Middleware authorizes an upload and returns its owner and metadata. It
	// runs when an upload is created, and again (with Request.UploadID set)
	// on every later request about it, to identify the caller; the owner it
	// returns then must match the upload's. It must not read the request
	// body. A *Error it returns is sent as is, as is an error with its own
	// Code and Status methods (package auth's errors); any other error
	// becomes 403. See Authenticate for middleware made from package auth.
	// Nil admits everyone with an empty owner and zero metadata.
	Middleware func(ctx context.Context, req *Request[I]) (Grant[M], error)

	// OnComplete runs once per verified, stored file. Its result, if not nil,
	// is encoded as JSON into the upload record's "result". An error fails
	// the upload: a *Error (see Reject) rejects it with that code, any other
	// error marks it failed. Optional.
	//
	// A multipart request is all or nothing: its files become ready
	// together, once OnComplete has accepted every one. When a file is
	// refused, the files of the request that OnComplete already accepted
	// are withdrawn: their bytes are removed, they end rejected with
	// ErrBatchRejected, and OnError runs for them. Whatever OnComplete did
	// for such a file, OnError must undo.
	OnComplete func(ctx context.Context, meta M, file File) (any, error)

	// OnError sees every upload of the route that ends rejected, quarantined
	// or failed, after its bytes were removed, including the files of a
	// multipart request withdrawn with ErrBatchRejected. Optional.
	OnError func(ctx context.Context, meta M, file File, err error)
}

// Request is what a route's middleware sees.
type Request[I any] struct {
	HTTP  *http.Request // the client's request; do not read its body
	Route string        // the route's name
	Input I             // the decoded, validated input

	// UploadID is empty when a new upload is being created; otherwise it
	// names the upload the request is about.
	UploadID string

	// Files lists the files the client declared, when known before the
	// bytes: one for a tus upload, none for a multipart request.
	Files []FileInfo
}

// Grant is what middleware returns for an admitted upload.
type Grant[M any] struct {
	Owner    string // the owner's identity; compared on every later request
	Tenant   string // the owner's tenant, "" for none; compared with Owner on every later request
	Tier     string // the owner's tier, which Config.Rules may place by
	Metadata M      // handed to OnComplete and OnError
}

// FileInfo is a file as the client declared it: nothing here is trusted.
type FileInfo struct {
	Name string // the safe display name derived from the client's name
	Size int64  // declared size; -1 when not declared
	Type string // the MIME type the client claimed
}

// File is a verified file, as the callbacks see it.
type File struct {
	ID        string    // the upload ID
	Route     string    // the route's name
	Owner     string    // from the middleware's Grant
	Tenant    string    // from the middleware's Grant
	Name      string    // safe display name
	Type      string    // MIME type found from the content
	Size      int64     // bytes
	SHA256    string    // lowercase hex
	Key       string    // storage key
	URL       string    // where to fetch it (signed when the route is private); it serves once the upload is ready
	CreatedAt time.Time // when the upload was created

	// Derivatives are the URLs of the file's derivatives, by name (see
	// Route.Derivatives).
	Derivatives map[string]string
}

// Handle registers route under name on r. Names are lowercase letters,
// digits, '-' and '_'. Handle panics on a registration mistake (a bad name, a
// duplicate, an unknown accept entry, an input type that is not a struct, a
// registration after the Router began serving), so mistakes fail at start-up.
func Handle[I, M any](r *Router, name string, route Route[I, M]) {
	if err := handle(r, name, route); err != nil {
		panic("carcosa: " + err.Error())
	}
}

func handle[I, M any](r *Router, name string, rt Route[I, M]) error {
	if !lifecycle.ValidRouteName(name) {
		return fmt.Errorf("route name %q: use 1-64 lowercase letters, digits, '-' and '_'", name)
	}
	if len(rt.Accept) == 0 {
		return fmt.Errorf("route %q: Accept is required", name)
	}
	for _, a := range rt.Accept {
		if err := filetype.ValidAccept(a); err != nil {
			return fmt.Errorf("route %q: Accept: %w", name, err)
		}
	}
	if rt.MaxFileSize < 0 || rt.MinFiles < 0 || rt.MaxFiles < 0 {
		return fmt.Errorf("route %q: MaxFileSize, MinFiles and MaxFiles must not be negative", name)
	}
	if rt.MaxFileSize == 0 {
		rt.MaxFileSize = 4 << 20
	}
	if rt.MinFiles == 0 {
		rt.MinFiles = 1
	}
	if rt.MaxFiles == 0 {
		rt.MaxFiles = max(1, rt.MinFiles)
	}
	for kind, specs := range map[string]map[string]transform.Spec{"Derivatives": rt.Derivatives, "Presets": rt.Presets} {
		for n, sp := range specs {
			if !imaging.ValidName(n) {
				return fmt.Errorf("route %q: %s: name %q: use 1-32 lowercase letters, digits, '-' and '_'", name, kind, n)
			}
			if err := sp.Validate(r.images.Limits()); err != nil {
				return fmt.Errorf("route %q: %s[%q]: %v", name, kind, n, err)
			}
			if kind == "Derivatives" && sp.Format == transform.Auto {
				// A derivative is made once, before any client asks for it.
				return fmt.Errorf("route %q: Derivatives[%q]: format auto needs a request's Accept header; use it in Presets or transform URLs", name, n)
			}
		}
	}
	if rt.AsyncAbove < -1 {
		return fmt.Errorf("route %q: AsyncAbove must be -1 (never) or a size", name)
	}
	if rt.AsyncAbove == 0 {
		rt.AsyncAbove = lifecycle.DefaultAsyncAbove
	}
	if rt.MinFiles > rt.MaxFiles {
		return fmt.Errorf("route %q: MinFiles (%d) is above MaxFiles (%d)", name, rt.MinFiles, rt.MaxFiles)
	}
	it := reflect.TypeFor[I]()
	for it.Kind() == reflect.Pointer {
		it = it.Elem()
	}
	if it.Kind() != reflect.Struct {
		return fmt.Errorf("route %q: input type %s is not a struct", name, it)
	}
	if err := checkTags(r.validate, it); err != nil {
		return fmt.Errorf("route %q: input type %s: validate tags: %v", name, it, err)
	}
	e := &typedRoute[I, M]{
		route:  rt,
		r:      r,
		fields: schemaOf(it),
		cfg: &lifecycle.Policy{
			Name:        name,
			Accept:      rt.Accept,
			MaxFileSize: rt.MaxFileSize,
			MinFiles:    rt.MinFiles,
			MaxFiles:    rt.MaxFiles,
			Attachment:  rt.Attachment,
			Public:      rt.Public,
			AcceptsAny:  slices.Contains(rt.Accept, string(filetype.Any)),

			SkipScan:          rt.SkipScan,
			ScanFailOpen:      rt.ScanFailOpen,
			AcceptUnscannable: rt.AcceptUnscannable,
			AsyncAbove:        rt.AsyncAbove,

			Derivatives: maps.Clone(rt.Derivatives),
			Presets:     maps.Clone(rt.Presets),
			PresetsOnly: rt.PresetsOnly,
			Rewrite:     rt.Rewrite,
		},
	}
	return r.addRoute(name, e)
}

// routeHandler is a typed route seen without its type parameters.
type routeHandler interface {

	// admit decodes and validates the input, runs the middleware and returns
	// what it granted.
	admit(ctx context.Context, req *http.Request, input []byte, uploadID string, files []FileInfo) (lifecycle.Grant, error)

	// checkInput decodes and validates a route input.
	checkInput(input []byte) error

	// identify runs the middleware for a request about no upload (such as
	// GET B/usage), with a zero input, and returns who the caller is.
	identify(ctx context.Context, req *http.Request) (lifecycle.Grant, error)

	// schema describes the route's input for clients.
	schema() []SchemaField

	// inputType is the route's input type, I.
	inputType() reflect.Type

	// The engine's view: the route's policy, OnComplete and OnError.
	lifecycle.Route
}

type typedRoute[I, M any] struct {
	route  Route[I, M]
	cfg    *lifecycle.Policy
	fields []SchemaField // the input's schema
	r      *Router
}

// Policy is the route as the engine and the adapters see it.
func (t *typedRoute[I, M]) Policy() *lifecycle.Policy { return t.cfg }

func (t *typedRoute[I, M]) schema() []SchemaField { return t.fields }

func (t *typedRoute[I, M]) inputType() reflect.Type { return reflect.TypeFor[I]() }

func (t *typedRoute[I, M]) admit(ctx context.Context, req *http.Request, input []byte, uploadID string, files []FileInfo) (lifecycle.Grant, error) {
	in, err := decodeInput[I](t.r.validate, input)
	if err != nil {
		return lifecycle.Grant{}, err
	}
	var g Grant[M]
	if t.route.Middleware != nil {
		g, err = t.route.Middleware(ctx, &Request[I]{HTTP: req, Route: t.cfg.Name, Input: in, UploadID: uploadID, Files: files})
		if err != nil {
			return lifecycle.Grant{}, apierr.Middleware(err)
		}
	}
	meta, err := json.Marshal(g.Metadata)
	if err != nil {
		return lifecycle.Grant{}, fmt.Errorf("route %q: encoding metadata: %w", t.cfg.Name, err)
	}
	return lifecycle.Grant{Owner: g.Owner, Tenant: g.Tenant, Tier: g.Tier, Meta: meta}, nil
}

func (t *typedRoute[I, M]) checkInput(input []byte) error {
	_, err := decodeInput[I](t.r.validate, input)
	return err
}

func (t *typedRoute[I, M]) identify(ctx context.Context, req *http.Request) (lifecycle.Grant, error) {
	if t.route.Middleware == nil {
		return lifecycle.Grant{}, nil
	}
	var in I
	g, err := t.route.Middleware(ctx, &Request[I]{HTTP: req, Route: t.cfg.Name, Input: in})
	if err != nil {
		return lifecycle.Grant{}, apierr.Middleware(err)
	}
	return lifecycle.Grant{Owner: g.Owner, Tenant: g.Tenant, Tier: g.Tier}, nil
}

// Complete runs OnComplete for upload rec.
func (t *typedRoute[I, M]) Complete(ctx context.Context, rec *store.Upload) (json.RawMessage, error) {
	meta, f := rec.Metadata, t.r.fileOf(rec)
	if t.route.OnComplete == nil {
		return nil, nil
	}
	m, err := decodeMeta[M](meta)
	if err != nil {
		return nil, err
	}
	res, err := t.route.OnComplete(ctx, m, f)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("route %q: encoding OnComplete result: %w", t.cfg.Name, err)
	}
	return b, nil
}

// Fail runs OnError for upload rec.
func (t *typedRoute[I, M]) Fail(ctx context.Context, rec *store.Upload, err error) {
	meta, f := rec.Metadata, t.r.fileOf(rec)
	if t.route.OnError == nil {
		return
	}
	m, _ := decodeMeta[M](meta) // OnError still runs with zero metadata
	t.route.OnError(ctx, m, f, err)
}
