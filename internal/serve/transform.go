package serve

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"path"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// serveDerivative serves derivative name of ready upload rec.
func (f *Files) serveDerivative(w http.ResponseWriter, req *http.Request, rec *store.Upload, pol Policy, name string) {
	key, ok := rec.Derivatives[name]
	if !ok {
		f.writeError(w, req, apierr.ErrNotFound.With("the file has no such derivative"))
		return
	}
	f.serveObject(w, req, rec, pol, object{
		key: key, ctype: imaging.ExtType(path.Ext(key)), etag: rec.SHA256 + "-" + name, disposition: "inline",
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
func (f *Files) serveTransform(w http.ResponseWriter, req *http.Request, rec *store.Upload, pol Policy, q url.Values) {
	var spec transform.Spec
	if name := q.Get("preset"); name != "" {
		p, ok := pol.Presets[name]
		if !ok {
			f.writeError(w, req, apierr.ErrTransformRefused.With("the route has no such preset"))
			return
		}
		spec = p
	} else {
		if pol.PresetsOnly {
			f.writeError(w, req, apierr.ErrTransformRefused.With("this route transforms images by preset only"))
			return
		}
		var err error
		if spec, err = transform.ParseQuery(q, f.o.Images.Limits()); err != nil {
			f.writeError(w, req, imaging.MapError(err))
			return
		}
		if !transform.Verify(f.transformKey(), rec.Key, spec, q.Get("ts")) {
			f.writeError(w, req, apierr.ErrTransformRefused)
			return
		}
	}
	if !imaging.Transformable(rec.Type) {
		f.writeError(w, req, apierr.ErrNotImage)
		return
	}
	bk, err := f.o.Bucket(rec)
	if err != nil {
		f.writeError(w, req, apierr.ErrInternal.Wrap(err))
		return
	}
	if spec.Format == transform.Auto {
		// The signature covered fm=auto; the output, its cache key and its
		// ETag are the format chosen for this client, and every response,
		// errors too, says that another Accept may get another.
		w.Header().Add("Vary", "Accept")
		spec = transform.Negotiate(spec, req.Header.Get("Accept"))
	}
	canon, ctype := spec.Canonical(), imaging.OutputType(spec, rec.Type)
	key := imaging.CachePrefix + rec.SHA256 + "/" + canon + imaging.FormatExt(ctype)
	o := object{key: key, ctype: ctype, etag: rec.SHA256 + "-" + canon, disposition: "inline"}
	if obj, err := bk.Open(req.Context(), key); err == nil {
		defer obj.Close()
		f.serveOpened(w, req, rec, pol, o, obj)
		return
	}
	// The render is shared by every request that waits for it, so no one
	// client's disconnect stops it; ProcessTimeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), f.o.ProcessTimeout)
	defer cancel()
	images := f.o.Images
	res, err := images.Shared(key, func() (imaging.Rendered, error) {
		out, err := images.Render(ctx, imaging.OpenStored(ctx, bk, rec.Key), func(in io.Reader, w io.Writer) (string, error) {
			return images.Engine().Image(ctx, in, spec, w)
		})
		if err != nil {
			return imaging.Rendered{}, imaging.MapError(err)
		}
		if err := bk.Put(ctx, key, bytes.NewReader(out.Body), &storage.PutOptions{ContentType: out.MIME, Size: int64(len(out.Body))}); err != nil {
			f.o.Log.WarnContext(ctx, "caching a transform", "upload", rec.ID, "err", err)
		}
		return out, nil
	})
	if err != nil {
		f.writeError(w, req, err)
		return
	}
	objectHeaders(w, req, pol, o)
	f.serveContent(w, req, rec, int64(len(res.Body)), bytes.NewReader(res.Body))
}
