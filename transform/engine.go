package transform

import (
	"context"
	"fmt"
	"io"
)

// An Engine makes image transforms within its Limits. The *Transformer of
// this package is the default, in pure Go; package transform/vips is
// another, on libvips (cgo). Every Engine keeps the same contract, which
// package transform/enginetest checks, so that an application can switch
// engines without its clients seeing a difference other than speed:
//
//   - The source is JPEG, PNG, GIF or WebP, told by its magic bytes;
//     anything else fails with ErrUnsupported, an empty or undecodable
//     source with ErrCorrupt.
//   - Its header is read and checked against Limits.MaxPixels (a GIF's
//     frames counted) before any pixel is decoded, as ReadHeader does:
//     a decompression bomb costs only its header (ErrTooManyPixels).
//   - The memory a call will take is estimated from the header and
//     reserved from Limits.MaxMemory, shared by all the Engine's calls,
//     before decoding; calls beyond it wait until their context is done.
//   - A JPEG's EXIF orientation is applied to the pixels and every piece of
//     metadata (EXIF, XMP, ICC, comments) is left out of the output.
//   - At most Limits.MaxInputBytes are read and Limits.MaxOutputBytes
//     written (ErrTooLarge beyond either); the output is written to w only
//     once complete, so that on error w has nothing.
//   - ctx is checked between steps.
//
// Implementations must be safe for concurrent use.
type Engine interface {
	// Image reads an image from r, transforms it as s says (its size as
	// Plan says) and writes it to w, returning the output's MIME type.
	// Errors match ErrBadSpec, ErrTooManyPixels, ErrCorrupt,
	// ErrUnsupported or ErrTooLarge, or are ctx's, r's or w's. An engine
	// that cannot encode s.Format returns an error matching
	// ErrUnsupported.
	Image(ctx context.Context, r io.Reader, s Spec, w io.Writer) (mime string, err error)

	// Rewrite decodes the image in r and encodes it again at its own size
	// and in its own format (WebP becomes JPEG), passing on only its
	// pixels, upright; an animated GIF keeps every frame and its timing.
	// MaxSide does not apply; the rest is as for Image.
	Rewrite(ctx context.Context, r io.Reader, w io.Writer) (mime string, err error)

	// Limits returns the engine's limits, every default filled in.
	Limits() Limits
}

var _ Engine = (*Transformer)(nil)

// Limits returns t's limits, every default filled in.
func (t *Transformer) Limits() Limits { return t.lim }

// Reserve runs fn with n bytes of t's memory budget reserved, waiting for
// them until ctx is done, so that another Engine can share t's budget:
// what n is, is the caller's estimate of what fn allocates. An n over the
// whole budget would wait for ever; it is refused with an error matching
// ErrTooManyPixels.
func (t *Transformer) Reserve(ctx context.Context, n int64, fn func() error) error {
	return t.reserve(ctx, nil, n, fn)
}

// A Header is the start of an image, read and checked by ReadHeader.
type Header struct {
	// MIME is the source's type: image/jpeg, image/png, image/gif or
	// image/webp.
	MIME string

	// Width and Height are the image's, upright: a JPEG's EXIF orientation
	// 5 to 8 swaps them.
	Width, Height int

	// Frames is a GIF's frames; 1 otherwise.
	Frames int64

	// Orientation is a JPEG's EXIF orientation, 1 to 8; 1 otherwise.
	Orientation int

	h *header
}

// ReadHeader reads the header of the image in r within lim, as Image does
// before decoding: it tells the format from the magic bytes and checks
// width×height×frames against lim.MaxPixels, returning errors matching
// ErrUnsupported, ErrCorrupt, ErrTooManyPixels or ErrTooLarge. body reads
// the whole source from its first byte (what the header took is replayed),
// at most lim.MaxInputBytes in all: past that its error matches
// ErrTooLarge. An engine that decodes otherwise calls it first, so that no
// byte reaches its decoder before the checks.
func ReadHeader(r io.Reader, lim Limits) (h Header, body io.Reader, err error) {
	lim = lim.withDefaults()
	hd, err := readHeader(r, lim)
	if err != nil {
		return Header{}, nil, err
	}
	w, ht := hd.size()
	return Header{
		MIME: "image/" + hd.format, Width: w, Height: ht,
		Frames: hd.frames, Orientation: hd.orientation, h: hd,
	}, &classifiedReader{hd}, nil
}

// classifiedReader reads a header's body, its failures those of the
// limit reader.
type classifiedReader struct{ h *header }

func (c *classifiedReader) Read(p []byte) (int, error) {
	n, err := c.h.body.Read(p)
	if err != nil && err != io.EOF {
		if f := c.h.lr.failure(); f != nil {
			return n, f
		}
	}
	return n, err
}

// A Plan is the output Image makes of a source: its format and size, and
// how the source is fitted to it. Other engines follow it, so that every
// engine makes images of the same size from the same Spec.
type Plan struct {
	Format Format

	// Width and Height are the output's.
	Width, Height int

	// Fit is how the upright source becomes Width×Height: Cover scales it
	// to cover and crops the centre; Fill scales it to exactly
	// Width×Height (with the source's aspect ratio but for rounding,
	// unless the Spec said Fill); Contain scales it to
	// ScaledWidth×ScaledHeight and centres that on Width×Height, padded
	// with Background; "" keeps the source as it is.
	Fit Fit

	// ScaledWidth and ScaledHeight are the scaled source of Contain.
	ScaledWidth, ScaledHeight int

	// Background is Contain's padding, and what a transparent image is
	// flattened onto for JPEG: opaque white for JPEG, else transparent, as
	// R, G, B, A from 0 to 255.
	Background [4]uint8
}

// Plan validates s against lim and returns the output Image makes of the
// source h heads.
func (h Header) Plan(s Spec, lim Limits) (Plan, error) {
	lim = lim.withDefaults()
	if err := s.Validate(lim); err != nil {
		return Plan{}, err
	}
	if h.h == nil {
		return Plan{}, fmt.Errorf("transform: Plan of a Header not read by ReadHeader")
	}
	s = s.withDefaults()
	format := s.Format
	if format == "" {
		format = sourceFormat(h.h.format)
	}
	p := planResize(h.Width, h.Height, s, lim.MaxSide)
	out := Plan{Format: format, Width: p.w, Height: p.h}
	switch p.op {
	case scaleTo:
		out.Fit = Fill
	case cover:
		out.Fit = Cover
	case pad:
		out.Fit, out.ScaledWidth, out.ScaledHeight = Contain, p.fw, p.fh
	}
	if format == JPEG {
		out.Background = [4]uint8{255, 255, 255, 255}
	}
	return out, nil
}

// SourceFormat is the format Rewrite writes a source of type mime in: its
// own for JPEG, PNG and GIF, JPEG for the rest.
func SourceFormat(mime string) Format {
	switch mime {
	case "image/png":
		return PNG
	case "image/gif":
		return GIF
	}
	return JPEG
}

// MIME is the MIME type of format f.
func (f Format) MIME() string { return mimeType(f) }

// BoundOutput returns an error matching ErrTooLarge when an encoded output
// of n bytes is over lim.MaxOutputBytes, for engines that encode
// elsewhere than into a bounded writer.
func BoundOutput(n int, lim Limits) error {
	lim = lim.withDefaults()
	if int64(n) > lim.MaxOutputBytes {
		return fmt.Errorf("%w: the output is longer than %d bytes", ErrTooLarge, lim.MaxOutputBytes)
	}
	return nil
}
