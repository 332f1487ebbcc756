package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"

	"golang.org/x/sync/singleflight"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/transform"
)

// transformError maps an error of package transform to a client error.
func transformError(err error) error {
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

// transformable reports whether files of type mime can be transformed.
func transformable(mime string) bool {
	switch mime {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return true
	}
	return false
}

// Transformer runs transforms on a bounded pool, within one memory
// budget.
type Transformer struct {
	lim   transform.Limits
	tf    *transform.Transformer
	video transform.Video // nil: no posters
	slots chan struct{}
	group singleflight.Group
}

// run runs fn in a slot of the pool, waiting for one until ctx is done.
// A transform whose ctx ends while it waits, for a slot or for memory, or
// while it runs, finds the server busy.
func (t *Transformer) run(ctx context.Context, fn func() error) error {
	busy := apierr.ErrUnavailable.With("the server is busy transforming images; try again")
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

// render runs do (a transform) on what open gives, in a slot of the
// pool. The output is bounded by the limits' MaxOutputBytes.
func (eng *Engine) render(ctx context.Context, open func() (io.ReadCloser, error), do func(in io.Reader, w io.Writer) (string, error)) (rendered, error) {
	var (
		out bytes.Buffer
		res rendered
	)
	err := eng.images.run(ctx, func() error {
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

// NewTransformer returns a pool of workers transforms that share tf's
// memory budget, within lim; video makes posters (nil: none).
func NewTransformer(lim transform.Limits, tf *transform.Transformer, video transform.Video, workers int) *Transformer {
	return &Transformer{lim: lim, tf: tf, video: video, slots: make(chan struct{}, workers)}
}
