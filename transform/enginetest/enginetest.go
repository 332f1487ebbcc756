// Package enginetest is the conformance suite of transform.Engine: every
// engine runs it, so that an application can switch engines and keep the
// same outputs, limits and errors.
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, func(t *testing.T, lim transform.Limits) transform.Engine {
//			return transform.New(lim)
//		})
//	}
package enginetest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/transform"
	"github.com/carcosa-dev/carcosa/transform/internal/testimg"
)

// The shared test images (transform/internal/testimg).
var (
	gradient   = testimg.Gradient
	encodePNG  = testimg.PNG
	encodeJPEG = testimg.JPEG
	animation  = testimg.Animation
)

// NewEngine returns an engine with the limits lim, whose zero fields take
// their defaults. Each call returns an engine of its own, with its own
// memory budget.
type NewEngine func(t *testing.T, lim transform.Limits) transform.Engine

//go:embed testdata/lossy.webp
var lossyWebP []byte // 150×100, VP8

// Run runs the suite on the engines newEngine makes.
func Run(t *testing.T, newEngine NewEngine) {
	t.Run("Formats", func(t *testing.T) { t.Parallel(); testFormats(t, newEngine) })
	t.Run("Fits", func(t *testing.T) { t.Parallel(); testFits(t, newEngine) })
	t.Run("Orientation", func(t *testing.T) { t.Parallel(); testOrientation(t, newEngine) })
	t.Run("MetadataStripped", func(t *testing.T) { t.Parallel(); testMetadata(t, newEngine) })
	t.Run("Rewrite", func(t *testing.T) { t.Parallel(); testRewrite(t, newEngine) })
	t.Run("TooManyPixels", func(t *testing.T) { t.Parallel(); testTooManyPixels(t, newEngine) })
	t.Run("CorruptAndUnsupported", func(t *testing.T) { t.Parallel(); testCorrupt(t, newEngine) })
	t.Run("SizeLimits", func(t *testing.T) { t.Parallel(); testSizeLimits(t, newEngine) })
	t.Run("BadSpec", func(t *testing.T) { t.Parallel(); testBadSpec(t, newEngine) })
	t.Run("Context", func(t *testing.T) { t.Parallel(); testContext(t, newEngine) })
	t.Run("MemoryBudget", func(t *testing.T) { t.Parallel(); testMemoryBudget(t, newEngine) })
}

// halves returns a w×h image whose left half is red and right half blue.
func halves(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{220, 0, 0, 255}
			if x >= w/2 {
				c = color.NRGBA{0, 0, 220, 255}
			}
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

// withExif returns jpg with an APP1 Exif segment after its SOI holding
// orientation o and a GPS-like string, and a comment segment.
func withExif(jpg []byte, o uint16) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")
	binary.Write(&tiff, binary.BigEndian, uint32(8))      // IFD0 offset
	binary.Write(&tiff, binary.BigEndian, uint16(1))      // one entry
	binary.Write(&tiff, binary.BigEndian, uint16(0x0112)) // Orientation
	binary.Write(&tiff, binary.BigEndian, uint16(3))      // SHORT
	binary.Write(&tiff, binary.BigEndian, uint32(1))      // count
	binary.Write(&tiff, binary.BigEndian, o)
	binary.Write(&tiff, binary.BigEndian, uint16(0))
	binary.Write(&tiff, binary.BigEndian, uint32(0)) // no next IFD
	tiff.WriteString("GPSLatitude 48.8584N GPSLongitude 2.2945E")
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)

	var b bytes.Buffer
	b.Write(jpg[:2])
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

// pngBomb returns a PNG signature and an IHDR chunk claiming w×h RGBA
// pixels, and nothing else: 33 bytes.
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := append([]byte("IHDR"), binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h)...)
	chunk = append(chunk, 8, 6, 0, 0, 0)
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// result is one call's output, decoded.
type result struct {
	mime   string
	format string
	img    image.Image
	raw    []byte
}

func run(t *testing.T, e transform.Engine, src []byte, s transform.Spec) result {
	t.Helper()
	var out bytes.Buffer
	mime, err := e.Image(context.Background(), bytes.NewReader(src), s, &out)
	if err != nil {
		t.Fatalf("Image(%+v): %v", s, err)
	}
	return decoded(t, mime, out.Bytes())
}

func decoded(t *testing.T, mime string, b []byte) result {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding the output (%s): %v", mime, err)
	}
	if mime != "image/"+format {
		t.Errorf("the output is %s, but its MIME type says %s", format, mime)
	}
	return result{mime: mime, format: format, img: img, raw: b}
}

func size(img image.Image) (int, int) { return img.Bounds().Dx(), img.Bounds().Dy() }

func testFormats(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{})
	png := encodePNG(t, gradient(120, 80))
	jpg := encodeJPEG(t, gradient(120, 80))
	anim := animation(t, 120, 80, 3)
	for _, c := range []struct {
		name   string
		src    []byte
		format transform.Format
		want   string
		w, h   int
	}{
		{"JPEG kept", jpg, "", "jpeg", 60, 40},
		{"PNG kept", png, "", "png", 60, 40},
		{"GIF kept, first frame", anim, "", "gif", 60, 40},
		{"WebP to JPEG", lossyWebP, "", "jpeg", 60, 40},
		{"JPEG to PNG", jpg, transform.PNG, "png", 60, 40},
		{"PNG to JPEG", png, transform.JPEG, "jpeg", 60, 40},
		{"PNG to GIF", png, transform.GIF, "gif", 60, 40},
		{"WebP to PNG", lossyWebP, transform.PNG, "png", 60, 40},
	} {
		r := run(t, e, c.src, transform.Spec{Width: 60, Format: c.format})
		if r.format != c.want {
			t.Errorf("%s: the output is %s, want %s", c.name, r.format, c.want)
		}
		if w, h := size(r.img); w != c.w || h != c.h {
			t.Errorf("%s: the output is %d×%d, want %d×%d", c.name, w, h, c.w, c.h)
		}
	}
	// An animated GIF's output is its first frame, red.
	r := run(t, e, anim, transform.Spec{Width: 60})
	if g, err := gif.DecodeAll(bytes.NewReader(r.raw)); err != nil || len(g.Image) != 1 {
		t.Errorf("Image of an animated GIF: %v frames (%v), want 1", frames(g), err)
	}
	if red, _, blue, _ := r.img.At(30, 20).RGBA(); red>>8 < 200 || blue>>8 > 50 {
		t.Errorf("Image of an animated GIF is not its first frame (red): %d,%d", red>>8, blue>>8)
	}
}

func frames(g *gif.GIF) int {
	if g == nil {
		return 0
	}
	return len(g.Image)
}

func testFits(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{MaxSide: 1000})
	src := encodePNG(t, gradient(400, 200))
	for _, c := range []struct {
		spec transform.Spec
		w, h int
	}{
		{transform.Spec{Width: 100, Height: 100}, 100, 100},
		{transform.Spec{Width: 100, Height: 100, Fit: transform.Cover}, 100, 100},
		{transform.Spec{Width: 100, Height: 100, Fit: transform.Contain}, 100, 100},
		{transform.Spec{Width: 100, Height: 100, Fit: transform.Fill}, 100, 100},
		{transform.Spec{Width: 100, Height: 100, Fit: transform.Inside}, 100, 50},
		{transform.Spec{Width: 800, Height: 800, Fit: transform.Inside}, 400, 200},
		{transform.Spec{Width: 800, Height: 800, Fit: transform.Contain}, 800, 800},
		{transform.Spec{Width: 200}, 200, 100},
		{transform.Spec{Height: 50}, 100, 50},
		{transform.Spec{}, 400, 200},
	} {
		r := run(t, e, src, c.spec)
		if w, h := size(r.img); w != c.w || h != c.h {
			t.Errorf("%+v: %d×%d, want %d×%d", c.spec, w, h, c.w, c.h)
		}
	}
	// Contain pads: transparent for PNG, white for JPEG; the centre is the
	// image.
	r := run(t, e, src, transform.Spec{Width: 100, Height: 100, Fit: transform.Contain})
	if _, _, _, a := r.img.At(50, 2).RGBA(); a != 0 {
		t.Errorf("contain to PNG: the padding has alpha %d, want 0", a>>8)
	}
	if _, _, _, a := r.img.At(50, 50).RGBA(); a>>8 != 255 {
		t.Errorf("contain to PNG: the centre has alpha %d, want 255", a>>8)
	}
	r = run(t, e, src, transform.Spec{Width: 100, Height: 100, Fit: transform.Contain, Format: transform.JPEG})
	if red, g, b, _ := r.img.At(50, 2).RGBA(); red>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
		t.Errorf("contain to JPEG: the padding is %d,%d,%d, want white", red>>8, g>>8, b>>8)
	}
	// Cover crops the centre: of red|blue halves, the left edge of a
	// square is still red and its right edge blue.
	r = run(t, e, encodePNG(t, halves(400, 100)), transform.Spec{Width: 50, Height: 50})
	if red, _, _, _ := r.img.At(2, 25).RGBA(); red>>8 < 180 {
		t.Errorf("cover: the left edge is not red (%d)", red>>8)
	}
	if _, _, b, _ := r.img.At(47, 25).RGBA(); b>>8 < 180 {
		t.Errorf("cover: the right edge is not blue (%d)", b>>8)
	}
}

func testOrientation(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{})
	// Stored 80×40, left half red: orientation 6 turns it clockwise, so
	// that it is 40×80 upright, red on top.
	src := withExif(encodeJPEG(t, halves(80, 40)), 6)
	for _, fm := range []transform.Format{"", transform.PNG} {
		r := run(t, e, src, transform.Spec{Format: fm})
		if w, h := size(r.img); w != 40 || h != 80 {
			t.Fatalf("format %q: orientation 6 on 80×40 gives %d×%d, want 40×80", fm, w, h)
		}
		if red, _, b, _ := r.img.At(20, 10).RGBA(); red>>8 < 150 || b>>8 > 80 {
			t.Errorf("format %q: the top is %d,%d (red, blue), want red", fm, red>>8, b>>8)
		}
		if red, _, b, _ := r.img.At(20, 70).RGBA(); b>>8 < 150 || red>>8 > 80 {
			t.Errorf("format %q: the bottom is %d,%d (red, blue), want blue", fm, red>>8, b>>8)
		}
	}
	// Sizes apply to the upright image.
	r := run(t, e, src, transform.Spec{Width: 20})
	if w, h := size(r.img); w != 20 || h != 40 {
		t.Errorf("w=20 gives %d×%d, want 20×40", w, h)
	}
}

func testMetadata(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{})
	src := withExif(encodeJPEG(t, gradient(40, 20)), 1)
	var rewritten bytes.Buffer
	if _, err := e.Rewrite(context.Background(), bytes.NewReader(src), &rewritten); err != nil {
		t.Fatal(err)
	}
	outs := map[string][]byte{
		"Image":          run(t, e, src, transform.Spec{Width: 30}).raw,
		"Image to PNG":   run(t, e, src, transform.Spec{Width: 30, Format: transform.PNG}).raw,
		"Image, no size": run(t, e, src, transform.Spec{}).raw,
		"Rewrite":        rewritten.Bytes(),
	}
	for name, b := range outs {
		for _, s := range []string{"Exif", "GPS", "48.8584", "secret comment", "eXIf", "iCCP", "ICC_PROFILE", "http://ns.adobe.com/xap"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the output of %s contains %q", name, s)
			}
		}
		if bytes.HasPrefix(b, []byte{0xff, 0xd8}) && bytes.Contains(b, []byte{0xff, 0xe1}) {
			t.Errorf("the output of %s has an APP1 marker", name)
		}
	}
}

func testRewrite(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{MaxSide: 64})
	rewrite := func(src []byte) result {
		t.Helper()
		var out bytes.Buffer
		mime, err := e.Rewrite(context.Background(), bytes.NewReader(src), &out)
		if err != nil {
			t.Fatalf("Rewrite: %v", err)
		}
		return decoded(t, mime, out.Bytes())
	}
	// Its own size (MaxSide does not apply), upright, in its own format.
	r := rewrite(withExif(encodeJPEG(t, halves(200, 100)), 6))
	if w, h := size(r.img); r.format != "jpeg" || w != 100 || h != 200 {
		t.Errorf("Rewrite of a 200×100 JPEG turned 6: a %s of %d×%d, want a jpeg of 100×200", r.format, w, h)
	}
	r = rewrite(encodePNG(t, gradient(100, 50)))
	if w, h := size(r.img); r.format != "png" || w != 100 || h != 50 {
		t.Errorf("Rewrite of a 100×50 PNG: a %s of %d×%d", r.format, w, h)
	}
	r = rewrite(lossyWebP)
	if w, h := size(r.img); r.format != "jpeg" || w != 150 || h != 100 {
		t.Errorf("Rewrite of a 150×100 WebP: a %s of %d×%d, want a jpeg", r.format, w, h)
	}
	// What follows the image (a polyglot's other half) is dropped.
	zip := []byte("PK\x03\x04 a zip archive appended to the image")
	r = rewrite(append(encodePNG(t, gradient(20, 20)), zip...))
	if bytes.Contains(r.raw, zip[:4]) {
		t.Error("Rewrite kept what followed the image")
	}
	// An animated GIF keeps its frames and timing.
	r = rewrite(animation(t, 30, 20, 3))
	g, err := gif.DecodeAll(bytes.NewReader(r.raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 || g.Delay[2] != 10 {
		t.Errorf("Rewrite of a GIF of 3 frames gives %d frames, delays %v", len(g.Image), g.Delay)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func testTooManyPixels(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{MaxPixels: 1_000_000})
	// A 33-byte PNG claiming 40 gigapixels, and then a stream that would
	// never end: refused from the header alone.
	bomb := &countingReader{r: io.MultiReader(bytes.NewReader(pngBomb(200000, 200000)), zeros{})}
	_, err := e.Image(context.Background(), bomb, transform.Spec{Width: 10}, io.Discard)
	if !errors.Is(err, transform.ErrTooManyPixels) {
		t.Errorf("a PNG bomb: %v, want ErrTooManyPixels", err)
	}
	if bomb.n > 1<<20 {
		t.Errorf("a PNG bomb: %d bytes read before it was refused", bomb.n)
	}
	for name, src := range map[string][]byte{
		"PNG 1001×1000":  encodePNG(t, gradient(1001, 1000)),
		"GIF of frames":  animation(t, 500, 500, 5),
		"JPEG 1500×1000": encodeJPEG(t, gradient(1500, 1000)),
	} {
		if _, err := e.Image(context.Background(), bytes.NewReader(src), transform.Spec{Width: 10}, io.Discard); !errors.Is(err, transform.ErrTooManyPixels) {
			t.Errorf("Image of %s: %v, want ErrTooManyPixels", name, err)
		}
		if _, err := e.Rewrite(context.Background(), bytes.NewReader(src), io.Discard); !errors.Is(err, transform.ErrTooManyPixels) {
			t.Errorf("Rewrite of %s: %v, want ErrTooManyPixels", name, err)
		}
	}
	// An image whose memory alone is over the budget is refused.
	small := newEngine(t, transform.Limits{MaxMemory: 1 << 20})
	if _, err := small.Image(context.Background(), bytes.NewReader(encodePNG(t, gradient(1000, 1000))), transform.Spec{Width: 10}, io.Discard); !errors.Is(err, transform.ErrTooManyPixels) {
		t.Errorf("a 1000×1000 PNG with a 1 MiB budget: %v, want ErrTooManyPixels", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func testCorrupt(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{})
	jpg := encodeJPEG(t, gradient(200, 200))
	png := encodePNG(t, gradient(200, 200))
	for _, c := range []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, transform.ErrCorrupt},
		{"JPEG magic, then garbage", append([]byte("\xff\xd8\xff"), bytes.Repeat([]byte{0x42}, 500)...), transform.ErrCorrupt},
		{"truncated JPEG", jpg[:len(jpg)/2], transform.ErrCorrupt},
		{"truncated PNG", png[:len(png)/2], transform.ErrCorrupt},
		{"PNG header only", png[:33], transform.ErrCorrupt},
		{"text", []byte("hello, world: not an image at all"), transform.ErrUnsupported},
		{"BMP", append([]byte("BM"), bytes.Repeat([]byte{0}, 100)...), transform.ErrUnsupported},
		{"SVG", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), transform.ErrUnsupported},
	} {
		if _, err := e.Image(context.Background(), bytes.NewReader(c.src), transform.Spec{Width: 10}, io.Discard); !errors.Is(err, c.want) {
			t.Errorf("Image of %s: %v, want %v", c.name, err, c.want)
		}
		if _, err := e.Rewrite(context.Background(), bytes.NewReader(c.src), io.Discard); !errors.Is(err, c.want) {
			t.Errorf("Rewrite of %s: %v, want %v", c.name, err, c.want)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.n += len(p)
	return 0, errors.New("the writer failed")
}

func testSizeLimits(t *testing.T, newEngine NewEngine) {
	src := encodePNG(t, gradient(300, 300))
	e := newEngine(t, transform.Limits{MaxOutputBytes: 200})
	var out bytes.Buffer
	if _, err := e.Image(context.Background(), bytes.NewReader(src), transform.Spec{Width: 300, Format: transform.PNG}, &out); !errors.Is(err, transform.ErrTooLarge) {
		t.Errorf("an output over MaxOutputBytes: %v, want ErrTooLarge", err)
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes written on error", out.Len())
	}
	if _, err := e.Rewrite(context.Background(), bytes.NewReader(src), io.Discard); !errors.Is(err, transform.ErrTooLarge) {
		t.Errorf("Rewrite over MaxOutputBytes: %v, want ErrTooLarge", err)
	}
	e = newEngine(t, transform.Limits{MaxInputBytes: int64(len(src) / 2)})
	if _, err := e.Image(context.Background(), bytes.NewReader(src), transform.Spec{Width: 10}, io.Discard); !errors.Is(err, transform.ErrTooLarge) {
		t.Errorf("a source over MaxInputBytes: %v, want ErrTooLarge", err)
	}
	// The writer's error is returned as it is.
	e = newEngine(t, transform.Limits{})
	w := &failingWriter{}
	if _, err := e.Image(context.Background(), bytes.NewReader(src), transform.Spec{Width: 10}, w); err == nil || strings.Contains(err.Error(), "transform: the image") {
		t.Errorf("a failing writer: %v, want its own error", err)
	}
}

func testBadSpec(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{MaxSide: 100})
	src := encodePNG(t, gradient(20, 20))
	for _, s := range []transform.Spec{
		{Width: 101}, {Height: -1}, {Fit: "stretch"}, {Format: "bmp"}, {Quality: 101},
	} {
		if _, err := e.Image(context.Background(), bytes.NewReader(src), s, io.Discard); !errors.Is(err, transform.ErrBadSpec) {
			t.Errorf("%+v: %v, want ErrBadSpec", s, err)
		}
	}
}

func testContext(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, transform.Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := encodePNG(t, gradient(100, 100))
	var out bytes.Buffer
	if _, err := e.Image(ctx, bytes.NewReader(src), transform.Spec{Width: 10}, &out); !errors.Is(err, context.Canceled) {
		t.Errorf("Image with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := e.Rewrite(ctx, bytes.NewReader(src), &out); !errors.Is(err, context.Canceled) {
		t.Errorf("Rewrite with a cancelled context: %v, want context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes written with a cancelled context", out.Len())
	}
}

// blockingReader serves head, then says so on reached and blocks until
// release is closed, then serves the rest.
type blockingReader struct {
	head, rest []byte
	once       sync.Once
	reached    chan struct{}
	release    chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	b.once.Do(func() { close(b.reached) })
	<-b.release
	if len(b.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	return n, nil
}

func testMemoryBudget(t *testing.T, newEngine NewEngine) {
	src := encodePNG(t, gradient(1000, 1000))
	spec := transform.Spec{Width: 100, Height: 100}
	// The smallest power-of-two budget the transform fits in: it takes
	// more than half of it, so that two cannot run at once.
	budget := int64(1 << 30)
	for ; budget > 1<<10; budget /= 2 {
		e := newEngine(t, transform.Limits{MaxMemory: budget / 2})
		_, err := e.Image(context.Background(), bytes.NewReader(src), spec, io.Discard)
		if errors.Is(err, transform.ErrTooManyPixels) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if budget <= 1<<10 {
		t.Fatalf("a 1000×1000 transform fits in %d bytes: the engine reserves nothing", budget)
	}
	e := newEngine(t, transform.Limits{MaxMemory: budget})

	// The first holds its reservation while it reads the source, which
	// blocks after the header.
	first := &blockingReader{head: src[:1024], rest: src[1024:], reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := e.Image(context.Background(), first, spec, io.Discard)
		done <- err
	}()
	select {
	case <-first.reached:
	case err := <-done:
		t.Fatalf("the first transform ended before reading past the header: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first transform did not read past the header")
	}
	// The second waits for the memory until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := e.Image(ctx, bytes.NewReader(src), spec, io.Discard); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a transform beyond the budget: %v, want it to wait until its deadline", err)
	}
	close(first.release)
	if err := <-done; err != nil {
		t.Fatalf("the first transform: %v", err)
	}
	// The memory is handed back.
	if _, err := e.Image(context.Background(), bytes.NewReader(src), spec, io.Discard); err != nil {
		t.Errorf("a transform after the first ended: %v", err)
	}
}
