package transform

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"
	xwebp "golang.org/x/image/webp"
)

// avifBrand returns the major brand of the ISO BMFF file b, which an AVIF
// file opens with: a box of type ftyp.
func avifBrand(b []byte) string {
	if len(b) < 12 || string(b[4:8]) != "ftyp" || binary.BigEndian.Uint32(b[:4]) < 12 {
		return ""
	}
	return string(b[8:12])
}

func TestImageWebP(t *testing.T) {
	t.Parallel()
	alphaWebP, err := os.ReadFile("testdata/alpha.webp")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  []byte
		spec Spec
		w, h int
	}{
		{"from PNG", encodePNG(t, gradient(400, 300)), Spec{Width: 64, Format: WebP}, 64, 48},
		{"from JPEG, kept size", encodeJPEG(t, gradient(120, 80)), Spec{Format: WebP, Quality: 50}, 120, 80},
		{"from WebP", alphaWebP, Spec{Width: 40, Height: 40, Fit: Contain, Format: WebP}, 40, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			mime, err := Image(context.Background(), bytes.NewReader(tt.src), tt.spec, Limits{}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if mime != "image/webp" {
				t.Errorf("MIME type %q, want image/webp", mime)
			}
			img, err := xwebp.Decode(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatalf("the output does not decode as WebP: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("%+v gives %d×%d, want %d×%d", tt.spec, b.Dx(), b.Dy(), tt.w, tt.h)
			}
		})
	}
}

func TestWebPKeepsTransparency(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(400, 100))
	// The 100×25 image sits in the middle of 100×100: the top row is padding.
	var out bytes.Buffer
	if _, err := Image(context.Background(), bytes.NewReader(src), Spec{Width: 100, Height: 100, Fit: Contain, Format: WebP}, Limits{}, &out); err != nil {
		t.Fatal(err)
	}
	img, err := xwebp.Decode(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, a := img.At(50, 2).RGBA(); a != 0 {
		t.Errorf("WebP padding has alpha %d, want transparent", a)
	}
	if _, _, _, a := img.At(50, 50).RGBA(); a != 0xffff {
		t.Errorf("the image has alpha %d, want opaque", a)
	}
}

func TestImageAVIF(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	src := encodeJPEG(t, gradient(400, 300))
	mime, err := Image(context.Background(), bytes.NewReader(src), Spec{Width: 64, Height: 64, Format: AVIF}, Limits{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if mime != "image/avif" {
		t.Errorf("MIME type %q, want image/avif", mime)
	}
	if brand := avifBrand(out.Bytes()); brand != "avif" {
		t.Fatalf("the output's ftyp brand is %q, want avif", brand)
	}
	img, err := avif.Decode(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("the output does not decode as AVIF: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Errorf("the output is %d×%d, want 64×64", b.Dx(), b.Dy())
	}
	// The centre of the gradient, within what lossy coding changes.
	want := color.NRGBAModel.Convert(gradient(400, 300).At(200, 150)).(color.NRGBA)
	got := color.NRGBAModel.Convert(img.At(32, 32)).(color.NRGBA)
	if d := max(absDiff(got.R, want.R), absDiff(got.G, want.G)); d > 24 {
		t.Errorf("the centre is %v, want about %v", got, want)
	}
}

func absDiff(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }

func TestQualityChangesModernOutput(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(300, 300))
	for _, f := range []Format{WebP, AVIF} {
		size := func(q int) int {
			var out bytes.Buffer
			if _, err := Image(context.Background(), bytes.NewReader(src), Spec{Width: 200, Format: f, Quality: q}, Limits{}, &out); err != nil {
				t.Fatal(err)
			}
			return out.Len()
		}
		if lo, hi := size(20), size(95); lo >= hi {
			t.Errorf("%s: q=20 gives %d bytes, q=95 %d; want fewer", f, lo, hi)
		}
	}
}

// TestModernConcurrent: each call instantiates the encoder's module
// afresh, so calls at the same time do not share its memory.
func TestModernConcurrent(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(200, 150))
	var wg sync.WaitGroup
	for i := range 6 {
		f := []Format{WebP, AVIF}[i%2]
		wg.Go(func() {
			var out bytes.Buffer
			if _, err := Image(context.Background(), bytes.NewReader(src), Spec{Width: 40 + i, Format: f}, Limits{}, &out); err != nil {
				t.Errorf("%s: %v", f, err)
				return
			}
			cfg, _, err := image.DecodeConfig(&out)
			if err != nil || cfg.Width != 40+i {
				t.Errorf("%s: %+v, %v; want %d wide", f, cfg, err, 40+i)
			}
		})
	}
	wg.Wait()
}

func TestAVIFQuality(t *testing.T) {
	t.Parallel()
	for q, want := range map[int]int{1: 1, 41: 30, DefaultQuality: 60, 91: 80, 100: 100} {
		if got := avifQuality(q); got != want {
			t.Errorf("avifQuality(%d) = %d, want %d", q, got, want)
		}
	}
}

func TestModernOutputWithinLimits(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(300, 300))
	for _, f := range []Format{WebP, AVIF} {
		var out bytes.Buffer
		_, err := Image(context.Background(), bytes.NewReader(src), Spec{Format: f, Quality: 100}, Limits{MaxOutputBytes: 100}, &out)
		if !errors.Is(err, ErrTooLarge) || out.Len() != 0 {
			t.Errorf("%s over MaxOutputBytes: %v, %d bytes written; want ErrTooLarge and none", f, err, out.Len())
		}
		// Refused before decoding when the encoder alone is over the budget.
		_, err = Image(context.Background(), bytes.NewReader(src), Spec{Format: f}, Limits{MaxMemory: encodeModernCost(f, 300, 300) - 1}, &out)
		if !errors.Is(err, ErrTooManyPixels) {
			t.Errorf("%s over MaxMemory: %v; want ErrTooManyPixels", f, err)
		}
	}
}

// TestEncodeModernCost checks encodeModernCost against what the encoders
// allocate on the Go heap, which holds the WebAssembly modules' memory. A
// system library (see encode_modern.go) allocates outside it, where this
// cannot see; that format is then left out. Not parallel: it measures
// what the process allocates.
func TestEncodeModernCost(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated")
	}
	for _, f := range []Format{WebP, AVIF} {
		t.Run(string(f), func(t *testing.T) {
			if (f == WebP && webp.Dynamic() == nil) || (f == AVIF && avif.Dynamic() == nil) {
				t.Skipf("%s is encoded by a system library, outside the Go heap; build with -tags nodynamic to measure", f)
			}
			// The first call compiles the module, which is kept: not counted.
			if err := encode(&bytes.Buffer{}, gradient(8, 8), f, DefaultQuality); err != nil {
				t.Fatal(err)
			}
			for _, sz := range [][2]int{{64, 64}, {301, 199}, {800, 600}, {1500, 1001}, {3000, 20}, {20, 3000}} {
				var img image.Image = gradient(sz[0], sz[1])
				if sz[0] == 301 {
					img = image.NewYCbCr(image.Rect(0, 0, sz[0], sz[1]), image.YCbCrSubsampleRatio420) // copied first
				}
				var out bytes.Buffer
				out.Grow(4 << 20)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				err := encode(&out, img, f, DefaultQuality)
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatal(err)
				}
				allocated := int64(after.TotalAlloc - before.TotalAlloc)
				estimate := encodeModernCost(f, sz[0], sz[1])
				t.Logf("%d×%d: allocated %d bytes (%.1f a pixel), estimated %d", sz[0], sz[1], allocated,
					float64(allocated)/float64(sz[0]*sz[1]), estimate)
				if allocated > estimate {
					t.Errorf("%d×%d: allocated %d bytes, over the estimate %d", sz[0], sz[1], allocated, estimate)
				}
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	chrome := "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	tests := []struct {
		accept string
		want   Format
	}{
		{chrome, AVIF},
		{"image/webp,*/*", WebP},                     // Safari 14-15, Firefox 65-92
		{"IMAGE/AVIF ; Q=0.5", AVIF},                 // case and spaces
		{"image/avif;q=0, image/webp", WebP},         // avif refused
		{"image/avif;q=0.0, image/webp;q=0.000", ""}, // both refused
		{"image/webp;q=0.1", WebP},
		{"image/avif, image/avif;q=0", ""}, // refused once is refused
		{"image/*,*/*;q=0.8", ""},          // wildcards choose neither
		{"*/*", ""},
		{"", ""},
		{"image/avif;q=2", ""},   // out of range: ignored
		{"image/avif;q=abc", ""}, // unreadable: ignored
		{"image/avif;q=", ""},
		{"image/avifx, ximage/webp", ""},
		{"image/avif;level=1;q=0.9", AVIF},
		{"text/html;q=0.9,image/webp", WebP},
	}
	for _, tt := range tests {
		if got := Negotiate(Spec{Width: 10, Format: Auto}, tt.accept); got.Format != tt.want || got.Width != 10 {
			t.Errorf("Negotiate(auto, %q) = %+v, want format %q", tt.accept, got, tt.want)
		}
	}
	// Any other format is kept.
	for _, f := range []Format{"", JPEG, PNG, GIF, WebP, AVIF} {
		if got := Negotiate(Spec{Format: f}, chrome); got.Format != f {
			t.Errorf("Negotiate(%q) = %q, want it kept", f, got.Format)
		}
	}
}

// FuzzNegotiate: go test -fuzz=FuzzNegotiate ./transform. The seeds are
// under testdata/fuzz/FuzzNegotiate.
func FuzzNegotiate(f *testing.F) {
	f.Fuzz(func(t *testing.T, accept string) {
		s := Negotiate(Spec{Width: 7, Format: Auto}, accept)
		switch s.Format {
		case AVIF, WebP:
			if !strings.Contains(strings.ToLower(accept), string(s.Format)) {
				t.Fatalf("Negotiate(%q) chose %s, which it does not name", accept, s.Format)
			}
		case "":
		default:
			t.Fatalf("Negotiate(%q) gives format %q", accept, s.Format)
		}
		if s.Width != 7 {
			t.Fatalf("Negotiate(%q) changed the size: %+v", accept, s)
		}
		if s.Validate(Limits{}) != nil {
			t.Fatalf("Negotiate(%q) gives %+v, which Validate refuses", accept, s)
		}
		// Whatever the header, adding a refusal of the chosen type moves
		// the choice off it.
		if s.Format != "" {
			if again := Negotiate(Spec{Format: Auto}, accept+",image/"+string(s.Format)+";q=0"); again.Format == s.Format {
				t.Fatalf("Negotiate(%q) still chooses %s after q=0", accept, s.Format)
			}
		}
	})
}
