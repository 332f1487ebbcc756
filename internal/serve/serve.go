// Package serve serves the files of ready uploads at GET B/files/{key}:
// the stored file, its derivatives and its on-the-fly transforms, with
// ranges, conditional requests and headers that keep browsers from
// running them. It also writes and checks the signed URLs of private
// files.
package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// Policy is what a route says about serving its files.
type Policy struct {
	Public      bool // served without a signature, and cached publicly
	Attachment  bool // always served as an attachment
	Presets     map[string]transform.Spec
	PresetsOnly bool // on-the-fly transforms by preset only
}

// Store finds an upload by the key of its stored file.
type Store interface {
	GetByKey(ctx context.Context, key string) (*store.Upload, error)
}

// Options are what Files serves from: New takes every dependency
// explicitly.
type Options struct {
	// BasePath is the path the Router is mounted at; file URLs start with
	// it.
	BasePath string
	// Key signs file URLs and, through a key derived from it, transform
	// parameters.
	Key []byte
	// SignedURLTTL is how long the URL of a private file stays valid.
	SignedURLTTL time.Duration
	// ProcessTimeout bounds an on-the-fly transform, which runs on for
	// every request that waits for it even if one disconnects.
	ProcessTimeout time.Duration
	// Store finds the upload of a requested key.
	Store Store
	// Policy is the serving policy of the route named route; false when
	// there is no such route.
	Policy func(route string) (Policy, bool)
	// Bucket is the storage holding upload rec's file.
	Bucket func(rec *store.Upload) (storage.Storage, error)
	// Images runs on-the-fly transforms.
	Images *imaging.Pool
	// Log gets the errors of serving.
	Log *slog.Logger
}

// Files serves the files of ready uploads and writes their URLs.
type Files struct {
	o Options
}

// New returns Files serving from o.
func New(o Options) *Files { return &Files{o: o} }

func (f *Files) writeError(w http.ResponseWriter, req *http.Request, err error) {
	apierr.Write(f.o.Log, w, req, err)
}

// ServeFile serves a ready file, the handler of GET B/files/{key...}:
// Range, conditional requests on the ETag (its SHA-256), and headers that
// keep browsers from running it.
func (f *Files) ServeFile(w http.ResponseWriter, req *http.Request) {
	key := req.PathValue("key")
	rec, err := f.o.Store.GetByKey(req.Context(), key)
	if err != nil || rec.State != store.Ready {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			f.writeError(w, req, apierr.Unavailable(err))
			return
		}
		f.writeError(w, req, apierr.ErrNotFound)
		return
	}
	pol, ok := f.o.Policy(rec.Route)
	if !ok {
		f.writeError(w, req, apierr.ErrNotFound)
		return
	}
	now := time.Now()
	if !pol.Public {
		if err := f.verifySignature(key, req.URL.Query(), now); err != nil {
			f.writeError(w, req, err)
			return
		}
	}
	q := req.URL.Query()
	switch {
	case q.Has("d"):
		f.serveDerivative(w, req, rec, pol, q.Get("d"))
		return
	case wantsTransform(q):
		f.serveTransform(w, req, rec, pol, q)
		return
	}
	f.serveObject(w, req, rec, pol, object{
		key: key, ctype: rec.Type, etag: rec.SHA256, disposition: disposition(rec, pol),
	})
}

// object is what serveObject serves: a stored object of a ready upload
// (the file itself, a derivative or a cached transform).
type object struct {
	key         string
	ctype       string
	etag        string // without quotes
	disposition string
}

// serveObject serves o from upload rec's bucket: Range, conditional
// requests on its ETag, and headers that keep browsers from running it.
func (f *Files) serveObject(w http.ResponseWriter, req *http.Request, rec *store.Upload, pol Policy, o object) {
	bk, err := f.o.Bucket(rec)
	if err != nil {
		f.o.Log.ErrorContext(req.Context(), "a ready file's bucket is not configured", "upload", rec.ID, "bucket", rec.Bucket)
		f.writeError(w, req, apierr.ErrInternal)
		return
	}
	obj, err := bk.Open(req.Context(), o.key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			f.o.Log.ErrorContext(req.Context(), "a ready file is missing from storage", "upload", rec.ID, "key", o.key)
			f.writeError(w, req, apierr.ErrNotFound)
			return
		}
		f.writeError(w, req, apierr.Unavailable(err))
		return
	}
	defer obj.Close()
	f.serveOpened(w, req, rec, pol, o, obj)
}

// serveOpened serves o, already open as obj.
func (f *Files) serveOpened(w http.ResponseWriter, req *http.Request, rec *store.Upload, pol Policy, o object, obj storage.Reader) {
	objectHeaders(w, req, pol, o)
	src := &failReader{Reader: obj}
	f.serveContent(w, req, rec, obj.Size(), src)
	if src.err != nil {
		// The status and length are sent: cut the connection, so that the
		// client sees a broken response rather than a short file.
		f.o.Log.ErrorContext(req.Context(), "reading a stored file", "upload", rec.ID, "err", src.err)
		panic(http.ErrAbortHandler)
	}
}

// serveContent serves the size bytes of content with http.ServeContent,
// which handles conditional requests, after filterRange has judged the
// Range header: an unsatisfiable one gets Carcosa's JSON 416.
func (f *Files) serveContent(w http.ResponseWriter, req *http.Request, rec *store.Upload, size int64, content io.ReadSeeker) {
	if h := req.Header.Get("Range"); h != "" {
		ranges, v := filterRange(h, size)
		if v == rangeUnsatisfiable {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			f.writeError(w, req, apierr.ErrRange)
			return
		}
		// A handler does not modify its request: ServeContent gets a copy.
		req = req.WithContext(req.Context())
		req.Header = req.Header.Clone()
		if v == rangeIgnored {
			req.Header.Del("Range")
		} else {
			req.Header.Set("Range", ranges)
		}
	}
	http.ServeContent(w, req, "", rec.UpdatedAt, content)
}

// objectHeaders sets the headers of a served object.
func objectHeaders(w http.ResponseWriter, req *http.Request, pol Policy, o object) {
	hd := w.Header()
	hd.Set("Content-Type", o.ctype)
	hd.Set("ETag", `"`+o.etag+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Disposition", o.disposition)
	if o.ctype != "application/pdf" {
		// A file is never a page: no scripts, no plugins, no forms.
		hd.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox")
	}
	if pol.Public {
		// Keys are never reused, so a file's bytes never change.
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		exp, _ := strconv.ParseInt(req.URL.Query().Get("exp"), 10, 64)
		hd.Set("Cache-Control", "private, max-age="+strconv.FormatInt(max(0, min(exp-time.Now().Unix(), 3600)), 10))
	}
}

// failReader remembers the first read error other than EOF.
type failReader struct {
	storage.Reader
	err error
}

func (f *failReader) Read(p []byte) (int, error) {
	n, err := f.Reader.Read(p)
	if err != nil && err != io.EOF && f.err == nil {
		f.err = err
	}
	return n, err
}

// disposition says how a browser should treat a served file: inline only for
// types that are safe to display, with the safe name in both forms.
func disposition(rec *store.Upload, pol Policy) string {
	kind := "attachment"
	if !pol.Attachment && filetype.InlineSafe(filetype.Type{MIME: rec.Type}) {
		kind = "inline"
	}
	if v := mime.FormatMediaType(kind, map[string]string{"filename": rec.Name}); v != "" {
		return v
	}
	return kind
}
