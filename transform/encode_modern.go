package transform

import (
	"image"
	"io"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"
)

// WebP and AVIF are encoded by libwebp and libavif (with libaom) compiled
// to WebAssembly and run by wazero, in pure Go: no cgo. Each call
// instantiates the module afresh, with a linear memory of its own that
// wazero allocates on the Go heap and that is garbage once the call
// returns; the compiled module is kept for the life of the process, and
// compiling it costs the first call of each format a second or more. The
// packages use a system libwebp or libavif instead when one can be loaded
// (dlopen through purego, still without cgo, but linking the binary
// dynamically against libc); building with the tag nodynamic keeps them
// to WebAssembly and the binary static. An encoder that has begun does
// not stop for a context.

// encodeWebP writes img as lossy WebP. Quality goes to libwebp as it is:
// its scale is meant to be read like libjpeg's, so the same q serves both
// (carcosa-bench -encode measures the sizes). Method 4 is libwebp's
// default balance of speed and size. Transparency is kept.
func encodeWebP(w io.Writer, img image.Image, quality int) error {
	return webp.Encode(w, img, webp.Options{Quality: quality, Method: webp.DefaultMethod})
}

// encodeAVIF writes img as lossy AVIF, 4:2:0, at libavif's fastest speed
// (10), as an on-the-fly transform must answer soon: on a noisy 256×256
// thumbnail, speed 6 saved 12% of the bytes for 1.8 times the time (55 to
// 99 ms, WebAssembly, one 2-core machine), speed 8 saved nothing.
// Transparency is kept.
func encodeAVIF(w io.Writer, img image.Image, quality int) error {
	q := avifQuality(quality)
	return avif.Encode(w, img, avif.Options{
		Quality: q, QualityAlpha: q, Speed: 10, ChromaSubsampling: image.YCbCrSubsampleRatio420,
	})
}

// avifQuality maps a Spec's quality to libavif's. AVIF holds up better
// than JPEG at the same number, so the scale is bent: DefaultQuality (82)
// becomes 60, libavif's own default; 100 stays 100 (the least loss
// libavif has); the rest follows linearly on either side.
func avifQuality(q int) int {
	if q <= DefaultQuality {
		return max(1, q*60/DefaultQuality)
	}
	return 60 + (q-DefaultQuality)*40/(100-DefaultQuality)
}

// encodeModernCost is what encoding a w×h image to WebP or AVIF allocates
// beside the output, as TestEncodeModernCost measures it (all that the
// call allocates, as the other estimates count). The module's linear
// memory holds a copy of the RGBA input, the encoder's YUV planes and its
// working state; it grows as the encoder asks, each growth a new slice
// and a copy, so that what is allocated adds up to about twice what is
// finally used. The image is first copied into NRGBA (WebP) or RGBA
// (AVIF) unless it is one already. Measured with the WebAssembly
// encoders: WebP 27 to 41 bytes a pixel from 0.2 to 3 MP, and 0.4 MiB
// fixed; AVIF (libaom, whose look-ahead and analysis buffers are large)
// 110 to 150 bytes a pixel, 12 MiB fixed, and a few KiB a row or column
// more, which shows in a thin strip. The estimate rounds up to 40 bytes a
// pixel and 4 MiB, and 160 bytes a pixel, 4 KiB a row and a column and 16
// MiB: with the default budget of 256 MiB, an AVIF output is limited to
// about 1.4 MP, enough for thumbnails and previews, and a larger one is
// refused with ErrTooManyPixels before anything is decoded. A system
// library, where one is loaded, allocates less, outside the Go heap.
func encodeModernCost(format Format, w, h int) int64 {
	px := int64(w) * int64(h)
	if format == AVIF {
		return 160*px + 4096*int64(w+h) + 16<<20
	}
	return 40*px + 4<<20
}
