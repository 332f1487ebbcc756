package companion

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/compat"
	"github.com/carcosa-dev/carcosa/internal/drivers"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
)

// Options configure a Handler. A nil *Options is valid.
type Options struct {
	// Path is the URL path the Handler is mounted at: Uppy's
	// companionEndpoint. The routes are under Path/s3/. Defaults to
	// "/companion".
	Path string

	// BaseURL is the scheme and host of the file URLs the Handler hands
	// out (a completed upload's location), such as
	// "https://uploads.example.com". Defaults to the scheme and Host of
	// each request, which is right unless a proxy in front rewrites them.
	BaseURL string

	// AllowOrigins lists the origins (such as "https://app.example.com")
	// of apps on another origin than the Handler's that may use it; "*"
	// allows any. Their requests get CORS headers and preflights are
	// answered. Uppy sends no credentials cross-origin: such apps
	// authenticate otherwise. Defaults to none: the app is served from the
	// Handler's origin.
	AllowOrigins []string
}

// Handler serves the S3 routes of Uppy's Companion; see the package doc.
type Handler struct {
	front *compat.Front
	host  compat.Host
	path  string
	mux   *http.ServeMux
}

// New returns a Handler serving router's routes.
func New(router *carcosa.Router, opts *Options) (*Handler, error) {
	host, ok := compat.HostOf(router)
	if !ok {
		return nil, errors.New("companion: New needs a Router made by carcosa.New")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	front, err := compat.NewFront(compat.FrontOptions{
		Package: "companion", Path: o.Path, DefaultPath: "/companion",
		BaseURL: o.BaseURL, AllowOrigins: o.AllowOrigins,
		CORS: compat.CORS{
			Expose:  "X-Request-ID, Retry-After",
			Methods: "GET, POST, DELETE",
			// Uppy sends Content-Type (application/json) with its POSTs;
			// Authorization is for apps that authenticate with it.
			Headers: "Content-Type, Authorization, X-Request-ID, traceparent, tracestate",
		},
	})
	if err != nil {
		return nil, err
	}
	h := &Handler{host: host, front: front, path: front.Path}
	m := http.NewServeMux()
	p := h.path + "/s3"
	m.HandleFunc("GET "+p+"/params", h.serveParams)
	m.HandleFunc("POST "+p+"/multipart", h.serveCreate)
	m.HandleFunc("GET "+p+"/multipart/{uploadId}", h.serveList)
	m.HandleFunc("DELETE "+p+"/multipart/{uploadId}", h.serveAbort)
	m.HandleFunc("GET "+p+"/multipart/{uploadId}/batch", h.serveBatch)
	m.HandleFunc("GET "+p+"/multipart/{uploadId}/{partNumber}", h.serveSign)
	m.HandleFunc("POST "+p+"/multipart/{uploadId}/complete", h.serveComplete)
	m.HandleFunc("OPTIONS "+p+"/", h.front.ServePreflight)
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		h.writeError(w, req, apierr.ErrNotFound)
	})
	h.mux = m
	return h, nil
}

// ServeHTTP serves the routes under Options.Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h.front.AllowOrigin(w, req)
	h.host.Serve(w, req, h.mux, h.startsUpload, h.writeError)
}

// startsUpload reports whether req asks for a new upload, which a
// draining Router refuses; uploads already begun may still be completed.
func (h *Handler) startsUpload(req *http.Request) bool {
	p := h.path + "/s3/"
	return req.Method == http.MethodPost && req.URL.Path == p+"multipart" ||
		req.Method == http.MethodGet && req.URL.Path == p+"params"
}

// serveParams answers GET /s3/params with an S3 POST policy for one file:
// Uppy uploads a file it does not send in parts with a form POST to the
// bucket.
func (h *Handler) serveParams(w http.ResponseWriter, req *http.Request) {
	d, err := decodeParams(req.URL.Query())
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	ctx := req.Context()
	rec, b, err := h.create(ctx, req, d, lifecycle.ViaS3Post)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	ct := rec.ClaimedType
	if ct == "" {
		ct = "application/octet-stream"
	}
	max, err := h.maxFileSize(rec.Route)
	if err == nil {
		var u string
		var fields map[string]string
		u, fields, err = b.API.PresignPost(ctx, b.Name, b.Key(rec.Key), ct, max, h.host.PresignTTL())
		if err == nil {
			apierr.WriteJSON(w, http.StatusOK, postPolicy{Method: http.MethodPost, URL: u, Fields: fields, Headers: map[string]string{}})
			return
		}
		err = apierr.Unavailable(err)
	}
	h.host.Withdraw(ctx, rec)
	h.writeError(w, req, err)
}

// postPolicy is the answer to /s3/params; Uppy reads url and fields.
type postPolicy struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Fields  map[string]string `json:"fields"`
	Headers map[string]string `json:"headers"`
}

// serveCreate answers POST /s3/multipart: a new upload, and its S3
// multipart upload at the upload's key.
func (h *Handler) serveCreate(w http.ResponseWriter, req *http.Request) {
	d, err := decodeCreate(req.Body)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	ctx := req.Context()
	rec, b, err := h.create(ctx, req, d, lifecycle.ViaS3Multipart)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	s3ID, err := b.API.CreateMultipart(ctx, b.Name, b.Key(rec.Key), rec.ClaimedType)
	if err != nil {
		h.host.Withdraw(ctx, rec)
		h.writeError(w, req, apierr.Unavailable(err))
		return
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]string{"key": rec.Key, "uploadId": uploadID(rec.ID, s3ID)})
}

// create admits and records a new direct upload of d, whose bucket must
// be an S3 bucket.
func (h *Handler) create(ctx context.Context, req *http.Request, d declared, via string) (*store.Upload, lifecycle.S3Bucket, error) {
	f := compat.File{Name: d.Name, Size: -1, Type: d.Type}
	if f.Name == "" {
		f.Name = "file"
	}
	g, err := h.host.Admit(ctx, req, d.Route, d.Input, []compat.File{f}, true)
	if err != nil {
		return nil, lifecycle.S3Bucket{}, err
	}
	rec, err := h.host.Create(ctx, d.Route, g, d.Input, f, via)
	if err != nil {
		return nil, lifecycle.S3Bucket{}, err
	}
	b, err := h.host.S3(rec.Bucket)
	if err != nil {
		h.host.Withdraw(ctx, rec)
		return nil, lifecycle.S3Bucket{}, err
	}
	return rec, b, nil
}

func (h *Handler) maxFileSize(route string) (int64, error) {
	for _, p := range h.host.Routes() {
		if p.Name == route {
			return p.MaxFileSize, nil
		}
	}
	return 0, apierr.ErrUnknownRoute
}

// upload finds the multipart upload a request names by its uploadId and
// key, and checks by its route's middleware that the caller owns it. Any
// mismatch is not found, as another owner's upload is.
func (h *Handler) upload(req *http.Request) (*store.Upload, string, lifecycle.S3Bucket, error) {
	id, s3ID, ok := parseUploadID(req.PathValue("uploadId"))
	if !ok {
		return nil, "", lifecycle.S3Bucket{}, apierr.ErrNotFound
	}
	rec, err := h.host.Authorize(req, id)
	if err != nil {
		return nil, "", lifecycle.S3Bucket{}, err
	}
	if rec.Via != lifecycle.ViaS3Multipart || rec.Key != req.URL.Query().Get("key") {
		return nil, "", lifecycle.S3Bucket{}, apierr.ErrNotFound
	}
	b, err := h.host.S3(rec.Bucket)
	if err != nil {
		return nil, "", lifecycle.S3Bucket{}, err
	}
	return rec, s3ID, b, nil
}

// errNotUploading answers a request for parts of an upload already
// completed or ended.
var errNotUploading = apierr.ErrConflict.With("the upload is no longer receiving parts")

// receiving is h.upload for a request about the parts of an upload, which
// must still be receiving them.
func (h *Handler) receiving(req *http.Request) (*store.Upload, string, lifecycle.S3Bucket, error) {
	rec, s3ID, b, err := h.upload(req)
	if err == nil && rec.State != store.Uploading {
		err = errNotUploading
	}
	return rec, s3ID, b, err
}

// signed is a part's upload URL; Uppy reads url.
type signed struct {
	URL     string `json:"url"`
	Expires int64  `json:"expires"` // seconds
}

// serveSign answers GET /s3/multipart/{uploadId}/{partNumber}.
func (h *Handler) serveSign(w http.ResponseWriter, req *http.Request) {
	n, err := parsePartNumber(req.PathValue("partNumber"))
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	rec, s3ID, b, err := h.receiving(req)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	ttl := h.host.PresignTTL()
	u, err := b.API.PresignPart(req.Context(), b.Name, b.Key(rec.Key), s3ID, n, ttl)
	if err != nil {
		h.writeError(w, req, apierr.Unavailable(err))
		return
	}
	apierr.WriteJSON(w, http.StatusOK, signed{URL: u, Expires: int64(ttl / time.Second)})
}

// serveBatch answers GET /s3/multipart/{uploadId}/batch?partNumbers=1,2.
func (h *Handler) serveBatch(w http.ResponseWriter, req *http.Request) {
	ns, err := parsePartNumbers(req.URL.Query().Get("partNumbers"))
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	rec, s3ID, b, err := h.receiving(req)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	urls := make(map[string]string, len(ns))
	for _, n := range ns {
		u, err := b.API.PresignPart(req.Context(), b.Name, b.Key(rec.Key), s3ID, n, h.host.PresignTTL())
		if err != nil {
			h.writeError(w, req, apierr.Unavailable(err))
			return
		}
		urls[strconv.Itoa(int(n))] = u
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"presignedUrls": urls})
}

// listedPart is a part as Companion lists it.
type listedPart struct {
	PartNumber int32  `json:"PartNumber"`
	ETag       string `json:"ETag"`
	Size       int64  `json:"Size"`
}

// serveList answers GET /s3/multipart/{uploadId}: the parts S3 has, from
// which Uppy resumes.
func (h *Handler) serveList(w http.ResponseWriter, req *http.Request) {
	rec, s3ID, b, err := h.receiving(req)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	parts, err := b.API.Parts(req.Context(), b.Name, b.Key(rec.Key), s3ID)
	if err != nil {
		h.writeError(w, req, s3Error(err))
		return
	}
	out := make([]listedPart, len(parts))
	for i, p := range parts {
		out[i] = listedPart{PartNumber: p.Number, ETag: p.ETag, Size: p.Size}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
}

// completed is the answer to a complete request; Uppy reads location and
// key.
type completed struct {
	Location string `json:"location"`
	Key      string `json:"key"`
}

// serveComplete answers POST /s3/multipart/{uploadId}/complete: S3 puts
// the parts together, then the file is verified and settled as a
// presigned upload is.
func (h *Handler) serveComplete(w http.ResponseWriter, req *http.Request) {
	parts, err := decodeParts(req.Body)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	rec, s3ID, b, err := h.upload(req)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	ctx := req.Context()
	if rec.State == store.Uploading {
		err := b.API.CompleteMultipart(ctx, b.Name, b.Key(rec.Key), s3ID, parts)
		// A completion already made (its answer lost) leaves no upload:
		// the object, if there, settles it.
		if err != nil && !errors.Is(err, drivers.ErrNoSuchUpload) {
			h.writeError(w, req, s3Error(err))
			return
		}
	}
	if rec, err = h.host.FinishDirect(ctx, rec.ID); err != nil {
		if errors.Is(err, apierr.ErrNotUploaded) {
			err = apierr.ErrNotFound.With("the multipart upload does not exist; it was aborted or has expired")
		}
		h.writeError(w, req, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, completed{Location: h.front.BaseURL(req) + h.host.FileURL(rec), Key: rec.Key})
}

// serveAbort answers DELETE /s3/multipart/{uploadId}: the S3 multipart
// upload is aborted and the upload withdrawn, its quota given back.
func (h *Handler) serveAbort(w http.ResponseWriter, req *http.Request) {
	rec, s3ID, b, err := h.upload(req)
	if err == nil && rec.State != store.Uploading {
		err = apierr.ErrConflict.With("the upload is complete; delete its file through the Router")
	}
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	ctx := req.Context()
	if err := b.API.AbortMultipart(ctx, b.Name, b.Key(rec.Key), s3ID); err != nil {
		h.writeError(w, req, apierr.Unavailable(err))
		return
	}
	h.host.Withdraw(ctx, rec)
	apierr.WriteJSON(w, http.StatusOK, struct{}{})
}

// s3Error is what a client is told of an error of S3's multipart API.
func s3Error(err error) error {
	switch {
	case errors.Is(err, drivers.ErrNoSuchUpload):
		return apierr.ErrNotFound.With("the multipart upload does not exist; it was aborted, completed or has expired")
	case errors.Is(err, drivers.ErrInvalidParts):
		return apierr.ErrBadRequest.With("S3 refused the parts: each must have been uploaded, with its ETag, and all but the last be 5 MiB at least")
	}
	return apierr.Unavailable(err)
}

// writeError answers with err, in the JSON every adapter writes.
func (h *Handler) writeError(w http.ResponseWriter, req *http.Request, err error) {
	compat.WriteError(h.host.Log(), w, req, err, 0)
}
