package compat

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

// Front is what every adapter's front door has: the path it is mounted at,
// the scheme and host of the URLs it hands out, and the other origins
// allowed to call it (CORS).
type Front struct {
	Path string // where the adapter is mounted, such as "/api/uploadthing"

	base    *url.URL // nil: each request's own
	origins []string
	cors    CORS
}

// CORS is what an adapter answers allowed origins: the response headers
// their scripts may read, and, to preflights, the methods and request
// headers its clients send.
type CORS struct {
	Expose, Methods, Headers string
}

// FrontOptions are an adapter's Options that Front checks, named for
// errors by the adapter's package.
type FrontOptions struct {
	Package      string // such as "uploadthing"
	Path         string // "" for DefaultPath
	DefaultPath  string
	BaseURL      string
	AllowOrigins []string
	CORS         CORS
}

// NewFront checks o and returns the Front it describes.
func NewFront(o FrontOptions) (*Front, error) {
	p := o.Path
	if p == "" {
		p = o.DefaultPath
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "{}?# ") {
		return nil, fmt.Errorf("%s: Options.Path %q must start with / and not end with one", o.Package, p)
	}
	f := &Front{Path: p, origins: slices.Clone(o.AllowOrigins), cors: o.CORS}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("%s: Options.BaseURL %q must be a scheme and a host, such as https://uploads.example.com", o.Package, o.BaseURL)
		}
		f.base = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	return f, nil
}

// BaseURL is the scheme and host of the URLs handed out for req: the
// configured ones, or req's own.
func (f *Front) BaseURL(req *http.Request) string {
	if f.base != nil {
		return f.base.String()
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host
}

// AllowOrigin gives a request from an allowed origin the headers its
// browser needs to read the answer.
func (f *Front) AllowOrigin(w http.ResponseWriter, req *http.Request) {
	origin := req.Header.Get("Origin")
	if origin == "" || len(f.origins) == 0 {
		return
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	if !slices.Contains(f.origins, "*") && !slices.Contains(f.origins, origin) {
		return
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Expose-Headers", f.cors.Expose)
}

// ServePreflight answers a CORS preflight, after AllowOrigin.
func (f *Front) ServePreflight(w http.ResponseWriter, req *http.Request) {
	hd := w.Header()
	if hd.Get("Access-Control-Allow-Origin") != "" {
		hd.Set("Access-Control-Allow-Methods", f.cors.Methods)
		hd.Set("Access-Control-Allow-Headers", f.cors.Headers)
		hd.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// ErrorJSON is how both adapters write an error: their clients read
// message; code is Carcosa's stable code.
type ErrorJSON struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	RequestID string `json:"requestId,omitempty"`
}

// WriteError writes err as ErrorJSON with status, or the error's own
// status when status is 0; internal errors are logged, never written. A
// HEAD request gets the status alone.
func WriteError(log *slog.Logger, w http.ResponseWriter, req *http.Request, err error, status int) {
	e := apierr.Client(err)
	if e.Status >= 500 {
		log.ErrorContext(req.Context(), "a request to a compatibility adapter failed", "method", req.Method, "path", req.URL.Path, "code", e.Code, "err", err)
	}
	if ra := apierr.RetryAfter(e); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if status == 0 {
		status = e.Status
	}
	if req.Method == http.MethodHead {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	apierr.WriteJSON(w, status, ErrorJSON{Message: e.Message, Code: e.Code, RequestID: apierr.RequestID(req)})
}
