package transform

import (
	"image"
	"image/color"
	"runtime"
	"sync"
)

// A thumbnail of a photo is made in two stages, as libvips makes it: the
// decoded YCbCr planes are first averaged over blocks of f×f pixels (f a
// power of two), leaving at least twice the output's size, then resized
// with the filter from there. Averaging reads each source pixel once,
// with additions only, and converts only the result to RGB; resizing
// from the full image would convert every source pixel and weigh it into
// a few dozen taps. Twice the output keeps the filter's last step as
// sharp as from the full image.

// shrinkFactor is the block size for a sw×sh source (the part used)
// resized to w×h: the largest power of two, at most 16, that leaves at
// least twice w×h; 1 when none does.
func shrinkFactor(sw, sh, w, h int) int {
	f := 1
	for f < 16 && sw/(2*f) >= 2*w && sh/(2*f) >= 2*h {
		f *= 2
	}
	return f
}

// shrinkable reports whether shrinkYCbCr takes img.
func shrinkable(img image.Image) bool {
	m, ok := img.(*image.YCbCr)
	if !ok {
		return false
	}
	_, _, ok = chromaShift(m.SubsampleRatio)
	return ok
}

// chromaShift returns the shifts from luma to chroma coordinates of a
// subsample ratio.
func chromaShift(r image.YCbCrSubsampleRatio) (hs, vs uint, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 0, 0, true
	case image.YCbCrSubsampleRatio422:
		return 1, 0, true
	case image.YCbCrSubsampleRatio420:
		return 1, 1, true
	case image.YCbCrSubsampleRatio440:
		return 0, 1, true
	case image.YCbCrSubsampleRatio411:
		return 2, 0, true
	case image.YCbCrSubsampleRatio410:
		return 2, 1, true
	}
	return 0, 0, false
}

// shrinkYCbCr averages the part r of m over blocks of f×f pixels into an
// opaque NRGBA image of ⌈r.Dx()/f⌉×⌈r.Dy()/f⌉ (a partial block at an
// edge averages what it has). Rows are shared among GOMAXPROCS
// goroutines, as imaging shares a resize's.
func shrinkYCbCr(m *image.YCbCr, r image.Rectangle, f int) *image.NRGBA {
	hs, vs, _ := chromaShift(m.SubsampleRatio)
	ow, oh := (r.Dx()+f-1)/f, (r.Dy()+f-1)/f
	dst := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	rows := func(y0, y1 int) {
		ys := make([]uint32, ow)
		cbs := make([]uint32, ow)
		crs := make([]uint32, ow)
		ns := make([]uint32, ow)
		for oy := y0; oy < y1; oy++ {
			clear(ys)
			clear(cbs)
			clear(crs)
			clear(ns)
			sy0, sy1 := r.Min.Y+oy*f, min(r.Min.Y+(oy+1)*f, r.Max.Y)
			for sy := sy0; sy < sy1; sy++ {
				yrow := m.Y[(sy-m.Rect.Min.Y)*m.YStride:]
				cy := (sy>>vs - m.Rect.Min.Y>>vs) * m.CStride
				cbrow, crrow := m.Cb[cy:], m.Cr[cy:]
				base := m.Rect.Min.X >> hs
				for ox := range ow {
					sx0, sx1 := r.Min.X+ox*f, min(r.Min.X+(ox+1)*f, r.Max.X)
					var sum, cb, cr uint32
					for sx := sx0; sx < sx1; sx++ {
						sum += uint32(yrow[sx-m.Rect.Min.X])
						ci := sx>>hs - base
						cb += uint32(cbrow[ci])
						cr += uint32(crrow[ci])
					}
					ys[ox] += sum
					cbs[ox] += cb
					crs[ox] += cr
					ns[ox] += uint32(sx1 - sx0)
				}
			}
			pix := dst.Pix[oy*dst.Stride:]
			for ox := range ow {
				n := ns[ox]
				rr, gg, bb := color.YCbCrToRGB(uint8((ys[ox]+n/2)/n), uint8((cbs[ox]+n/2)/n), uint8((crs[ox]+n/2)/n))
				pix[4*ox], pix[4*ox+1], pix[4*ox+2], pix[4*ox+3] = rr, gg, bb, 255
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), oh)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { rows(i*oh/workers, (i+1)*oh/workers) })
	}
	wg.Wait()
	return dst
}
