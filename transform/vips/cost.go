//go:build cgo

package vips

import "github.com/carcosa-dev/carcosa/transform"

// The memory a call reserves is an estimate, from the header, of what
// libvips allocates for it, in the same spirit as the pure-Go engine's:
// the pixels held at the scale libvips decodes at, the resize's
// intermediate, the output image, and the source, which libvips reads from
// one buffer. libvips works in strips, so that for most images it holds
// less than this; the estimate counts the decoded image whole, once, so
// that an image the pure-Go engine takes (which holds it whole) fits in
// the same budget here too.

// overhead is what one libvips call holds beside the pixels: its strip
// buffers and the encoder's state.
const overhead = 2 << 20

// sourceBytesPerPixel is how much of the source is counted, per stored
// pixel: a camera's JPEG takes a quarter to a half of a byte a pixel, a
// PNG of a photo two to three. A source longer than that, up to
// MaxInputBytes, is held beyond the estimate.
const sourceBytesPerPixel = 1

// imageCost is the estimate for Image of the source h heads, planned as p.
func (e *Engine) imageCost(h transform.Header, p transform.Plan) int64 {
	px := int64(h.Width) * int64(h.Height)
	decoded := 4 * px
	if h.MIME == "image/jpeg" {
		// libjpeg scales by 1/2, 1/4 or 1/8 while decoding, as far as
		// the result stays larger than the thumbnail.
		tw, th := p.Width, p.Height
		if p.Fit == transform.Contain {
			tw, th = p.ScaledWidth, p.ScaledHeight
		}
		f := int64(1)
		for f < 8 && int64(h.Width)/(2*f) >= int64(tw) && int64(h.Height)/(2*f) >= int64(th) {
			f *= 2
		}
		// The shrunk image, and the resize's intermediate.
		decoded = 2 * 4 * ((int64(h.Width) + f - 1) / f) * ((int64(h.Height) + f - 1) / f)
	}
	out := 4 * int64(p.Width) * int64(p.Height)
	return e.source(px) + decoded + 2*out + overhead
}

// rewriteCost is the estimate for Rewrite of the source h heads: the
// image decoded whole.
func (e *Engine) rewriteCost(h transform.Header) int64 {
	px := int64(h.Width) * int64(h.Height)
	return e.source(px) + 4*px + overhead
}

func (e *Engine) source(px int64) int64 {
	return min(e.lim.MaxInputBytes, sourceBytesPerPixel*px)
}
