package carcosa

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// fileURL is where a client fetches a ready file: plain for public routes,
// signed and expiring for the others.
func (r *Router) fileURL(u *store.Upload) string {
	if u.State != store.Ready {
		return ""
	}
	return r.keyURL(u)
}

// keyURL is the URL of upload u's stored file, whatever its state: the
// completion callback gets it before the upload is marked ready.
func (r *Router) keyURL(u *store.Upload) string {
	if u.Key == "" {
		return ""
	}
	p := r.filePath(u.Key)
	if h, ok := r.route(u.Route); ok && h.Policy().Public {
		return p
	}
	return r.SignURL(u.Key, r.cfg.SignedURLTTL)
}

// filePath is the path GET B/files/{key} serves key at.
func (r *Router) filePath(key string) string {
	return strings.TrimSuffix(r.cfg.BasePath, "/") + "/files/" + key
}

// SignURL returns a URL path for the file at key that stays valid for ttl.
func (r *Router) SignURL(key string, ttl time.Duration) string {
	exp := time.Now().Add(ttl).Unix()
	return r.filePath(key) + "?exp=" + strconv.FormatInt(exp, 10) + "&sig=" + r.signature(key, exp)
}

func (r *Router) signature(key string, exp int64) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte("carcosa/files\x00"))
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifySignature checks the exp and sig parameters of a file URL.
func (r *Router) verifySignature(key string, q url.Values, now time.Time) error {
	expStr, sig := q.Get("exp"), q.Get("sig")
	if expStr == "" || sig == "" {
		return ErrSignature
	}
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || exp <= 0 {
		return ErrSignature
	}
	want := r.signature(key, exp)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return ErrSignature
	}
	if now.Unix() > exp {
		return ErrExpired
	}
	return nil
}

// serveFile serves a ready file: Range, conditional requests on the ETag
// (its SHA-256), and headers that keep browsers from running it.
func (r *Router) serveFile(w http.ResponseWriter, req *http.Request) {
	key := req.PathValue("key")
	rec, err := r.store.GetByKey(req.Context(), key)
	if err != nil || rec.State != store.Ready {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			r.writeError(w, req, apierr.Unavailable(err))
			return
		}
		r.writeError(w, req, ErrNotFound)
		return
	}
	h, ok := r.route(rec.Route)
	if !ok {
		r.writeError(w, req, ErrNotFound)
		return
	}
	cfg := h.Policy()
	now := time.Now()
	if !cfg.Public {
		if err := r.verifySignature(key, req.URL.Query(), now); err != nil {
			r.writeError(w, req, err)
			return
		}
	}
	q := req.URL.Query()
	switch {
	case q.Has("d"):
		r.serveDerivative(w, req, rec, cfg, q.Get("d"))
		return
	case wantsTransform(q):
		r.serveTransform(w, req, rec, cfg, q)
		return
	}
	r.serveObject(w, req, rec, cfg, object{
		key: key, ctype: rec.Type, etag: rec.SHA256, disposition: disposition(rec, cfg),
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
func (r *Router) serveObject(w http.ResponseWriter, req *http.Request, rec *store.Upload, cfg *lifecycle.Policy, o object) {
	bk, err := r.engine.Bucket(rec)
	if err != nil {
		r.log.ErrorContext(req.Context(), "a ready file's bucket is not configured", "upload", rec.ID, "bucket", rec.Bucket)
		r.writeError(w, req, ErrInternal)
		return
	}
	obj, err := bk.Open(req.Context(), o.key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			r.log.ErrorContext(req.Context(), "a ready file is missing from storage", "upload", rec.ID, "key", o.key)
			r.writeError(w, req, ErrNotFound)
			return
		}
		r.writeError(w, req, apierr.Unavailable(err))
		return
	}
	defer obj.Close()
	r.serveOpened(w, req, rec, cfg, o, obj)
}

// serveOpened serves o, already open as obj.
func (r *Router) serveOpened(w http.ResponseWriter, req *http.Request, rec *store.Upload, cfg *lifecycle.Policy, o object, obj storage.Reader) {
	r.objectHeaders(w, req, cfg, o)
	src := &failReader{Reader: obj}
	r.serveContent(w, req, rec, obj.Size(), src)
	if src.err != nil {
		// The status and length are sent: cut the connection, so that the
		// client sees a broken response rather than a short file.
		r.log.ErrorContext(req.Context(), "reading a stored file", "upload", rec.ID, "err", src.err)
		panic(http.ErrAbortHandler)
	}
}

// serveContent serves the size bytes of content with http.ServeContent,
// which handles conditional requests, after filterRange has judged the
// Range header: an unsatisfiable one gets Carcosa's JSON 416.
func (r *Router) serveContent(w http.ResponseWriter, req *http.Request, rec *store.Upload, size int64, content io.ReadSeeker) {
	if h := req.Header.Get("Range"); h != "" {
		ranges, v := filterRange(h, size)
		if v == rangeUnsatisfiable {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			r.writeError(w, req, ErrRange)
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
func (r *Router) objectHeaders(w http.ResponseWriter, req *http.Request, cfg *lifecycle.Policy, o object) {
	hd := w.Header()
	hd.Set("Content-Type", o.ctype)
	hd.Set("ETag", `"`+o.etag+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Disposition", o.disposition)
	if o.ctype != "application/pdf" {
		// A file is never a page: no scripts, no plugins, no forms.
		hd.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox")
	}
	if cfg.Public {
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
func disposition(rec *store.Upload, cfg *lifecycle.Policy) string {
	kind := "attachment"
	if !cfg.Attachment && filetype.InlineSafe(filetype.Type{MIME: rec.Type}) {
		kind = "inline"
	}
	if v := mime.FormatMediaType(kind, map[string]string{"filename": rec.Name}); v != "" {
		return v
	}
	return kind
}

// maxRanges is the most ranges a Range header may ask for. A header with
// more is ignored and the whole file served, as RFC 9110 allows: such a
// header is the mark of a broken client or of an attack.
const maxRanges = 16

// partOverhead is about what one part of a multipart/byteranges answer
// costs beyond its bytes: the boundary line, Content-Type and Content-Range.
// filterRange merges ranges closer than that, as RFC 9110 allows, so that
// the parts of an answer never cost more than the bytes they skip.
const partOverhead = 256

type rangeVerdict int

const (
	rangeSatisfiable   rangeVerdict = iota // serve the ranges filterRange returns
	rangeIgnored                           // serve the whole file
	rangeUnsatisfiable                     // answer 416
)

// filterRange judges a Range header against a file of size bytes, reading
// it as net/http's ServeContent does, and rewrites it so that no answer is
// much larger than the file:
//
//   - a header that is malformed, not in bytes or asks for more than
//     maxRanges ranges is ignored;
//   - ranges that select nothing (beyond the end, or a suffix of 0 bytes)
//     are dropped, and a header left with none is unsatisfiable, unless the
//     file is empty, which is served whole as ServeContent does;
//   - the rest are sorted and those that overlap or lie closer than
//     partOverhead are merged.
//
// For rangeSatisfiable it returns the new header: at most maxRanges
// disjoint ranges, in order, in the form "bytes=first-last,…".
func filterRange(h string, size int64) (string, rangeVerdict) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return "", rangeIgnored
	}
	type span struct{ first, last int64 }
	var (
		spans []span
		count int
	)
	for ra := range strings.SplitSeq(spec, ",") {
		ra = textproto.TrimString(ra)
		if ra == "" {
			continue
		}
		if count++; count > maxRanges {
			return "", rangeIgnored
		}
		first, last, ok := strings.Cut(ra, "-")
		if !ok {
			return "", rangeIgnored
		}
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		if first == "" {
			// A suffix range: the last n bytes.
			if last == "" || last[0] == '-' {
				return "", rangeIgnored
			}
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 {
				return "", rangeIgnored
			}
			if n > 0 && size > 0 {
				spans = append(spans, span{size - min(n, size), size - 1})
			}
			continue
		}
		i, err := strconv.ParseInt(first, 10, 64)
		if err != nil || i < 0 {
			return "", rangeIgnored
		}
		if i >= size {
			continue // as ServeContent, without reading the end
		}
		j := size - 1
		if last != "" {
			if j, err = strconv.ParseInt(last, 10, 64); err != nil || j < i {
				return "", rangeIgnored
			}
			j = min(j, size-1)
		}
		spans = append(spans, span{i, j})
	}
	if len(spans) == 0 {
		if count == 0 || size == 0 {
			return "", rangeIgnored
		}
		return "", rangeUnsatisfiable
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	merged := spans[:1]
	for _, s := range spans[1:] {
		if m := &merged[len(merged)-1]; s.first-m.last <= partOverhead {
			m.last = max(m.last, s.last)
		} else {
			merged = append(merged, s)
		}
	}
	var b strings.Builder
	b.WriteString("bytes=")
	for k, s := range merged {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(s.first, 10) + "-" + strconv.FormatInt(s.last, 10))
	}
	return b.String(), rangeSatisfiable
}
