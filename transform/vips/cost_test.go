//go:build cgo

package vips

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/carcosa-dev/carcosa/transform"
)

// A thumbnail of a 12-megapixel JPEG reserves what libvips holds at 1/8
// scale, not the full image the pure-Go engine decodes.
func TestJPEGThumbnailCostIsShrunk(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 4000, 3000)), nil); err != nil {
		t.Fatal(err)
	}
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := transform.ReadHeader(&b, e.Limits())
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Plan(transform.Spec{Width: 256, Height: 256}, e.Limits())
	if err != nil {
		t.Fatal(err)
	}
	// The source counted at a byte a pixel (12 MB), 500×375 twice, the
	// output twice, the overhead.
	want := int64(12_000_000 + 2*4*500*375 + 2*4*256*256 + overhead)
	if got := e.imageCost(h, p); got != want {
		t.Errorf("imageCost = %d, want %d", got, want)
	}
}
