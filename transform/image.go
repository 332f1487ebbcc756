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
// says and writes it to w, returning the output's MIME type.
//
// Before any pixel is decoded, the header is checked against
// lim.MaxPixels (a GIF's frames counted too), so a decompression bomb costs
// only its header. A JPEG's EXIF orientation is applied; all metadata is
// dropped, the image being re-encoded. The output of an animated GIF is
// its first frame. s.Format "" keeps the source's format when it is JPEG,
// PNG or GIF and gives JPEG otherwise.
//
// The output is encoded in memory (at most lim.MaxOutputBytes) and written
// to w only when complete: on error nothing has been written. ctx is
// checked between steps; a decoder already running is not interrupted.
// Errors match ErrBadSpec, ErrTooManyPixels, ErrCorrupt, ErrUnsupported or
// ErrTooLarge, or are ctx's, r's or w's.
func Image(ctx context.Context, r io.Reader, s Spec, lim Limits, w io.Writer) (mime string, err error) {
	lim = lim.withDefaults()
	if err := s.Validate(lim); err != nil {
		return "", err
	}
	s = s.withDefaults()
	src, err := decode(ctx, r, lim, false)
	if err != nil {
		return "", err
	}
	format := s.Format
	if format == "" {
		format = sourceFormat(src.format)
	}
	img := resize(src.img, s, lim.MaxSide, background(format))
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return write(w, lim, format, func(out io.Writer) error {
		return encode(out, img, format, s.Quality)
	})
}

// Rewrite decodes the image in r and encodes it again at its own size and
// in its own format (WebP becomes JPEG), to pass on only pixels: whatever
// surrounds the image in the file (a polyglot's other half, trailing data)
// and all metadata are dropped. A JPEG's EXIF orientation is applied to the
// pixels, since the tag saying it is dropped. Every frame of an animated
// GIF is kept, with its timing. lim.MaxSide does not apply; the other
// limits and errors are those of Image.
func Rewrite(ctx context.Context, r io.Reader, lim Limits, w io.Writer) (mime string, err error) {
	lim = lim.withDefaults()
	src, err := decode(ctx, r, lim, true)
	if err != nil {
		return "", err
	}
	format := sourceFormat(src.format)
	return write(w, lim, format, func(out io.Writer) error {
		if src.anim != nil {
			return gif.EncodeAll(out, src.anim)
		}
		return encode(out, src.img, format, rewriteQuality)
	})
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

// write encodes with enc into a buffer bounded by lim.MaxOutputBytes, then
// copies it to w.
func write(w io.Writer, lim Limits, format Format, enc func(io.Writer) error) (string, error) {
	out := &limitBuffer{max: lim.MaxOutputBytes}
	if err := enc(out); err != nil {
		if errors.Is(err, errOutputTooLarge) || out.exceeded {
			return "", fmt.Errorf("%w: the output is longer than %d bytes", ErrTooLarge, lim.MaxOutputBytes)
		}
		return "", fmt.Errorf("transform: encoding %s: %w", format, err)
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return "", err
	}
	return mimeType(format), nil
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

// resize applies s (its defaults filled in) to img, within maxSide.
func resize(img image.Image, s Spec, maxSide int, bg color.Color) image.Image {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
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
			if w == sw && h == sh {
				return img
			}
			return fill(img, w, h)
		case Fill:
			return resizeTo(img, w, h)
		case Contain:
			fw, fh := fitWithin(sw, sh, w, h)
			fitted := resizeTo(img, fw, fh)
			if fw == w && fh == h {
				return fitted
			}
			return imaging.PasteCenter(imaging.New(w, h, bg), fitted)
		case Inside:
			if sw <= w && sh <= h {
				return img
			}
			fw, fh := fitWithin(sw, sh, w, h)
			return resizeTo(img, fw, fh)
		}
	}
	// One side derived from the other, or the source's own size: keep it
	// within maxSide.
	if w > maxSide || h > maxSide {
		w, h = fitWithin(w, h, maxSide, maxSide)
	}
	return resizeTo(img, w, h)
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
	return imaging.Resize(sub.SubImage(coverCrop(b.Dx(), b.Dy(), w, h).Add(b.Min)), w, h, filter)
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

// resizeTo returns img at w×h, itself if it is that size already.
func resizeTo(img image.Image, w, h int) image.Image {
	if b := img.Bounds(); b.Dx() == w && b.Dy() == h {
		return img
	}
	return imaging.Resize(img, w, h, filter)
}

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
