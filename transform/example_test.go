package transform_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/url"

	"github.com/carcosa-dev/carcosa/transform"
)

func Example() {
	// A query such as a transform URL carries, and the signature the
	// application issued with it.
	secret := []byte("a secret of at least 32 bytes, random in production")
	q, _ := url.ParseQuery("w=64&h=64&fit=cover&fm=jpeg")
	spec, err := transform.ParseQuery(q, transform.Limits{})
	if err != nil {
		fmt.Println(err) // ErrBadSpec: answer 400
		return
	}
	sig := transform.Sign(secret, "photos/cat.png", spec)
	fmt.Println(transform.Verify(secret, "photos/cat.png", spec, sig))
	fmt.Println(spec.Canonical())

	var src bytes.Buffer
	png.Encode(&src, image.NewNRGBA(image.Rect(0, 0, 200, 100)))
	var out bytes.Buffer
	mime, err := transform.Image(context.Background(), &src, spec, transform.Limits{}, &out)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg, _, _ := image.DecodeConfig(&out)
	fmt.Println(mime, cfg.Width, cfg.Height)
	// Output:
	// true
	// w64_h64_cover_jpeg_q82
	// image/jpeg 64 64
}

func ExampleTransformer() {
	// One Transformer for the program: however many transforms run at
	// once, their decoded images share 64 MiB, and those that do not fit
	// wait their turn.
	tf := transform.New(transform.Limits{MaxMemory: 64 << 20})

	var src bytes.Buffer
	png.Encode(&src, image.NewNRGBA(image.Rect(0, 0, 300, 200)))
	var out bytes.Buffer
	mime, err := tf.Image(context.Background(), &src, transform.Spec{Width: 30}, &out)
	if err != nil {
		fmt.Println(err) // ErrTooManyPixels: more than 64 MiB for this one image
		return
	}
	cfg, _, _ := image.DecodeConfig(&out)
	fmt.Println(mime, cfg.Width, cfg.Height)
	// Output:
	// image/png 30 20
}

func ExampleNegotiate() {
	// fm=auto in a signed URL: the signature covers "auto"; each request
	// resolves it from its Accept header before the transform, and the
	// cache key is the resolved spec's. The response says "Vary: Accept".
	q, _ := url.ParseQuery("w=64&fm=auto")
	spec, _ := transform.ParseQuery(q, transform.Limits{})
	fmt.Println(spec.Canonical())
	for _, accept := range []string{
		"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", // a current browser
		"image/webp,*/*", // one without AVIF
		"*/*",            // curl
	} {
		s := transform.Negotiate(spec, accept)
		fmt.Printf("%q %s\n", s.Format, s.Canonical())
	}
	// Output:
	// w64_h0_cover_accept_q82
	// "avif" w64_h0_cover_avif_q82
	// "webp" w64_h0_cover_webp_q82
	// "" w64_h0_cover_auto_q82
}
