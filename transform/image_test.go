package transform

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/carcosa-dev/carcosa/transform/internal/testimg"
)

// The shared test images (transform/internal/testimg).
var (
	gradient   = testimg.Gradient
	encodePNG  = testimg.PNG
	encodeJPEG = testimg.JPEG
	animation  = testimg.Animation
)

// transform runs Image and decodes its output.
func transform(t testing.TB, src []byte, s Spec, lim Limits) (image.Image, string, []byte) {
	t.Helper()
	var out bytes.Buffer
	mime, err := Image(context.Background(), bytes.NewReader(src), s, lim, &out)
	if err != nil {
		t.Fatalf("Image(%+v): %v", s, err)
	}
	img, format, err := image.Decode(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("decoding the output of %+v: %v", s, err)
	}
	if want := "image/" + format; mime != want {
		t.Errorf("Image(%+v) says %s, the output is %s", s, mime, want)
	}
	return img, mime, out.Bytes()
}

func TestImageFits(t *testing.T) {
	t.Parallel()
	landscape := encodePNG(t, gradient(400, 300))
	portrait := encodeJPEG(t, gradient(300, 400))
	tests := []struct {
		name string
		src  []byte
		spec Spec
		lim  Limits
		w, h int
	}{
		{"cover", landscape, Spec{Width: 100, Height: 100, Fit: Cover}, Limits{}, 100, 100},
		{"cover is the default", landscape, Spec{Width: 100, Height: 50}, Limits{}, 100, 50},
		{"cover enlarges", landscape, Spec{Width: 800, Height: 100, Fit: Cover}, Limits{}, 800, 100},
		{"contain", landscape, Spec{Width: 100, Height: 100, Fit: Contain}, Limits{}, 100, 100},
		{"contain enlarges", landscape, Spec{Width: 800, Height: 800, Fit: Contain}, Limits{}, 800, 800},
		{"fill", landscape, Spec{Width: 100, Height: 100, Fit: Fill}, Limits{}, 100, 100},
		{"inside", landscape, Spec{Width: 100, Height: 100, Fit: Inside}, Limits{}, 100, 75},
		{"inside never enlarges", landscape, Spec{Width: 800, Height: 800, Fit: Inside}, Limits{}, 400, 300},
		{"width only", landscape, Spec{Width: 200}, Limits{}, 200, 150},
		{"height only", landscape, Spec{Height: 150, Fit: Fill}, Limits{}, 200, 150},
		{"width only enlarges", landscape, Spec{Width: 800, Fit: Contain}, Limits{}, 800, 600},
		{"width only inside", landscape, Spec{Width: 800, Fit: Inside}, Limits{}, 400, 300},
		{"own size", landscape, Spec{}, Limits{}, 400, 300},
		{"own size within MaxSide", landscape, Spec{}, Limits{MaxSide: 200}, 200, 150},
		{"portrait cover", portrait, Spec{Width: 100, Height: 50, Fit: Cover}, Limits{}, 100, 50},
		{"portrait contain", portrait, Spec{Width: 100, Height: 100, Fit: Contain}, Limits{}, 100, 100},
		{"portrait fill", portrait, Spec{Width: 50, Height: 100, Fit: Fill}, Limits{}, 50, 100},
		{"portrait inside", portrait, Spec{Width: 100, Height: 100, Fit: Inside}, Limits{}, 75, 100},
		{"portrait width only", portrait, Spec{Width: 150}, Limits{}, 150, 200},
		{"derived side within MaxSide", portrait, Spec{Width: 200}, Limits{MaxSide: 200}, 150, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img, _, _ := transform(t, tt.src, tt.spec, tt.lim)
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("%+v gives %d×%d, want %d×%d", tt.spec, b.Dx(), b.Dy(), tt.w, tt.h)
			}
		})
	}
}

func TestContainPads(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(400, 100))
	// The 100×25 image sits in the middle of 100×100: the top row is padding.
	img, _, _ := transform(t, src, Spec{Width: 100, Height: 100, Fit: Contain, Format: PNG}, Limits{})
	if _, _, _, a := img.At(50, 2).RGBA(); a != 0 {
		t.Errorf("PNG padding has alpha %d, want transparent", a)
	}
	img, _, _ = transform(t, src, Spec{Width: 100, Height: 100, Fit: Contain, Format: JPEG}, Limits{})
	if r, g, b, _ := img.At(50, 2).RGBA(); r>>8 < 245 || g>>8 < 245 || b>>8 < 245 {
		t.Errorf("JPEG padding is %d,%d,%d, want white", r>>8, g>>8, b>>8)
	}
}

func TestImageFormats(t *testing.T) {
	t.Parallel()
	png1 := encodePNG(t, gradient(64, 48))
	jpg := encodeJPEG(t, gradient(64, 48))
	anim := animation(t, 64, 48, 3)
	webp, err := os.ReadFile("testdata/lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	alpha, err := os.ReadFile("testdata/alpha.webp")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  []byte
		fm   Format
		mime string
	}{
		{"PNG kept", png1, "", "image/png"},
		{"JPEG kept", jpg, "", "image/jpeg"},
		{"GIF kept", anim, "", "image/gif"},
		{"WebP becomes JPEG", webp, "", "image/jpeg"},
		{"WebP with alpha becomes JPEG", alpha, "", "image/jpeg"},
		{"PNG to JPEG", png1, JPEG, "image/jpeg"},
		{"JPEG to PNG", jpg, PNG, "image/png"},
		{"JPEG to GIF", jpg, GIF, "image/gif"},
		{"GIF to PNG", anim, PNG, "image/png"},
		{"WebP to PNG", alpha, PNG, "image/png"},
		{"WebP to GIF", alpha, GIF, "image/gif"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, mime, _ := transform(t, tt.src, Spec{Width: 32, Format: tt.fm}, Limits{})
			if mime != tt.mime {
				t.Errorf("got %s, want %s", mime, tt.mime)
			}
		})
	}
}

func TestQualityAffectsJPEGSize(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(512, 512))
	_, _, low := transform(t, src, Spec{Width: 256, Quality: 20, Format: JPEG}, Limits{})
	_, _, high := transform(t, src, Spec{Width: 256, Quality: 95, Format: JPEG}, Limits{})
	if len(low) >= len(high) {
		t.Errorf("q=20 gives %d bytes, q=95 %d: want fewer", len(low), len(high))
	}
}

func TestAnimatedGIF(t *testing.T) {
	t.Parallel()
	src := animation(t, 40, 30, 3)

	// Image keeps the first frame, which is red.
	img, _, _ := transform(t, src, Spec{Width: 20}, Limits{})
	if r, g, b, _ := img.At(10, 7).RGBA(); r>>8 < 200 || g>>8 > 50 || b>>8 > 50 {
		t.Errorf("the output is %d,%d,%d, want the first frame's red", r>>8, g>>8, b>>8)
	}

	// Rewrite keeps every frame.
	var out bytes.Buffer
	mime, err := Rewrite(context.Background(), bytes.NewReader(src), Limits{}, &out)
	if err != nil || mime != "image/gif" {
		t.Fatalf("Rewrite: %q, %v", mime, err)
	}
	g, err := gif.DecodeAll(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 || g.Delay[2] != 10 {
		t.Errorf("Rewrite gives %d frames, delays %v; want 3 of 10", len(g.Image), g.Delay)
	}
}

// withExif returns jpg with an APP1 Exif segment after its SOI holding
// orientation o, a GPS-like string, and a comment segment.
func withExif(jpg []byte, o uint16) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")                                // big-endian TIFF
	binary.Write(&tiff, binary.BigEndian, uint32(8))              // IFD0 offset
	binary.Write(&tiff, binary.BigEndian, uint16(1))              // one entry
	binary.Write(&tiff, binary.BigEndian, uint16(0x0112))         // Orientation
	binary.Write(&tiff, binary.BigEndian, uint16(3))              // SHORT
	binary.Write(&tiff, binary.BigEndian, uint32(1))              // count
	binary.Write(&tiff, binary.BigEndian, o)                      // value
	binary.Write(&tiff, binary.BigEndian, uint16(0))              // padding
	binary.Write(&tiff, binary.BigEndian, uint32(0))              // no next IFD
	tiff.WriteString("GPSLatitude 48.8584N GPSLongitude 2.2945E") // where a GPS IFD's bytes would be
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)

	var b bytes.Buffer
	b.Write(jpg[:2]) // SOI
	b.Write([]byte{0xff, 0xe1})
	binary.Write(&b, binary.BigEndian, uint16(len(payload)+2))
	b.Write(payload)
	comment := "secret comment"
	b.Write([]byte{0xff, 0xfe})
	binary.Write(&b, binary.BigEndian, uint16(len(comment)+2))
	b.WriteString(comment)
	b.Write(jpg[2:])
	return b.Bytes()
}

func TestExifOrientation(t *testing.T) {
	t.Parallel()
	src := withExif(encodeJPEG(t, gradient(40, 20)), 6)
	if o := jpegOrientation(src); o != 6 {
		t.Fatalf("jpegOrientation = %d, want 6", o)
	}
	for _, fm := range []Format{"", PNG} {
		img, _, _ := transform(t, src, Spec{Format: fm}, Limits{})
		if b := img.Bounds(); b.Dx() != 20 || b.Dy() != 40 {
			t.Errorf("format %q: orientation 6 on 40×20 gives %d×%d, want 20×40", fm, b.Dx(), b.Dy())
		}
	}
	// Width 10 applies to the upright image: 10×20.
	img, _, _ := transform(t, src, Spec{Width: 10}, Limits{})
	if b := img.Bounds(); b.Dx() != 10 || b.Dy() != 20 {
		t.Errorf("w=10 gives %d×%d, want 10×20", b.Dx(), b.Dy())
	}
	// Orientation 6 turns clockwise: the source's top-left corner (dark)
	// ends at the top right.
	img, _, _ = transform(t, src, Spec{Format: PNG}, Limits{})
	if r, g, _, _ := img.At(19, 0).RGBA(); r>>8 > 60 || g>>8 > 60 {
		t.Errorf("top-right is %d,%d, want the source's dark top-left", r>>8, g>>8)
	}
}

func TestMetadataStripped(t *testing.T) {
	t.Parallel()
	src := withExif(encodeJPEG(t, gradient(40, 20)), 1)
	if !bytes.Contains(src, []byte("Exif")) || !bytes.Contains(src, []byte("GPS")) {
		t.Fatal("the test source has no metadata")
	}
	_, _, out := transform(t, src, Spec{Width: 30}, Limits{})
	var rewritten bytes.Buffer
	if _, err := Rewrite(context.Background(), bytes.NewReader(src), Limits{}, &rewritten); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"Image": out, "Rewrite": rewritten.Bytes()} {
		for _, s := range []string{"Exif", "GPS", "48.8584", "secret comment"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the output of %s contains %q", name, s)
			}
		}
		if bytes.Contains(b, []byte{0xff, 0xe1}) {
			t.Errorf("the output of %s has an APP1 marker", name)
		}
	}
}

func TestRewriteDropsPolyglot(t *testing.T) {
	t.Parallel()
	zip := []byte("PK\x03\x04 a zip archive appended to the image")
	for name, img := range map[string][]byte{
		"JPEG": encodeJPEG(t, gradient(30, 20)),
		"PNG":  encodePNG(t, gradient(30, 20)),
		"GIF":  animation(t, 30, 20, 2),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			mime, err := Rewrite(context.Background(), bytes.NewReader(append(img, zip...)), Limits{}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if mime != "image/"+map[string]string{"JPEG": "jpeg", "PNG": "png", "GIF": "gif"}[name] {
				t.Errorf("Rewrite changed the format to %s", mime)
			}
			if bytes.Contains(out.Bytes(), []byte("PK\x03\x04")) {
				t.Error("the appended archive survived")
			}
			m, _, err := image.Decode(&out)
			if err != nil {
				t.Fatal(err)
			}
			if b := m.Bounds(); b.Dx() != 30 || b.Dy() != 20 {
				t.Errorf("Rewrite gives %v, want 30×20", b)
			}
		})
	}
}

func TestRewriteWebP(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/alpha.webp")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	mime, err := Rewrite(context.Background(), bytes.NewReader(src), Limits{}, &out)
	if err != nil || mime != "image/jpeg" {
		t.Fatalf("Rewrite of WebP: %q, %v; want image/jpeg", mime, err)
	}
	cfg, err := jpeg.DecodeConfig(&out)
	if err != nil || cfg.Width != 75 || cfg.Height != 100 {
		t.Errorf("Rewrite of WebP gives %+v, %v; want 75×100", cfg, err)
	}
}

func TestImageRefusesBadSpec(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := Image(context.Background(), bytes.NewReader(encodePNG(t, gradient(8, 8))), Spec{Width: -1}, Limits{}, &out)
	if !errors.Is(err, ErrBadSpec) {
		t.Errorf("got %v, want ErrBadSpec", err)
	}
}

func TestImageHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	_, err := Image(ctx, bytes.NewReader(encodePNG(t, gradient(8, 8))), Spec{}, Limits{}, &out)
	if !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Errorf("got %v and %d bytes, want context.Canceled and nothing", err, out.Len())
	}
}

// fill crops by a sub-image where imaging.Fill copies the crop: the
// pixels must be the same.
func TestFillMatchesImaging(t *testing.T) {
	t.Parallel()
	ycbcr, _, err := image.Decode(bytes.NewReader(encodeJPEG(t, gradient(333, 250))))
	if err != nil {
		t.Fatal(err)
	}
	paletted := image.NewPaletted(image.Rect(0, 0, 301, 123), color.Palette{color.Black, color.White, color.Transparent})
	for i := range paletted.Pix {
		paletted.Pix[i] = uint8(i * 7 % 3)
	}
	for name, src := range map[string]image.Image{
		"NRGBA":        gradient(400, 300),
		"YCbCr 4:2:0":  ycbcr,
		"paletted":     paletted,
		"offset NRGBA": gradient(500, 500).SubImage(image.Rect(37, 11, 480, 333)),
		"small":        gradient(60, 90),
	} {
		for _, size := range [][2]int{{100, 100}, {64, 200}, {250, 31}, {640, 480}} {
			got := fill(src, size[0], size[1])
			want := imaging.Fill(src, size[0], size[1], imaging.Center, filter)
			if got.Bounds().Size() != want.Bounds().Size() {
				t.Fatalf("%s to %v: %v, want %v", name, size, got.Bounds(), want.Bounds())
			}
			g := imaging.Clone(got)
			if !bytes.Equal(g.Pix, want.Pix) {
				t.Errorf("%s to %v: the pixels differ from imaging.Fill's", name, size)
			}
		}
	}
}
