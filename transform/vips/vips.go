//go:build cgo

package vips

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/carcosa-dev/carcosa/transform"
)

// Options configure an Engine. The zero value (or nil) is usable.
type Options struct {
	// Limits bound the engine's transforms as they bound a
	// transform.Transformer's. A zero field takes transform's default.
	Limits transform.Limits

	// Workers is how many threads libvips gives one image. It is set for
	// the whole process by the first New, libvips having one setting;
	// later values are ignored. Defaults to 1: the transforms that run at
	// once (Config.TransformWorkers) are what keeps the cores busy, and
	// one thread an image keeps each one's memory small.
	Workers int
}

// Engine is a transform.Engine on libvips. It is safe for concurrent use.
type Engine struct {
	lim transform.Limits
	// tf holds the memory budget, shared with the animated GIFs it
	// rewrites.
	tf *transform.Transformer
}

var _ transform.Engine = (*Engine)(nil)

var startup sync.Once

// New returns an Engine with opts (nil: the defaults), starting libvips
// the first time.
func New(opts *Options) (*Engine, error) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.Workers < 0 {
		return nil, fmt.Errorf("transform/vips: Options.Workers must not be negative")
	}
	workers := opts.Workers
	if workers == 0 {
		workers = 1
	}
	startup.Do(func() {
		// libvips' messages (warnings about the input) are for its
		// errors, which are returned; nothing is printed.
		vips.LoggingSettings(func(string, vips.LogLevel, string) {}, vips.LogLevelError)
		// The cache off: an operation's result kept across calls would be
		// memory outside the budget, and no two calls share a source.
		vips.Startup(&vips.Config{ConcurrencyLevel: workers, MaxCacheFiles: 0, MaxCacheMem: 0, MaxCacheSize: 0})
	})
	tf := transform.New(opts.Limits)
	return &Engine{lim: tf.Limits(), tf: tf}, nil
}

// Limits returns the engine's limits, every default filled in.
func (e *Engine) Limits() transform.Limits { return e.lim }

// Image makes the transform s of the image in r with libvips'
// thumbnail, as transform.Engine says.
func (e *Engine) Image(ctx context.Context, r io.Reader, s transform.Spec, w io.Writer) (string, error) {
	if err := s.Validate(e.lim); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h, body, err := transform.ReadHeader(r, e.lim)
	if err != nil {
		return "", err
	}
	p, err := h.Plan(s, e.lim)
	if err != nil {
		return "", err
	}
	switch p.Format {
	case transform.JPEG, transform.PNG, transform.GIF:
	default:
		return "", fmt.Errorf("%w: transform/vips does not write %s", transform.ErrUnsupported, p.Format)
	}
	quality := s.Quality
	if quality == 0 {
		quality = transform.DefaultQuality
	}
	return e.render(ctx, body, p, quality, e.imageCost(h, p), w)
}

// rewriteQuality is the JPEG quality of Rewrite, as the pure-Go engine's.
const rewriteQuality = 90

// Rewrite re-encodes the image in r at its own size, as transform.Engine
// says; an animated GIF is rewritten by the pure-Go engine.
func (e *Engine) Rewrite(ctx context.Context, r io.Reader, w io.Writer) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h, body, err := transform.ReadHeader(r, e.lim)
	if err != nil {
		return "", err
	}
	if h.Frames > 1 {
		// body replays the source from its first byte, and is bounded
		// by MaxInputBytes already.
		return e.tf.Rewrite(ctx, body, w)
	}
	p := transform.Plan{Format: transform.SourceFormat(h.MIME), Width: h.Width, Height: h.Height}
	return e.render(ctx, body, p, rewriteQuality, e.rewriteCost(h), w)
}

// render reads the source from body and makes p of it at quality, holding
// cost of the memory budget, then writes the output to w whole: on error,
// nothing has been written.
func (e *Engine) render(ctx context.Context, body io.Reader, p transform.Plan, quality int, cost int64, w io.Writer) (string, error) {
	var out []byte
	err := e.tf.Reserve(ctx, cost, func() error {
		src, err := e.read(ctx, body)
		if err != nil {
			return err
		}
		if out, err = thumbnail(src, p, quality); err != nil {
			return err
		}
		if err := transform.BoundOutput(len(out), e.lim); err != nil {
			return err
		}
		return ctx.Err()
	})
	if err != nil {
		return "", err
	}
	if _, err := w.Write(out); err != nil {
		return "", err
	}
	return p.Format.MIME(), nil
}

// read reads the whole source; its failures are transform's already
// (ErrTooLarge past MaxInputBytes).
func (e *Engine) read(ctx context.Context, body io.Reader) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(body); err != nil {
		return nil, err
	}
	return b.Bytes(), ctx.Err()
}

// thumbnail makes p of src with libvips and encodes it.
func thumbnail(src []byte, p transform.Plan, quality int) ([]byte, error) {
	params := vips.NewImportParams() // fail on the first error, not a warning
	w, h, crop, size := p.Width, p.Height, vips.InterestingNone, vips.SizeForce
	switch p.Fit {
	case transform.Cover:
		crop, size = vips.InterestingCentre, vips.SizeBoth
	case transform.Contain:
		w, h = p.ScaledWidth, p.ScaledHeight
	}
	// The thumbnail turns the image upright (EXIF orientation) and sizes
	// refer to it upright.
	img, err := vips.LoadThumbnailFromBuffer(src, w, h, crop, size, params)
	if err != nil {
		return nil, corrupt(err)
	}
	defer img.Close()
	if img.Width() != w || img.Height() != h {
		return nil, fmt.Errorf("transform/vips: libvips made %d×%d, not %d×%d", img.Width(), img.Height(), w, h)
	}
	bg := p.Background
	if p.Fit == transform.Contain {
		// An embed's background has as many bands as the image: make it
		// RGB, with alpha where the padding is transparent.
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return nil, corrupt(err)
		}
		if bg[3] != 255 {
			if err := img.AddAlpha(); err != nil {
				return nil, corrupt(err)
			}
		}
		left, top := (p.Width-w)/2, (p.Height-h)/2
		if err := img.EmbedBackgroundRGBA(left, top, p.Width, p.Height, &vips.ColorRGBA{R: bg[0], G: bg[1], B: bg[2], A: bg[3]}); err != nil {
			return nil, corrupt(err)
		}
	}
	var out []byte
	switch p.Format {
	case transform.JPEG:
		if img.HasAlpha() {
			if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
				return nil, corrupt(err)
			}
		}
		out, _, err = img.ExportJpeg(&vips.JpegExportParams{StripMetadata: true, Quality: quality})
	case transform.PNG:
		out, _, err = img.ExportPng(&vips.PngExportParams{StripMetadata: true, Compression: 6})
	case transform.GIF:
		out, _, err = img.ExportGIF(&vips.GifExportParams{StripMetadata: true})
	}
	if err != nil {
		// libvips decodes as it encodes: a fault in the source shows
		// here.
		return nil, corrupt(err)
	}
	return out, nil
}

// corrupt is a libvips error: the header passed transform's checks, so
// what libvips fails on is the image.
func corrupt(err error) error {
	return fmt.Errorf("%w: libvips: %v", transform.ErrCorrupt, err)
}
