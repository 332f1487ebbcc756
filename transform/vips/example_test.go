//go:build cgo

package vips_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"

	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/transform/vips"
)

// A 256×256 cover thumbnail with libvips; a Router takes the engine as
// Config.ImageEngine.
func Example() {
	eng, err := vips.New(&vips.Options{Limits: transform.Limits{MaxPixels: 50_000_000}})
	if err != nil {
		log.Fatal(err)
	}
	var src bytes.Buffer
	m := image.NewNRGBA(image.Rect(0, 0, 1200, 800))
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	m.Set(0, 0, color.White)
	if err := png.Encode(&src, m); err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	mime, err := eng.Image(context.Background(), &src, transform.Spec{Width: 256, Height: 256, Format: transform.JPEG}, &out)
	if err != nil {
		log.Fatal(err)
	}
	cfg, _, err := image.DecodeConfig(&out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(mime, cfg.Width, cfg.Height)
	// Output: image/jpeg 256 256
}
