package lifecycle

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
func (eng *Engine) derivativesStep(ctx context.Context, h Route, rec *store.Upload) (_ *store.Upload, err error) {
	specs := h.Policy().Derivatives
	if len(specs) == 0 || rec.Derivatives != nil {
		return rec, nil
	}
	video := strings.HasPrefix(rec.Type, "video/") && eng.images.Video() != nil
	if !imaging.Transformable(rec.Type) && !video {
		return rec, nil
	}
	ctx, end := eng.beginStage(ctx, StageDerivatives, rec)
	defer end(&err)
	bk, err := eng.Bucket(rec)
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
			return nil, eng.refuseStored(ctx, h, rec, te)
		}
		return nil, apierr.Unavailable(err)
	}
	if video {
		if poster, duration, err = eng.posterOf(ctx, bk, rec); err != nil {
			return fail(err)
		}
		src = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(poster)), nil }
	}
	for name, spec := range specs {
		out, err := eng.images.Render(ctx, src, func(in io.Reader, w io.Writer) (string, error) {
			return eng.images.Engine().Image(ctx, in, spec, w)
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
	rec, err = eng.Update(ctx, rec.ID, func(u *store.Upload) error {
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
func (eng *Engine) rewriteStep(ctx context.Context, h Route, rec *store.Upload) (_ *store.Upload, err error) {
	if !h.Policy().Rewrite || rec.Derivatives != nil {
		return rec, nil
	}
	switch rec.Type {
	case "image/jpeg", "image/png", "image/gif":
	default:
		return rec, nil
	}
	ctx, end := eng.beginStage(ctx, StageDerivatives, rec)
	defer end(&err)
	bk, err := eng.Bucket(rec)
	if err != nil {
		return nil, err
	}
	out, err := eng.images.Render(ctx, imaging.OpenStored(ctx, bk, rec.Key), func(in io.Reader, w io.Writer) (string, error) {
		return eng.images.Engine().Rewrite(ctx, in, w)
	})
	if err != nil {
		if te := imaging.MapError(err); te != err {
			return nil, eng.refuseStored(ctx, h, rec, te)
		}
		return nil, apierr.Unavailable(err)
	}
	sum := sha256.Sum256(out.Body)
	size := int64(len(out.Body))
	if err := bk.Put(ctx, rec.Key, bytes.NewReader(out.Body), &storage.PutOptions{ContentType: rec.Type, Size: size}); err != nil {
		return nil, apierr.Unavailable(err)
	}
	rec, err = eng.Update(ctx, rec.ID, func(u *store.Upload) error {
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
func (eng *Engine) posterOf(ctx context.Context, bk storage.Storage, rec *store.Upload) ([]byte, time.Duration, error) {
	obj, err := bk.Open(ctx, rec.Key)
	if err != nil {
		return nil, 0, err
	}
	defer obj.Close()
	f, err := os.CreateTemp(eng.TempDir(), "video-*")
	if err != nil {
		return nil, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, obj); err != nil {
		return nil, 0, err
	}
	info, err := eng.images.Video().Probe(ctx, f.Name())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: probing the video: %v", transform.ErrCorrupt, err)
	}
	var poster bytes.Buffer
	if err := eng.images.Video().Poster(ctx, f.Name(), time.Second, &poster); err != nil {
		return nil, 0, fmt.Errorf("%w: poster frame: %v", transform.ErrCorrupt, err)
	}
	return poster.Bytes(), info.Duration, nil
}

// TmpDir names DataDir's folder of passing files: tus bodies spooled for
// their checksum, videos spooled for ffmpeg.
const TmpDir = "tmp"

// TempDir is the folder of passing files, DataDir/TmpDir.
func (eng *Engine) TempDir() string { return filepath.Join(eng.cfg.DataDir, TmpDir) }

// deleteDerivatives removes the derivatives of upload rec.
func (eng *Engine) deleteDerivatives(ctx context.Context, rec *store.Upload) error {
	if len(rec.Derivatives) == 0 {
		return nil
	}
	bk, err := eng.Bucket(rec)
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
