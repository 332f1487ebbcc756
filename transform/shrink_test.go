package transform

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/disintegration/imaging"
)

// The two-stage resize of a YCbCr image gives what a resize from the full
// image gives, within a few levels (the source's blue channel is a fine
// XOR pattern, which the two filters alias differently).
func TestStagedResizeMatchesDirect(t *testing.T) {
	t.Parallel()
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422} {
		src, err := jpeg.Decode(bytes.NewReader(encodeJPEG(t, gradient(1001, 751))))
		if err != nil {
			t.Fatal(err)
		}
		m := src.(*image.YCbCr)
		if ratio != m.SubsampleRatio {
			// Re-sample the planes into the ratio under test.
			n := image.NewYCbCr(m.Rect, ratio)
			for y := range m.Rect.Dy() {
				for x := range m.Rect.Dx() {
					c := m.YCbCrAt(x, y)
					n.Y[n.YOffset(x, y)] = c.Y
					n.Cb[n.COffset(x, y)], n.Cr[n.COffset(x, y)] = c.Cb, c.Cr
				}
			}
			m = n
		}
		for _, p := range []resizing{
			{op: cover, w: 100, h: 100},
			{op: scaleTo, w: 150, h: 50},
			{op: pad, w: 120, h: 120, fw: 120, fh: 90},
		} {
			got := imaging.Clone(p.apply(m, background(PNG)))
			var want *image.NRGBA
			switch p.op {
			case cover:
				want = imaging.Fill(m, p.w, p.h, imaging.Center, filter)
			case scaleTo:
				want = imaging.Resize(m, p.w, p.h, filter)
			case pad:
				want = imaging.PasteCenter(imaging.New(p.w, p.h, background(PNG)), imaging.Resize(m, p.fw, p.fh, filter))
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("%v %+v: %v, want %v", ratio, p, got.Bounds(), want.Bounds())
			}
			var diff int64
			for i := range got.Pix {
				d := int64(got.Pix[i]) - int64(want.Pix[i])
				diff += max(d, -d)
			}
			mean := float64(diff) / float64(len(got.Pix))
			t.Logf("%v %+v: %.2f levels", ratio, p, mean)
			if mean > 3 {
				t.Errorf("%v %+v: the staged resize differs by %.2f levels on average", ratio, p, mean)
			}
		}
	}
}

func TestShrinkFactor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ sw, sh, w, h, want int }{
		{3000, 3000, 256, 256, 4},
		{4000, 3000, 256, 256, 4},
		{1000, 1000, 256, 256, 1},
		{1024, 1024, 256, 256, 2},
		{100000, 100000, 10, 10, 16},
		{4000, 3000, 4000, 10, 1},
	} {
		if got := shrinkFactor(c.sw, c.sh, c.w, c.h); got != c.want {
			t.Errorf("shrinkFactor(%d, %d, %d, %d) = %d, want %d", c.sw, c.sh, c.w, c.h, got, c.want)
		}
	}
}
