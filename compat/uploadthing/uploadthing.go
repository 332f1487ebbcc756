package uploadthing

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/compat"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
)

// Options configure a Handler. A nil *Options is valid.
type Options struct {
	// Path is the URL path the Handler is mounted at: the url the app's
	// UploadThing client is given. Ingest URLs are under Path/ingest/.
	// Defaults to "/api/uploadthing".
	Path string

	// BaseURL is the scheme and host of the URLs the Handler hands out
	// (ingest and file URLs), such as "https://uploads.example.com".
	// Defaults to the scheme and Host of each request, which is right
	// unless a proxy in front rewrites them.
	BaseURL string

	// IngestTTL is how long an ingest URL is valid: the time a client has
	// to send a file's bytes, resumes included. Defaults to 24 hours.
	IngestTTL time.Duration

	// AllowOrigins lists the origins (such as "https://app.example.com")
	// of apps on another origin than the Handler's that may use it; "*"
	// allows any. Their requests get CORS headers, x-ut-range-start is
	// exposed to them, and preflights are answered. Credentials (cookies)
	// are not allowed cross-origin: such apps authenticate with a header
	// (the UploadThing client's headers option). Defaults to none: the
	// app is served from the Handler's origin.
	AllowOrigins []string
}

// Handler serves the UploadThing v7 protocol; see the package doc.
type Handler struct {
	front *compat.Front
	host  compat.Host
	path  string
	ttl   time.Duration
	mux   *http.ServeMux
}

// New returns a Handler serving router's routes.
func New(router *carcosa.Router, opts *Options) (*Handler, error) {
	host, ok := compat.HostOf(router)
	if !ok {
		return nil, errors.New("uploadthing: New needs a Router made by carcosa.New")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.IngestTTL == 0 {
		o.IngestTTL = 24 * time.Hour
	}
	if o.IngestTTL < 0 {
		return nil, fmt.Errorf("uploadthing: Options.IngestTTL %v must be positive", o.IngestTTL)
	}
	front, err := compat.NewFront(compat.FrontOptions{
		Package: "uploadthing", Path: o.Path, DefaultPath: "/api/uploadthing",
		BaseURL: o.BaseURL, AllowOrigins: o.AllowOrigins,
		CORS: compat.CORS{
			Expose:  "x-ut-range-start, X-Request-ID, Retry-After",
			Methods: "GET, POST, HEAD, PUT",
			// What UploadThing's client sends, and Authorization for apps
			// that authenticate with it.
			Headers: "Content-Type, Range, Authorization, X-Request-ID, x-uploadthing-version, x-uploadthing-package, x-uploadthing-api-key, b3, traceparent, tracestate",
		},
	})
	if err != nil {
		return nil, err
	}
	h := &Handler{host: host, front: front, path: front.Path, ttl: o.IngestTTL}
	m := http.NewServeMux()
	m.HandleFunc("GET "+h.path, h.serveConfig)
	m.HandleFunc("POST "+h.path, h.serveAction)
	m.HandleFunc("HEAD "+h.path+"/ingest/{id}", h.serveOffset)
	m.HandleFunc("PUT "+h.path+"/ingest/{id}", h.serveIngest)
	m.HandleFunc("OPTIONS "+h.path, h.front.ServePreflight)
	m.HandleFunc("OPTIONS "+h.path+"/ingest/{id}", h.front.ServePreflight)
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		h.writeError(w, req, apierr.ErrNotFound)
	})
	h.mux = m
	return h, nil
}

// ServeHTTP serves the protocol at Options.Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h.front.AllowOrigin(w, req)
	h.host.Serve(w, req, h.mux, startsUpload, h.writeError)
}

// startsUpload reports whether req asks for new uploads, which a draining
// Router refuses; bytes of uploads already begun are still taken.
func startsUpload(req *http.Request) bool { return req.Method == http.MethodPost }

// maxActionBody bounds the JSON of an upload request: the input (64 KiB at
// most) and the files' declarations.
const maxActionBody = 1 << 20

// routeConfig is one route as UploadThing's client reads it.
type routeConfig struct {
	Slug   string                `json:"slug"`
	Config map[string]typeConfig `json:"config"`
}

type typeConfig struct {
	MaxFileSize        string `json:"maxFileSize"`
	MaxFileCount       int    `json:"maxFileCount"`
	MinFileCount       int    `json:"minFileCount"`
	ContentDisposition string `json:"contentDisposition"`
}

func (h *Handler) serveConfig(w http.ResponseWriter, req *http.Request) {
	routes := h.host.Routes()
	out := make([]routeConfig, 0, len(routes))
	for _, p := range routes {
		tc := typeConfig{
			MaxFileSize: FormatSize(p.MaxFileSize), MaxFileCount: p.MaxFiles, MinFileCount: p.MinFiles,
			ContentDisposition: "inline",
		}
		if p.Attachment {
			tc.ContentDisposition = "attachment"
		}
		cfg := make(map[string]typeConfig, len(p.Accept))
		for _, a := range p.Accept {
			cfg[FileTypeKey(a)] = tc
		}
		out = append(out, routeConfig{Slug: p.Name, Config: cfg})
	}
	apierr.WriteJSON(w, http.StatusOK, out)
}

// FileTypeKey is the key of UploadThing's route config for an entry of a
// route's Accept: categories keep their names, except "any", which is
// UploadThing's "blob"; a wildcard names its category ("image/*" is
// "image") when UploadThing has one, and MIME types stay as they are.
func FileTypeKey(accept string) string {
	switch accept {
	case "any":
		return "blob"
	case "image/*", "video/*", "audio/*", "text/*":
		return strings.TrimSuffix(accept, "/*")
	}
	return accept
}

// FormatSize writes n bytes as UploadThing writes sizes ("4MB", "512KB",
// "16GB", "1000B"; units of 1024): in the largest unit that divides n, so
// that the client reads back exactly n.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// actionRequest is the body of POST {Path}?actionType=upload.
type actionRequest struct {
	Input json.RawMessage `json:"input"`
	Files []declaredFile  `json:"files"`
}

type declaredFile struct {
	Name string  `json:"name"`
	Size float64 `json:"size"`
	Type string  `json:"type"`
}

// presigned is one file's entry in the answer to an upload request.
type presigned struct {
	URL      string  `json:"url"`
	Key      string  `json:"key"`
	Name     string  `json:"name"`
	CustomID *string `json:"customId"`
}

func (h *Handler) serveAction(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	if a := q.Get("actionType"); a != "upload" {
		h.writeError(w, req, apierr.ErrBadRequest.With(fmt.Sprintf("actionType %q is not supported; this server takes actionType=upload", a)))
		return
	}
	slug := q.Get("slug")
	ar, err := decodeAction(io.LimitReader(req.Body, maxActionBody+1))
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	files := make([]compat.File, len(ar.Files))
	for i, f := range ar.Files {
		files[i] = compat.File{Name: f.Name, Size: int64(f.Size), Type: f.Type}
	}
	input := ar.Input
	if bytes.Equal(bytes.TrimSpace(input), []byte("null")) {
		input = nil
	}
	ctx := req.Context()
	g, err := h.host.Admit(ctx, req, slug, input, files, false)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	recs := make([]*store.Upload, 0, len(files))
	for _, f := range files {
		rec, err := h.host.Stage(ctx, slug, g, input, f, lifecycle.ViaUploadThing)
		if err != nil {
			// All of the request's files or none.
			for _, r := range recs {
				h.host.Withdraw(ctx, r)
			}
			h.writeError(w, req, err)
			return
		}
		recs = append(recs, rec)
	}
	base := h.front.BaseURL(req)
	exp := time.Now().Add(h.ttl).Unix()
	out := make([]presigned, len(recs))
	for i, rec := range recs {
		out[i] = presigned{URL: base + h.ingestPath(rec.ID, exp), Key: rec.ID, Name: rec.Name}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
}

// decodeAction reads the body of an upload request.
func decodeAction(r io.Reader) (*actionRequest, error) {
	var ar actionRequest
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, apierr.Body(err)
	}
	if len(body) > maxActionBody {
		return nil, apierr.ErrBadRequest.With("the request body is too large")
	}
	if err := json.Unmarshal(body, &ar); err != nil || ar.Files == nil {
		return nil, apierr.ErrBadRequest.With(`the body must be JSON: {"input"?: …, "files": [{"name", "size", "type"}]}`)
	}
	for _, f := range ar.Files {
		if f.Size != float64(int64(f.Size)) || f.Size < 1 || f.Size > 1<<53 {
			return nil, apierr.ErrBadRequest.With("every file needs its size in bytes")
		}
	}
	return &ar, nil
}

// ingestPath is the path and query of upload id's ingest URL, valid until
// exp (Unix seconds).
func (h *Handler) ingestPath(id string, exp int64) string {
	e := strconv.FormatInt(exp, 10)
	return h.path + "/ingest/" + id + "?expires=" + e + "&signature=" + h.signature(id, e)
}

func (h *Handler) signature(id, exp string) string {
	return base64.RawURLEncoding.EncodeToString(h.host.Sign("uploadthing-ingest", []byte(id+"\n"+exp)))
}

// errBadIngestURL answers a request on an ingest URL that is not one this
// server signed, or has expired.
var errBadIngestURL = apierr.ErrForbidden.With("the ingest URL is invalid or has expired")

// checkIngest checks the signature and expiry of an ingest URL.
func (h *Handler) checkIngest(req *http.Request) (id string, err error) {
	id = req.PathValue("id")
	q := req.URL.Query()
	exp, sig := q.Get("expires"), q.Get("signature")
	n, perr := strconv.ParseInt(exp, 10, 64)
	if perr != nil || !lifecycle.ValidID(id) || !hmacEqual(sig, h.signature(id, exp)) || !time.Now().Before(time.Unix(n, 0)) {
		return "", errBadIngestURL
	}
	return id, nil
}

func (h *Handler) serveOffset(w http.ResponseWriter, req *http.Request) {
	id, err := h.checkIngest(req)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	rec, err := h.host.Record(req.Context(), id)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	n := rec.Size
	if rec.State == store.Uploading {
		if n, err = h.host.Offset(req.Context(), id); err != nil {
			h.writeError(w, req, err)
			return
		}
	}
	w.Header().Set("x-ut-range-start", strconv.FormatInt(n, 10))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// multipartOverhead allows for the form's part headers around the bytes.
const multipartOverhead = 64 << 10

func (h *Handler) serveIngest(w http.ResponseWriter, req *http.Request) {
	id, err := h.checkIngest(req)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	ctx := req.Context()
	rec, err := h.host.Record(ctx, id)
	if err != nil {
		h.writeError(w, req, err)
		return
	}
	if rec.State != store.Uploading {
		// The client lost the answer that settled the upload.
		h.writeOutcome(w, req, rec, nil)
		return
	}
	start, err := ParseRange(req.Header.Get("Range"))
	if err != nil {
		h.writeOutcome(w, req, nil, err)
		return
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "multipart/form-data" {
		h.writeOutcome(w, req, nil, apierr.ErrBadRequest.With(`expected a multipart/form-data body with a "file" field`))
		return
	}
	h.host.WatchIdle(w, req)
	req.Body = http.MaxBytesReader(w, req.Body, rec.Size-start+multipartOverhead)
	mr, err := req.MultipartReader()
	if err != nil {
		h.writeOutcome(w, req, nil, apierr.ErrBadRequest.With("the multipart body is malformed"))
		return
	}
	var part io.ReadCloser
	for part == nil {
		p, err := mr.NextPart()
		if err != nil {
			h.writeOutcome(w, req, nil, apierr.ErrBadRequest.With(`the body has no "file" field`))
			return
		}
		if n := p.FormName(); n == "file" || n == "blob" {
			part = p
		} else {
			p.Close()
		}
	}
	rc := http.NewResponseController(w)
	stop := func() { rc.SetReadDeadline(time.Now()) }
	offset, err := h.host.Write(ctx, rec, start, part, stop)
	part.Close()
	if err != nil {
		h.writeOutcome(w, req, nil, apierr.Multipart(err))
		return
	}
	if offset < rec.Size {
		h.writeOutcome(w, req, nil, apierr.ErrInterrupted.With(fmt.Sprintf("the body ended after %d of the file's %d bytes; resume from there", offset, rec.Size)))
		return
	}
	rec, err = h.host.Finish(ctx, id)
	h.writeOutcome(w, req, rec, err)
}

// ParseRange reads the first byte of a Range header of the form
// "bytes={start}-", as UploadThing's client sends it; no header is 0.
func ParseRange(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	s, ok := strings.CutPrefix(v, "bytes=")
	if ok {
		s, ok = strings.CutSuffix(s, "-")
	}
	if !ok || s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, apierr.ErrBadRequest.With(`the Range header must be "bytes={start}-"`)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, apierr.ErrBadRequest.With(`the Range header must be "bytes={start}-"`)
	}
	return n, nil
}

// uploaded is the answer to the PUT that brought a file's last byte, as
// UploadThing's ingest gives it.
type uploaded struct {
	Key        string          `json:"key"`
	Name       string          `json:"name"`
	Size       int64           `json:"size"`
	Type       string          `json:"type"`
	URL        string          `json:"url"`
	AppURL     string          `json:"appUrl"`
	UfsURL     string          `json:"ufsUrl"`
	FileHash   string          `json:"fileHash"`
	ServerData json.RawMessage `json:"serverData"`
	CustomID   *string         `json:"customId"`
}

// refused is the answer to a PUT whose file was refused: UploadThing's
// client hands String(error) to onUploadError as the message, and the
// whole object as the error's data.
type refused struct {
	Error     string `json:"error"`
	Code      string `json:"code"`
	RequestID string `json:"requestId,omitempty"`
}

// writeOutcome answers an ingest PUT with upload rec as it settled, or
// with err.
func (h *Handler) writeOutcome(w http.ResponseWriter, req *http.Request, rec *store.Upload, err error) {
	if err == nil && rec.State != store.Ready {
		if rec.State == store.Uploading || rec.State == store.Processing {
			err = apierr.ErrConflict.With("the upload is not finished")
		} else {
			err = apierr.OfRecord(rec)
		}
	}
	if err != nil {
		e := apierr.Client(err)
		if e.Status >= 500 && e.Code != apierr.ErrInterrupted.Code {
			h.host.Log().ErrorContext(req.Context(), "an UploadThing upload failed", "code", e.Code, "err", err)
		}
		// A refusal reaches the app's onUploadError only in a 200: the
		// client reports any other status as "XHR failed".
		apierr.WriteJSON(w, http.StatusOK, refused{Error: e.Message, Code: e.Code, RequestID: apierr.RequestID(req)})
		return
	}
	u := h.front.BaseURL(req) + h.host.FileURL(rec)
	data := rec.Result
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	apierr.WriteJSON(w, http.StatusOK, uploaded{
		Key: rec.ID, Name: rec.Name, Size: rec.Size, Type: rec.Type,
		URL: u, AppURL: u, UfsURL: u, FileHash: rec.SHA256, ServerData: data,
	})
}

// writeError answers the route-config and upload requests, and requests
// on an ingest URL that is not one, with an error.
func (h *Handler) writeError(w http.ResponseWriter, req *http.Request, err error) {
	status := apierr.Client(err).Status
	switch status {
	case http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusConflict:
		// UploadThing's client names 400, 403, 404, 413 and 500; the
		// rest it reports as a server error.
		status = http.StatusBadRequest
	}
	compat.WriteError(h.host.Log(), w, req, err, status)
}

func hmacEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
