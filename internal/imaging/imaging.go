// Package imaging runs the Router's image transforms: the derivatives made
// once a file is stored and the on-the-fly transforms of file requests. It
// keeps them on one bounded pool, within one memory budget, so that they
// cannot starve uploads, and maps package transform's errors to the ones a
// client sees.
package imaging

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"regexp"
	"strings"

	"golang.org/x/sync/singleflight"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/storage"
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
// Every decode, whichever engine makes it (Config.ImageEngine: pure Go by
// default, or libvips), checks the pixel budget (Config.TransformLimits)
// from the image's header first, so a decompression bomb is refused
// before any pixel is decoded, then reserves the memory it will take from
// one budget (TransformLimits.MaxMemory) that all the Router's
// transforms, both kinds, share. A video's poster frame is decoded by ffmpeg, in a process
// of its own, outside that budget; the derivatives made from it are not.

// derivativeName is the form of a derivative's or preset's name.
var derivativeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ValidName reports whether name is a valid name for a derivative or a
// preset: 1-32 lowercase letters, digits, '-' and '_', the first a letter
// or a digit, so that it is safe in a storage key and a query.
func ValidName(name string) bool { return derivativeName.MatchString(name) }

// CachePrefix starts the keys of cached transforms.
const CachePrefix = ".carcosa-cache/"

// MapError maps an error of package transform to a client error; any
// other error is returned as it is, so that a caller can tell the image's
// fault (a different error) from a failing backend (the same one).
func MapError(err error) error {
	switch {
	case errors.Is(err, transform.ErrTooManyPixels):
		return apierr.ErrImageTooLarge.Wrap(err)
	case errors.Is(err, transform.ErrCorrupt):
		return apierr.ErrImageCorrupt.Wrap(err)
	case errors.Is(err, transform.ErrUnsupported):
		return apierr.ErrNotImage.Wrap(err)
	case errors.Is(err, transform.ErrBadSpec):
		return apierr.ErrBadTransform.With(err.Error())
	case errors.Is(err, transform.ErrTooLarge):
		return apierr.ErrTooLarge.With("the transformed image is larger than allowed").Wrap(err)
	}
	return err
}

// Transformable reports whether files of type mime can be transformed.
func Transformable(mime string) bool {
	switch mime {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return true
	}
	return false
}

// Pool runs transforms on a bounded pool, within one memory budget.
type Pool struct {
	eng   transform.Engine
	video transform.Video // nil: no posters
	slots chan struct{}
	group singleflight.Group
}

// New returns a Pool that runs at most workers transforms at once, all
// with eng, within its limits, and makes videos' poster frames with video
// (nil: videos get none).
func New(eng transform.Engine, workers int, video transform.Video) *Pool {
	return &Pool{
		eng:   eng,
		video: video,
		slots: make(chan struct{}, workers),
	}
}

// Limits are the limits every transform of the pool keeps within.
func (p *Pool) Limits() transform.Limits { return p.eng.Limits() }

// Engine is the engine that renders within the pool's limits; call it
// from the do function of Render, so that it runs in a slot.
func (p *Pool) Engine() transform.Engine { return p.eng }

// Video makes videos' poster frames; nil when videos get no derivatives.
func (p *Pool) Video() transform.Video { return p.video }

// run runs fn in a slot of the pool, waiting for one until ctx is done.
// A transform whose ctx ends while it waits, for a slot or for memory, or
// while it runs, finds the server busy.
func (p *Pool) run(ctx context.Context, fn func() error) error {
	busy := apierr.ErrUnavailable.With("the server is busy transforming images; try again")
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return busy.Wrap(ctx.Err())
	}
	defer func() { <-p.slots }()
	err := fn()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return busy.Wrap(err)
	}
	return err
}

// Shared runs fn once for all the callers that ask for key at the same
// time, and gives each its result: identical concurrent transforms render
// once.
func (p *Pool) Shared(key string, fn func() (Rendered, error)) (Rendered, error) {
	v, err, _ := p.group.Do(key, func() (any, error) {
		out, err := fn()
		if err != nil {
			return nil, err
		}
		return out, nil
	})
	if err != nil {
		return Rendered{}, err
	}
	return v.(Rendered), nil
}

// DerivativeKey is where derivative name of the file at key is stored.
func DerivativeKey(key, name, mime string) string {
	return strings.TrimSuffix(key, path.Ext(key)) + "/" + name + FormatExt(mime)
}

// FormatExt is the extension of a stored transform of type mime: ".png",
// ".gif", ".webp", ".avif", or ".jpg" for the rest.
func FormatExt(mime string) string {
	switch mime {
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "image/avif":
		return ".avif"
	}
	return ".jpg"
}

// ExtType is the MIME type of a stored transform whose key ends in ext,
// the inverse of FormatExt.
func ExtType(ext string) string {
	switch ext {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".avif":
		return "image/avif"
	}
	return "image/jpeg"
}

// Render runs do (a transform) on what open gives, in a slot of the
// pool. The output is bounded by the limits' MaxOutputBytes.
func (p *Pool) Render(ctx context.Context, open func() (io.ReadCloser, error), do func(in io.Reader, w io.Writer) (string, error)) (Rendered, error) {
	var (
		out bytes.Buffer
		res Rendered
	)
	err := p.run(ctx, func() error {
		in, err := open()
		if err != nil {
			return apierr.Unavailable(err)
		}
		defer in.Close()
		res.MIME, err = do(in, &out)
		return err
	})
	res.Body = out.Bytes()
	return res, err
}

// OpenStored opens the object at key in bk, for Render.
func OpenStored(ctx context.Context, bk storage.Storage, key string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return bk.Open(ctx, key) }
}

// Rendered is one transform's output.
type Rendered struct {
	MIME string
	Body []byte
}

// OutputType is the MIME type of spec applied to an image of type src:
// the spec's format, else the source's when it is JPEG, PNG or GIF, else
// JPEG. A spec of format Auto is resolved first, with transform.Negotiate.
func OutputType(spec transform.Spec, src string) string {
	switch spec.Format {
	case transform.PNG:
		return "image/png"
	case transform.GIF:
		return "image/gif"
	case transform.JPEG:
		return "image/jpeg"
	case transform.WebP:
		return "image/webp"
	case transform.AVIF:
		return "image/avif"
	}
	switch src {
	case "image/png", "image/gif":
		return src
	}
	return "image/jpeg"
}
