package carcosa

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// Images get two kinds of transforms:
//
//   - derivatives, declared per route (Route.Derivatives): made once the
//     file is scanned, before OnComplete, stored beside it under
//     "<key without extension>/<name>.<ext>", listed in the record and
//     deleted with the file. A video's derivatives are made from its
//     poster frame, when ffmpeg is installed.
//   - on-the-fly transforms: GET B/files/{key}?w=&h=&fit=&fm=&q= with a
//     signature from Router.TransformURL, or ?preset=<name> of the route's
//     Presets. Results are cached in the file's bucket under
//     ".carcosa-cache/<sha256>/<spec>", identical concurrent requests render
//     once, and a bounded pool keeps transforms from starving uploads.
//
// Every decode checks the pixel budget (Config.TransformLimits) from the
// image's header first, so a decompression bomb is refused before any
// pixel is decoded, then reserves the memory it will take from one budget
// (TransformLimits.MaxMemory) that all the Router's transforms, both
// kinds, share. A video's poster frame is decoded by ffmpeg, in a process
// of its own, outside that budget; the derivatives made from it are not.

// derivativeName is the form of a derivative's or preset's name.
var derivativeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// cachePrefix starts the keys of cached transforms.
const cachePrefix = ".carcosa-cache/"

// transformError maps an error of package transform to a client error.
func transformError(err error) error {
	switch {
	case errors.Is(err, transform.ErrTooManyPixels):
		return ErrImageTooLarge.Wrap(err)
	case errors.Is(err, transform.ErrCorrupt):
		return ErrImageCorrupt.Wrap(err)
	case errors.Is(err, transform.ErrUnsupported):
		return ErrNotImage.Wrap(err)
	case errors.Is(err, transform.ErrBadSpec):
		return ErrBadTransform.With(err.Error())
	case errors.Is(err, transform.ErrTooLarge):
		return ErrTooLarge.With("the transformed image is larger than allowed").Wrap(err)
	}
	return err
}

// transformable reports whether files of type mime can be transformed.
func transformable(mime string) bool {
	switch mime {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return true
	}
	return false
}

// transformer runs transforms on a bounded pool, within one memory
// budget.
type transformer struct {
	lim   transform.Limits
	tf    *transform.Transformer
	video transform.Video // nil: no posters
	slots chan struct{}
	group singleflight.Group
}

// run runs fn in a slot of the pool, waiting for one until ctx is done.
// A transform whose ctx ends while it waits, for a slot or for memory, or
// while it runs, finds the server busy.
func (t *transformer) run(ctx context.Context, fn func() error) error {
	busy := ErrUnavailable.With("the server is busy transforming images; try again")
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return busy.Wrap(ctx.Err())
	}
	defer func() { <-t.slots }()
	err := fn()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return busy.Wrap(err)
	}
	return err
}

// derivativeKey is where derivative name of the file at key is stored.
func derivativeKey(key, name, mime string) string {
	return strings.TrimSuffix(key, path.Ext(key)) + "/" + name + formatExt(mime)
}

func formatExt(mime string) string {
	switch mime {
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	}
	return ".jpg"
}

// derivativeURLs are the URLs of upload u's derivatives.
func (r *Router) derivativeURLs(u *store.Upload) map[string]string {
	if len(u.Derivatives) == 0 {
		return nil
	}
	base := r.keyURL(u)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	out := make(map[string]string, len(u.Derivatives))
	for name := range u.Derivatives {
		out[name] = base + sep + "d=" + url.QueryEscape(name)
	}
	return out
}

// serveDerivative serves derivative name of ready upload rec.
func (r *Router) serveDerivative(w http.ResponseWriter, req *http.Request, rec *store.Upload, cfg *lifecycle.Policy, name string) {
	key, ok := rec.Derivatives[name]
	if !ok {
		r.writeError(w, req, ErrNotFound.With("the file has no such derivative"))
		return
	}
	ctype := "image/jpeg"
	switch path.Ext(key) {
	case ".png":
		ctype = "image/png"
	case ".gif":
		ctype = "image/gif"
	}
	r.serveObject(w, req, rec, cfg, object{
		key: key, ctype: ctype, etag: rec.SHA256 + "-" + name, disposition: "inline",
	})
}

// wantsTransform reports whether a file request asks for an on-the-fly
// transform.
func wantsTransform(q url.Values) bool {
	for _, k := range []string{"w", "h", "fit", "fm", "q", "preset"} {
		if q.Has(k) {
			return true
		}
	}
	return false
}

// serveTransform answers an on-the-fly transform of ready upload rec: from
// the cache, or rendered once for all who ask at the same time.
func (r *Router) serveTransform(w http.ResponseWriter, req *http.Request, rec *store.Upload, cfg *lifecycle.Policy, q url.Values) {
	var spec transform.Spec
	if name := q.Get("preset"); name != "" {
		p, ok := cfg.Presets[name]
		if !ok {
			r.writeError(w, req, ErrTransformRefused.With("the route has no such preset"))
			return
		}
		spec = p
	} else {
		if cfg.PresetsOnly {
			r.writeError(w, req, ErrTransformRefused.With("this route transforms images by preset only"))
			return
		}
		var err error
		if spec, err = transform.ParseQuery(q, r.transforms.lim); err != nil {
			r.writeError(w, req, transformError(err))
			return
		}
		if !transform.Verify(r.transformKey(), rec.Key, spec, q.Get("ts")) {
			r.writeError(w, req, ErrTransformRefused)
			return
		}
	}
	if !transformable(rec.Type) {
		r.writeError(w, req, ErrNotImage)
		return
	}
	bk, err := r.engine.Bucket(rec)
	if err != nil {
		r.writeError(w, req, ErrInternal.Wrap(err))
		return
	}
	canon, ctype := spec.Canonical(), outputType(spec, rec.Type)
	key := cachePrefix + rec.SHA256 + "/" + canon + formatExt(ctype)
	o := object{key: key, ctype: ctype, etag: rec.SHA256 + "-" + canon, disposition: "inline"}
	if obj, err := bk.Open(req.Context(), key); err == nil {
		defer obj.Close()
		r.serveOpened(w, req, rec, cfg, o, obj)
		return
	}
	// The render is shared by every request that waits for it, so no one
	// client's disconnect stops it; ProcessTimeout bounds it.
	ctx, cancel := r.engine.ProcessContext(req.Context())
	defer cancel()
	v, err, _ := r.transforms.group.Do(key, func() (any, error) {
		out, err := r.render(ctx, openStored(ctx, bk, rec.Key), func(in io.Reader, w io.Writer) (string, error) {
			return r.transforms.tf.Image(ctx, in, spec, w)
		})
		if err != nil {
			return nil, transformError(err)
		}
		if err := bk.Put(ctx, key, bytes.NewReader(out.body), &storage.PutOptions{ContentType: out.mime, Size: int64(len(out.body))}); err != nil {
			r.log.WarnContext(ctx, "caching a transform", "upload", rec.ID, "err", err)
		}
		return out, nil
	})
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	res := v.(rendered)
	r.objectHeaders(w, req, cfg, o)
	r.serveContent(w, req, rec, int64(len(res.body)), bytes.NewReader(res.body))
}

// render runs do (a transform) on what open gives, in a slot of the
// pool. The output is bounded by the limits' MaxOutputBytes.
func (r *Router) render(ctx context.Context, open func() (io.ReadCloser, error), do func(in io.Reader, w io.Writer) (string, error)) (rendered, error) {
	var (
		out bytes.Buffer
		res rendered
	)
	err := r.transforms.run(ctx, func() error {
		in, err := open()
		if err != nil {
			return apierr.Unavailable(err)
		}
		defer in.Close()
		res.mime, err = do(in, &out)
		return err
	})
	res.body = out.Bytes()
	return res, err
}

// openStored opens the object at key in bk, for render.
func openStored(ctx context.Context, bk storage.Storage, key string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return bk.Open(ctx, key) }
}

// rendered is one transform's output.
type rendered struct {
	mime string
	body []byte
}

// outputType is the MIME type of spec applied to an image of type src:
// the spec's format, else the source's when it is JPEG, PNG or GIF, else
// JPEG.
func outputType(spec transform.Spec, src string) string {
	switch spec.Format {
	case transform.PNG:
		return "image/png"
	case transform.GIF:
		return "image/gif"
	case transform.JPEG:
		return "image/jpeg"
	}
	switch src {
	case "image/png", "image/gif":
		return src
	}
	return "image/jpeg"
}

// transformKey signs on-the-fly transform parameters; it is derived from
// the URL signing key.
func (r *Router) transformKey() []byte {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte("carcosa/transform"))
	return m.Sum(nil)
}

// TransformURL returns the URL of the file at key transformed by spec: the
// file's URL (signed and valid for ttl when its route is private) with the
// transform's parameters and their signature.
func (r *Router) TransformURL(ctx context.Context, key string, spec transform.Spec, ttl time.Duration) (string, error) {
	if err := spec.Validate(r.transforms.lim); err != nil {
		return "", transformError(err)
	}
	rec, err := r.store.GetByKey(ctx, key)
	if err != nil {
		return "", apierr.API(err)
	}
	h, ok := r.route(rec.Route)
	if !ok {
		return "", ErrUnknownRoute
	}
	base := r.filePath(key) + "?"
	if !h.Policy().Public {
		base = r.SignURL(key, ttl) + "&"
	}
	q := url.Values{}
	if spec.Width > 0 {
		q.Set("w", fmt.Sprint(spec.Width))
	}
	if spec.Height > 0 {
		q.Set("h", fmt.Sprint(spec.Height))
	}
	if spec.Fit != "" {
		q.Set("fit", string(spec.Fit))
	}
	if spec.Format != "" {
		q.Set("fm", string(spec.Format))
	}
	if spec.Quality > 0 {
		q.Set("q", fmt.Sprint(spec.Quality))
	}
	q.Set("ts", transform.Sign(r.transformKey(), key, spec))
	return base + q.Encode(), nil
}
