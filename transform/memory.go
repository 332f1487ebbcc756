package transform

import (
	"context"
	"encoding/binary"
	"fmt"
	"image/color"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// A Transformer makes transforms within its Limits, MaxMemory bounding
// the decoding memory of all its calls together: each call reserves its
// estimated memory before decoding and waits while the budget is spent.
// It is safe for concurrent use.
type Transformer struct {
	lim     Limits
	sem     *semaphore.Weighted
	held    atomic.Int64 // bytes reserved now
	waiting atomic.Int64 // calls waiting for their reservation
	peak    atomic.Int64 // the most ever reserved at once, for tests
}

// New returns a Transformer for lim, a zero or negative field taking its
// default.
func New(lim Limits) *Transformer {
	lim = lim.withDefaults()
	return &Transformer{lim: lim, sem: semaphore.NewWeighted(lim.MaxMemory)}
}

// reserve runs fn with n bytes of t's budget reserved, waiting for them
// until ctx is done. A transform that needs more than the whole budget
// would wait for ever; it is refused with ErrTooManyPixels.
func (t *Transformer) reserve(ctx context.Context, h *header, n int64, fn func() error) error {
	if n > t.lim.MaxMemory {
		what := "the image"
		if h != nil {
			what = fmt.Sprintf("%d×%d", h.cfg.Width, h.cfg.Height)
		}
		return fmt.Errorf("%w: %s needs about %d MiB to transform, over the memory budget of %d MiB",
			ErrTooManyPixels, what, mib(n), mib(t.lim.MaxMemory))
	}
	t.waiting.Add(1)
	err := t.sem.Acquire(ctx, n)
	t.waiting.Add(-1)
	if err != nil {
		return fmt.Errorf("transform: waiting for memory to decode: %w", err)
	}
	held := t.held.Add(n)
	for p := t.peak.Load(); held > p && !t.peak.CompareAndSwap(p, held); p = t.peak.Load() {
	}
	defer func() {
		t.held.Add(-n)
		// What a large transform leaves is garbage that the collector, on
		// its own schedule, would still hold when the next transform,
		// waiting for this memory, allocates its own: the heap would grow
		// to twice the budget or more. When someone waits, collect first.
		if t.waiting.Load() > 0 && n >= t.lim.MaxMemory/4 {
			runtime.GC()
		}
		t.sem.Release(n)
	}()
	return fn()
}

// mib is n bytes in MiB, rounded up.
func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// decodeCost estimates the bytes that decoding the image h heads
// allocates: its pixels in the decoder's own form, what the decoder holds
// beside them, and the copies decode makes. It reads the header's colour
// type, subsampling, progressive and interlace flags rather than assume
// the common case; where the header does not say (a PNG's tRNS chunk,
// whether a GIF's first frame fills its screen, a WebP's image chunk
// beyond the first 4 KiB) it assumes the larger. Small buffers (rows,
// Huffman and LZW tables, zlib windows) are left out.
func (h *header) decodeCost(allFrames bool) int64 {
	w, ht := int64(h.cfg.Width), int64(h.cfg.Height)
	px := w * ht
	var n int64
	switch h.format {
	case srcJPEG:
		n = parseJPEGFrame(h.raw).cost(w, ht)
	case srcPNG:
		n = pngCost(h.raw, px)
	case srcGIF:
		// Paletted frames, 1 byte a pixel, each within the logical screen;
		// the first frame is put on the screen as an NRGBA copy; the file
		// was read whole to count its frames.
		frames := int64(1)
		if allFrames {
			frames = h.frames
		}
		n = frames*px + 4*px + h.buffered
	case srcWebP:
		// Lossless: ARGB words, then a colour-indexing transform's copy.
		lossless := 8 * px
		// Lossy: 4:2:0 YCbCr in 16×16 macroblocks, and an alpha plane
		// decoded as a lossless image of its own (8 bytes a pixel) and
		// extracted (1).
		lossy := (w + 15) / 16 * 16 * ((ht + 15) / 16 * 16) * 3 / 2
		if h.cfg.ColorModel == color.NYCbCrAModel {
			lossy += 10 * px
		}
		switch h.webp {
		case "VP8L":
			n = lossless
		case "VP8 ":
			n = lossy
		default:
			n = max(lossless, lossy)
		}
	}
	if h.orientation != 1 {
		n += 4 * px // turned upright into an NRGBA copy
	}
	return n
}

// encodeCost is what encoding a w×h image to format allocates beside the
// output. image/jpeg reads an image other than YCbCr, grey or RGBA pixel
// by pixel through At, which allocates each colour, and one that may be
// transparent is first flattened into an RGBA copy: 4 bytes a pixel
// either way, unless the decoder's own image is encoded (direct). image/png
// holds a deflate compressor's state, about 1 MiB; image/gif a paletted
// copy; WebP and AVIF see encodeModernCost.
func encodeCost(format Format, w, h int, direct bool) int64 {
	px := int64(w) * int64(h)
	switch format {
	case JPEG:
		if direct {
			return 0
		}
		return 4 * px
	case PNG:
		return 1 << 20
	case WebP, AVIF:
		return encodeModernCost(format, w, h)
	}
	return px
}

// encodesDirectly reports whether image/jpeg encodes the image h heads as
// it is decoded, upright and unscaled, without a copy: it is YCbCr, grey
// or RGB.
func (h *header) encodesDirectly() bool {
	if h.orientation != 1 {
		return false
	}
	switch h.format {
	case srcJPEG:
		return len(parseJPEGFrame(h.raw).comps) != 4
	case srcWebP:
		return h.webp == "VP8 " && h.cfg.ColorModel == color.YCbCrModel
	}
	return false
}

// jpegFrame is what a JPEG's frame header says of its decoding.
type jpegFrame struct {
	comps       [][2]int64 // each component's sampling factors, h and v
	progressive bool
	rgb         bool // components named R, G, B, or an Adobe segment saying RGB
}

// parseJPEGFrame reads the frame header of the JPEG whose start b holds.
// Without one it assumes the most costly: 3 full components, progressive,
// RGB.
func parseJPEGFrame(b []byte) jpegFrame {
	var f jpegFrame
	jpegSegments(b, func(marker byte, p []byte) bool {
		switch marker {
		case 0xc0, 0xc1, 0xc2: // baseline, extended, progressive
			if len(p) < 6 || p[5] == 0 || len(p) < 6+3*int(p[5]) {
				return false
			}
			nc := int(p[5])
			f.progressive = marker == 0xc2
			var ids []byte
			for i := range nc {
				ids = append(ids, p[6+3*i])
				hv := p[7+3*i]
				f.comps = append(f.comps, [2]int64{max(1, int64(hv>>4)), max(1, int64(hv&0xf))})
			}
			if nc == 1 {
				f.comps[0] = [2]int64{1, 1} // image/jpeg ignores a lone component's factors
			}
			f.rgb = f.rgb || string(ids) == "RGB"
			return false
		case 0xee: // APP14 Adobe: transform 0 means RGB
			if len(p) >= 12 && string(p[:5]) == "Adobe" && p[11] == 0 {
				f.rgb = true
			}
		}
		return true
	})
	if len(f.comps) == 0 {
		return jpegFrame{comps: [][2]int64{{1, 1}, {1, 1}, {1, 1}}, progressive: true, rgb: true}
	}
	return f
}

// cost is what image/jpeg allocates to decode a w×h JPEG: the components'
// planes in whole MCUs, 4 bytes a sample more for a progressive JPEG's
// coefficients, and an RGBA or CMYK image for an RGB or 4-component one.
func (f jpegFrame) cost(w, h int64) int64 {
	hmax, vmax := f.comps[0][0], f.comps[0][1]
	mxx, myy := (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax)
	var planes int64
	for _, c := range f.comps {
		planes += 64 * c[0] * c[1] * mxx * myy
	}
	n := planes
	if f.progressive {
		n += 4 * planes
	}
	if len(f.comps) == 4 || len(f.comps) == 3 && f.rgb {
		n += 4 * w * h
	}
	return n
}

// pngCost is what image/png allocates to decode a PNG of px pixels whose
// start b holds: 1 byte a pixel for a palette, else 4 (8 at 16 bits), as
// a grey or RGB image with a tRNS chunk, which follows the header, is
// decoded to NRGBA; twice that when interlaced, for the passes.
func pngCost(b []byte, px int64) int64 {
	if len(b) < 29 {
		return 8 * 2 * px
	}
	depth, ctype, interlaced := b[24], b[25], b[28] != 0
	n := 4 * px
	switch {
	case ctype == 3:
		n = px
	case depth == 16:
		n = 8 * px
	}
	if interlaced {
		n *= 2
	}
	return n
}

// webpImage returns the fourcc of a WebP's image chunk, "VP8 " (lossy)
// or "VP8L" (lossless), or "" if it is not known: raw is what
// DecodeConfig read, which for an extended file (VP8X) ends before the
// image chunk, and next what follows it, as far as it is buffered.
func webpImage(raw, next []byte) string {
	if len(raw) < 16 {
		return ""
	}
	if fourcc := string(raw[12:16]); fourcc != "VP8X" {
		return fourcc
	}
	for len(next) >= 8 {
		fourcc := string(next[:4])
		if fourcc == "VP8 " || fourcc == "VP8L" {
			return fourcc
		}
		size := int64(binary.LittleEndian.Uint32(next[4:8]))
		size += size & 1
		if size > int64(len(next)-8) {
			break
		}
		next = next[8+size:]
	}
	return ""
}
