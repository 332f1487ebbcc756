package carcosa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// derivativesStep makes the derivatives the route declares for upload rec,
// once, and records their keys. A file that is not an image (nor a video
// with ffmpeg at hand) gets none. An image that cannot be decoded within
// the limits ends the upload rejected.
func (r *Router) derivativesStep(ctx context.Context, h routeHandler, rec *store.Upload) (*store.Upload, error) {
	specs := h.config().derivatives
	if len(specs) == 0 || rec.Derivatives != nil {
		return rec, nil
	}
	video := strings.HasPrefix(rec.Type, "video/") && r.images.Video() != nil
	if !imaging.Transformable(rec.Type) && !video {
		return rec, nil
	}
	bk, err := r.storageOf(rec)
	if err != nil {
		return nil, err
	}
	var (
		poster   []byte // a video's poster frame, made once
		duration time.Duration
	)
	src := imaging.OpenStored(ctx, bk, rec.Key) // the image to derive from
	made := make(map[string]string, len(specs))
	// fail refuses the file when err is the image's fault, and leaves it
	// to be finished again when not.
	fail := func(err error) (*store.Upload, error) {
		if te := imaging.MapError(err); te != err {
			for _, k := range made {
				bk.Delete(ctx, k)
			}
			return nil, r.refuseStored(ctx, h, rec, te)
		}
		return nil, apierr.Unavailable(err)
	}
	if video {
		if poster, duration, err = r.posterOf(ctx, bk, rec); err != nil {
			return fail(err)
		}
		src = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(poster)), nil }
	}
	for name, spec := range specs {
		out, err := r.images.Render(ctx, src, func(in io.Reader, w io.Writer) (string, error) {
			return r.images.Transformer().Image(ctx, in, spec, w)
		})
		if err != nil {
			return fail(err)
		}
		key := imaging.DerivativeKey(rec.Key, name, out.MIME)
		if err := bk.Put(ctx, key, bytes.NewReader(out.Body), &storage.PutOptions{ContentType: out.MIME, Size: int64(len(out.Body))}); err != nil {
			return nil, apierr.Unavailable(err)
		}
		made[name] = key
	}
	rec, err = r.update(ctx, rec.ID, func(u *store.Upload) error {
		u.Derivatives, u.Duration = made, duration
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	return rec, nil
}

// rewriteStep re-encodes image rec in place when its route asks for it.
// The rewritten bytes are hashed as they are made, and the record takes
// their size and SHA-256. A rewrite runs before the derivatives, which
// mark it done: a finish that resumes after them does not rewrite again.
func (r *Router) rewriteStep(ctx context.Context, h routeHandler, rec *store.Upload) (*store.Upload, error) {
	if !h.config().rewrite || rec.Derivatives != nil {
		return rec, nil
	}
	switch rec.Type {
	case "image/jpeg", "image/png", "image/gif":
	default:
		return rec, nil
	}
	bk, err := r.storageOf(rec)
	if err != nil {
		return nil, err
	}
	out, err := r.images.Render(ctx, imaging.OpenStored(ctx, bk, rec.Key), func(in io.Reader, w io.Writer) (string, error) {
		return r.images.Transformer().Rewrite(ctx, in, w)
	})
	if err != nil {
		if te := imaging.MapError(err); te != err {
			return nil, r.refuseStored(ctx, h, rec, te)
		}
		return nil, apierr.Unavailable(err)
	}
	sum := sha256.Sum256(out.Body)
	size := int64(len(out.Body))
	if err := bk.Put(ctx, rec.Key, bytes.NewReader(out.Body), &storage.PutOptions{ContentType: rec.Type, Size: size}); err != nil {
		return nil, apierr.Unavailable(err)
	}
	rec, err = r.update(ctx, rec.ID, func(u *store.Upload) error {
		u.Size, u.SHA256 = size, hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	return rec, nil
}

// posterOf spools video rec to a temporary file, for ffmpeg, and returns
// its poster frame (a JPEG, one second in) and its running time.
func (r *Router) posterOf(ctx context.Context, bk storage.Storage, rec *store.Upload) ([]byte, time.Duration, error) {
	obj, err := bk.Open(ctx, rec.Key)
	if err != nil {
		return nil, 0, err
	}
	defer obj.Close()
	f, err := os.CreateTemp(r.tmpDir(), "video-*")
	if err != nil {
		return nil, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, obj); err != nil {
		return nil, 0, err
	}
	info, err := r.images.Video().Probe(ctx, f.Name())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: probing the video: %v", transform.ErrCorrupt, err)
	}
	var poster bytes.Buffer
	if err := r.images.Video().Poster(ctx, f.Name(), time.Second, &poster); err != nil {
		return nil, 0, fmt.Errorf("%w: poster frame: %v", transform.ErrCorrupt, err)
	}
	return poster.Bytes(), info.Duration, nil
}

// tmpDir holds temporary files: tus bodies being checked, videos for
// ffmpeg.
// tmpDir names DataDir's folder of passing files: tus bodies spooled for
// their checksum, transforms being written.
const tmpDir = "tmp"

func (r *Router) tmpDir() string { return filepath.Join(r.cfg.DataDir, tmpDir) }

// deleteDerivatives removes the derivatives of upload rec.
func (r *Router) deleteDerivatives(ctx context.Context, rec *store.Upload) error {
	if len(rec.Derivatives) == 0 {
		return nil
	}
	bk, err := r.storageOf(rec)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range rec.Derivatives {
		if err := bk.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
