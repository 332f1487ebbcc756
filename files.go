package carcosa

import (
	"context"
	"time"

	"github.com/carcosa-dev/carcosa/internal/serve"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// newFiles builds what serves GET B/files/{key} for r: it finds uploads in
// r's Store, their routes' policies among r's routes and their bytes in
// their buckets, and transforms images on r's pool.
func newFiles(r *Router) *serve.Files {
	return serve.New(serve.Options{
		BasePath:       r.cfg.BasePath,
		Key:            r.key,
		SignedURLTTL:   r.cfg.SignedURLTTL,
		ProcessTimeout: r.cfg.ProcessTimeout,
		Store:          r.store,
		Policy: func(route string) (serve.Policy, bool) {
			h, ok := r.route(route)
			if !ok {
				return serve.Policy{}, false
			}
			c := h.Policy()
			return serve.Policy{Public: c.Public, Attachment: c.Attachment, Presets: c.Presets, PresetsOnly: c.PresetsOnly}, true
		},
		Bucket: func(rec *store.Upload) (storage.Storage, error) { return r.buckets.Get(rec.Bucket) },
		Images: r.images,
		Log:    r.log,
	})
}

// SignURL returns a URL path for the stored file at key (a File's or an
// Upload's Key) that stays valid for ttl. It signs without looking the file
// up; SignedURL does the same for an upload ID, and refuses a file that is
// not ready.
func (r *Router) SignURL(key string, ttl time.Duration) string { return r.files.SignURL(key, ttl) }

// TransformURL returns the URL of the file at key transformed by spec: the
// file's URL (signed and valid for ttl when its route is private) with the
// transform's parameters and their signature.
func (r *Router) TransformURL(ctx context.Context, key string, spec transform.Spec, ttl time.Duration) (string, error) {
	return r.files.TransformURL(ctx, key, spec, ttl)
}
