package transform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"

	"github.com/disintegration/imaging"
)

// filter is the resampling filter: Catmull-Rom is close to Lanczos in
// sharpness for thumbnails and about a third cheaper.
var filter = imaging.CatmullRom

// rewriteQuality is the JPEG quality of Rewrite, high to lose little in
// the re-encoding.
const rewriteQuality = 90

// Image reads an image (JPEG, PNG, GIF or WebP) from r, transforms it as s
// says and writes it to w, returning the output's MIME type. It is
// New(lim).Image: lim.MaxMemory bounds this call alone. A program that
// transforms concurrently shares one Transformer, so that the budget
// bounds all its transforms together.
func Image(ctx context.Context, r io.Reader, s Spec, lim Limits, w io.Writer) (mime string, err error) {
	return New(lim).Image(ctx, r, s, w)
}

// Rewrite is New(lim).Rewrite.
func Rewrite(ctx context.Context, r io.Reader, lim Limits, w io.Writer) (mime string, err error) {
	return New(lim).Rewrite(ctx, r, w)
}

// Image reads an image (JPEG, PNG, GIF or WebP) from r, transforms it as s
// says and writes it to w, returning the output's MIME type.
//
// Before any pixel is decoded, the header is checked against MaxPixels (a
// GIF's frames counted too), so a decompression bomb costs only its
// header, and the memory the transform will take is estimated from it and
// reserved from MaxMemory, waiting while other calls hold the budget. A
// JPEG's EXIF orientation is applied; all metadata is dropped, the image
// being re-encoded. The output of an animated GIF is its first frame.
// s.Format "" keeps the source's format when it is JPEG, PNG or GIF and
// gives JPEG otherwise.
//
// The output is encoded in memory (at most MaxOutputBytes) and written to
// w only when complete: on error nothing has been written. ctx is checked
// between steps; a decoder already running is not interrupted. Errors
// match ErrBadSpec, ErrTooManyPixels, ErrCorrupt, ErrUnsupported or
// ErrTooLarge, or are ctx's, r's or w's.
func (t *Transformer) Image(ctx context.Context, r io.Reader, s Spec, w io.Writer) (mime string, err error) {
	lim := t.lim
	if err := s.Validate(lim); err != nil {
		return "", err
	}
	s = s.withDefaults()
	h, err := readHeader(r, lim)
	if err != nil {
		return "", err
	}
	format := s.Format
	if format == "" || format == Auto {
		format = sourceFormat(h.format)
	}
	sw, sh := h.size()
	p := planResize(sw, sh, s, lim.MaxSide)
	cost := h.decodeCost(false) + p.cost(sw, sh) + encodeCost(format, p.w, p.h, p.op == keep && h.encodesDirectly())
	var out []byte
	err = t.reserve(ctx, h, cost, func() error {
		src, err := h.decode(ctx, lim, false)
		if err != nil {
			return err
		}
		img := p.apply(src.img, background(format))
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err = encodeBounded(lim, format, func(out io.Writer) error {
			return encode(out, img, format, s.Quality)
		})
		return err
	})
	if err != nil {
		return "", err
	}
	if _, err := w.Write(out); err != nil {
		return "", err
	}
	return mimeType(format), nil
}

// Rewrite decodes the image in r and encodes it again at its own size and
// in its own format (WebP becomes JPEG), to pass on only pixels: whatever
// surrounds the image in the file (a polyglot's other half, trailing data)
// and all metadata are dropped. A JPEG's EXIF orientation is applied to the
// pixels, since the tag saying it is dropped. Every frame of an animated
// GIF is kept, with its timing. MaxSide does not apply; the other limits
// and errors are those of Image.
func (t *Transformer) Rewrite(ctx context.Context, r io.Reader, w io.Writer) (mime string, err error) {
	lim := t.lim
	h, err := readHeader(r, lim)
	if err != nil {
		return "", err
	}
	format := sourceFormat(h.format)
	sw, sh := h.size()
	cost := h.decodeCost(true) + encodeCost(format, sw, sh, h.encodesDirectly())
	var out []byte
	err = t.reserve(ctx, h, cost, func() error {
		src, err := h.decode(ctx, lim, true)
		if err != nil {
			return err
		}
		out, err = encodeBounded(lim, format, func(out io.Writer) error {
			if src.anim != nil {
				return gif.EncodeAll(out, src.anim)
			}
			return encode(out, src.img, format, rewriteQuality)
		})
		return err
	})
	if err != nil {
		return "", err
	}
	if _, err := w.Write(out); err != nil {
		return "", err
	}
	return mimeType(format), nil
}

// sourceFormat is the output format for a source kept in its own format.
func sourceFormat(format string) Format {
	switch format {
	case srcPNG:
		return PNG
	case srcGIF:
		return GIF
	}
	return JPEG
}

func mimeType(f Format) string { return "image/" + string(f) }

// background is the padding colour of Contain for format, which is also
// what a transparent image is flattened onto for JPEG.
func background(f Format) color.Color {
	if f == JPEG {
		return color.White
	}
	return color.Transparent
}

// encodeBounded encodes with enc into a buffer bounded by
// lim.MaxOutputBytes.
func encodeBounded(lim Limits, format Format, enc func(io.Writer) error) ([]byte, error) {
	out := &limitBuffer{max: lim.MaxOutputBytes}
	if err := enc(out); err != nil {
		if errors.Is(err, errOutputTooLarge) || out.exceeded {
			return nil, fmt.Errorf("%w: the output is longer than %d bytes", ErrTooLarge, lim.MaxOutputBytes)
		}
		return nil, fmt.Errorf("transform: encoding %s: %w", format, err)
	}
	return out.Bytes(), nil
}

var errOutputTooLarge = errors.New("transform: output limit reached")

// limitBuffer is a bytes.Buffer that refuses to grow past max.
type limitBuffer struct {
	bytes.Buffer
	max      int64
	exceeded bool
}

func (b *limitBuffer) Write(p []byte) (int, error) {
	if int64(b.Len())+int64(len(p)) > b.max {
		b.exceeded = true
		return 0, errOutputTooLarge
	}
	return b.Buffer.Write(p)
}

// A resizing is what Image does to a source's size: keep it, scale to
// w×h, cover w×h (scale and crop the centre), or pad (scale to fw×fh and
// centre that on w×h). It is planned from the source's size alone, so
// that its memory is known before decoding.
type resizing struct {
	op     resizeOp
	w, h   int // the result's size
	fw, fh int // pad: the scaled image's size
}

type resizeOp int

const (
	keep resizeOp = iota
	scaleTo
	cover
	pad
)

// planResize plans s (its defaults filled in) for a sw×sh source, within
// maxSide.
func planResize(sw, sh int, s Spec, maxSide int) resizing {
	w, h := s.Width, s.Height
	switch {
	case w == 0 && h == 0:
		w, h = sw, sh
	case w == 0:
		if s.Fit == Inside && h > sh {
			h = sh
		}
		w = scale(sw, h, sh)
	case h == 0:
		if s.Fit == Inside && w > sw {
			w = sw
		}
		h = scale(sh, w, sw)
	default:
		switch s.Fit {
		case Cover:
			return sized(cover, sw, sh, w, h)
		case Fill:
			return sized(scaleTo, sw, sh, w, h)
		case Contain:
			fw, fh := fitWithin(sw, sh, w, h)
			if fw == w && fh == h {
				return sized(scaleTo, sw, sh, w, h)
			}
			return resizing{op: pad, w: w, h: h, fw: fw, fh: fh}
		case Inside:
			if sw <= w && sh <= h {
				return resizing{op: keep, w: sw, h: sh}
			}
			fw, fh := fitWithin(sw, sh, w, h)
			return sized(scaleTo, sw, sh, fw, fh)
		}
	}
	// One side derived from the other, or the source's own size: keep it
	// within maxSide.
	if w > maxSide || h > maxSide {
		w, h = fitWithin(w, h, maxSide, maxSide)
	}
	return sized(scaleTo, sw, sh, w, h)
}

// sized is op to w×h, or keep when that is the source's size.
func sized(op resizeOp, sw, sh, w, h int) resizing {
	if w == sw && h == sh {
		op = keep
	}
	return resizing{op: op, w: w, h: h}
}

// apply resizes img as planned; bg is pad's colour.
func (p resizing) apply(img image.Image, bg color.Color) image.Image {
	switch p.op {
	case scaleTo:
		return resize(img, img.Bounds(), p.w, p.h)
	case cover:
		return fill(img, p.w, p.h)
	case pad:
		fitted := img
		if b := img.Bounds(); b.Dx() != p.fw || b.Dy() != p.fh {
			fitted = resize(img, b, p.fw, p.fh)
		}
		return imaging.PasteCenter(imaging.New(p.w, p.h, bg), fitted)
	}
	return img
}

// cost is what apply allocates for a sw×sh source: the NRGBA images
// imaging makes on the way, 4 bytes a pixel. It follows fill and
// imaging's Resize, Fill and PasteCenter.
func (p resizing) cost(sw, sh int) int64 {
	switch p.op {
	case scaleTo:
		return resizeCost(sw, sh, p.w, p.h)
	case cover:
		if sw >= 100 && sh >= 100 {
			c := coverCrop(sw, sh, p.w, p.h)
			return resizeCost(c.Dx(), c.Dy(), p.w, p.h)
		}
		// imaging.Fill resizes a small source to cover, then crops it
		// into a copy.
		rw, rh := p.w, scale(sh, p.w, sw)
		if float64(sw)/float64(sh) >= float64(p.w)/float64(p.h) {
			rw, rh = scale(sw, p.h, sh), p.h
		}
		return resizeCost(sw, sh, rw, rh) + nrgbaBytes(p.w, p.h)
	case pad:
		var n int64
		if p.fw != sw || p.fh != sh {
			n = resizeCost(sw, sh, p.fw, p.fh)
		}
		return n + 2*nrgbaBytes(p.w, p.h) // the background, and Paste's copy of it
	}
	return 0
}

// fill is imaging.Fill anchored at the centre, without the copy it makes
// of the crop (as large as the source, for a square): a source of 100
// pixels a side or more is cropped as a sub-image, which shares its
// pixels, and resized from there, as Fill resizes its copy.
func fill(img image.Image, w, h int) image.Image {
	b := img.Bounds()
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok || b.Dx() < 100 || b.Dy() < 100 {
		return imaging.Fill(img, w, h, imaging.Center, filter)
	}
	c := coverCrop(b.Dx(), b.Dy(), w, h).Add(b.Min)
	if shrinkable(img) {
		return resize(img, c, w, h)
	}
	return imaging.Resize(sub.SubImage(c), w, h, filter)
}

// resize resizes the part r of img to w×h: a YCbCr image much larger
// than w×h in two stages (see shrink.go), anything else with imaging.
func resize(img image.Image, r image.Rectangle, w, h int) image.Image {
	if f := shrinkFactor(r.Dx(), r.Dy(), w, h); f > 1 && shrinkable(img) {
		return imaging.Resize(shrinkYCbCr(img.(*image.YCbCr), r, f), w, h, filter)
	}
	if r != img.Bounds() {
		img = img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(r)
	}
	return imaging.Resize(img, w, h, filter)
}

// coverCrop is the centred part of a sw×sh source with the aspect ratio
// of w×h, as imaging.Fill crops it.
func coverCrop(sw, sh, w, h int) image.Rectangle {
	cw, ch := sw, sh
	if float64(sw)/float64(sh) < float64(w)/float64(h) {
		ch = int(math.Max(1, float64(sw)*float64(h)/float64(w)) + 0.5)
	} else {
		cw = int(math.Max(1, float64(sh)*float64(w)/float64(h)) + 0.5)
	}
	x, y := (sw-cw)/2, (sh-ch)/2
	return image.Rect(x, y, x+cw, y+ch).Intersect(image.Rect(0, 0, sw, sh))
}

// resizeCost is what resize allocates from sw×sh to w×h: imaging.Resize's
// result, and the horizontal pass's when both sides change, and, should
// the source be YCbCr, its average over blocks first (which makes the
// horizontal pass smaller; it is counted at full size, since whether the
// decoder gives YCbCr is not known from the plan).
func resizeCost(sw, sh, w, h int) int64 {
	n := nrgbaBytes(w, h)
	if w != sw && h != sh {
		n += nrgbaBytes(w, sh)
	}
	if f := shrinkFactor(sw, sh, w, h); f > 1 {
		n += nrgbaBytes((sw+f-1)/f, (sh+f-1)/f)
	}
	return n
}

func nrgbaBytes(w, h int) int64 { return 4 * int64(w) * int64(h) }

// scale returns n×num/den rounded, at least 1.
func scale(n, num, den int) int {
	return max(1, int(math.Round(float64(n)*float64(num)/float64(den))))
}

// fitWithin returns the largest size with the aspect ratio of w×h that fits
// within bw×bh (larger than w×h if the box is).
func fitWithin(w, h, bw, bh int) (int, int) {
	if int64(w)*int64(bh) > int64(h)*int64(bw) { // wider than the box
		return bw, min(bh, scale(h, bw, w))
	}
	return min(bw, scale(w, bh, h)), bh
}

// encode writes img to w in format.
func encode(w io.Writer, img image.Image, format Format, quality int) error {
	switch format {
	case PNG:
		return png.Encode(w, img)
	case GIF:
		if _, ok := img.(*image.Paletted); ok {
			return gif.Encode(w, img, nil)
		}
		opts := &gif.Options{NumColors: 256}
		if !opaque(img) {
			opts.Quantizer = transparentPalette{}
		}
		return gif.Encode(w, img, opts)
	case WebP:
		return encodeWebP(w, img, quality)
	case AVIF:
		return encodeAVIF(w, img, quality)
	default:
		if !opaque(img) {
			img = flatten(img, color.White)
		}
		return jpeg.Encode(w, img, &jpeg.Options{Quality: quality})
	}
}

// opaque reports whether img has no transparent pixel.
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// flatten draws img over bg: JPEG has no alpha, and the colour under a
// transparent pixel is undefined.
func flatten(img image.Image, bg color.Color) image.Image {
	m := image.NewRGBA(img.Bounds())
	draw.Draw(m, m.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	draw.Draw(m, m.Bounds(), img, img.Bounds().Min, draw.Over)
	return m
}

// transparentPalette quantizes to the web-safe colours plus a transparent
// one: the standard library's default (Plan 9) has no transparent entry.
type transparentPalette struct{}

func (transparentPalette) Quantize(p color.Palette, _ image.Image) color.Palette {
	p = append(p, palette.WebSafe...)
	return append(p, color.Transparent)
}
