package transform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
)

// pngBomb returns a PNG signature and an IHDR chunk, with a valid CRC,
// claiming w×h RGBA pixels: 33 bytes.
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := make([]byte, 0, 17)
	chunk = append(chunk, "IHDR"...)
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 6, 0, 0, 0) // 8-bit RGBA, no interlace
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// jpegClaiming returns a real JPEG whose frame header claims w×h.
func jpegClaiming(t testing.TB, w, h uint16) []byte {
	t.Helper()
	b := encodeJPEG(t, gradient(16, 16))
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// Not parallel: it measures the heap, which other tests would disturb.
func TestPNGBomb(t *testing.T) {
	bomb := pngBomb(200000, 200000)
	if len(bomb) != 33 {
		t.Fatalf("the bomb is %d bytes, want 33", len(bomb))
	}
	// A header followed by data, as a real bomb would be.
	src := io.MultiReader(bytes.NewReader(bomb), bytes.NewReader(make([]byte, 1<<20)))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Image(context.Background(), src, Spec{Width: 100}, Limits{}, io.Discard)
	runtime.ReadMemStats(&after)

	if !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("got %v, want ErrTooManyPixels", err)
	}
	const budget = 10 << 20
	if d := int64(after.HeapAlloc) - int64(before.HeapAlloc); d > budget {
		t.Errorf("the heap grew by %d bytes", d)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > budget {
		t.Errorf("%d bytes were allocated", d)
	}
}

func TestTooManyPixels(t *testing.T) {
	t.Parallel()
	small := Limits{MaxPixels: 100_000}
	tests := []struct {
		name string
		src  []byte
		lim  Limits
	}{
		{"PNG at the default", pngBomb(10000, 5001), Limits{}},
		{"PNG 1 pixel over", pngBomb(1000, 101), small},
		{"JPEG", jpegClaiming(t, 65000, 65000), Limits{}},
		{"GIF frames", animation(t, 100, 100, 11), small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, f := range []func() error{
				func() error {
					_, err := Image(context.Background(), bytes.NewReader(tt.src), Spec{}, tt.lim, io.Discard)
					return err
				},
				func() error {
					_, err := Rewrite(context.Background(), bytes.NewReader(tt.src), tt.lim, io.Discard)
					return err
				},
			} {
				if err := f(); !errors.Is(err, ErrTooManyPixels) {
					t.Errorf("got %v, want ErrTooManyPixels", err)
				}
			}
		})
	}
	// Within the budget: 10 frames of 100×100 is 100 000 pixels.
	if _, err := Image(context.Background(), bytes.NewReader(animation(t, 100, 100, 10)), Spec{}, small, io.Discard); err != nil {
		t.Errorf("a GIF within budget: %v", err)
	}
}

func TestGIFFrames(t *testing.T) {
	t.Parallel()
	src := animation(t, 10, 10, 7)
	count := func(b []byte, max int64) int64 {
		return gifFrames(bufioReader(b), max)
	}
	if n := count(src, 100); n != 7 {
		t.Errorf("counted %d frames, want 7", n)
	}
	if n := count(src, 3); n != 4 {
		t.Errorf("with max 3, counted %d, want to stop at 4", n)
	}
	if n := count(src[:len(src)/2], 100); n < 1 || n > 7 {
		t.Errorf("a truncated GIF counts %d frames", n)
	}
}

func TestCorruptAndUnsupported(t *testing.T) {
	t.Parallel()
	jpg := encodeJPEG(t, gradient(64, 64))
	pn := encodePNG(t, gradient(64, 64))
	gf := animation(t, 64, 64, 2)
	noise := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"truncated JPEG", jpg[:len(jpg)/2], ErrCorrupt},
		{"truncated JPEG header", jpg[:20], ErrCorrupt},
		{"truncated PNG", pn[:len(pn)/2], ErrCorrupt},
		{"truncated PNG header", pn[:20], ErrCorrupt},
		{"truncated GIF", gf[:len(gf)/3], ErrCorrupt},
		{"PNG with bad CRC", append(append([]byte{}, pn[:30]...), append([]byte{pn[30] ^ 1}, pn[31:]...)...), ErrCorrupt},
		{"zero-sized PNG", pngBomb(0, 10), ErrCorrupt},
		{"random bytes", noise, ErrUnsupported},
		{"random bytes after PNG magic", append([]byte("\x89PNG\r\n\x1a\n"), noise...), ErrCorrupt},
		{"random bytes after JPEG magic", append([]byte{0xff, 0xd8, 0xff}, noise...), ErrCorrupt},
		{"random bytes after WebP magic", append([]byte("RIFF\x00\x10\x00\x00WEBP"), noise...), ErrCorrupt},
		{"text", []byte("<html><body>hello</body></html>"), ErrUnsupported},
		{"BMP", []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			_, err := Image(context.Background(), bytes.NewReader(tt.src), Spec{Width: 10}, Limits{}, &out)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("%d bytes were written on error", out.Len())
			}
		})
	}
}

func TestDecoderPanicIsCorrupt(t *testing.T) {
	t.Parallel()
	err := protect(func() error { panic("index out of range") })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("got %v, want ErrCorrupt", err)
	}
	if err := protect(func() error { return nil }); err != nil {
		t.Errorf("got %v without a panic", err)
	}
}

func TestInputLimit(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(200, 200))
	_, err := Image(context.Background(), bytes.NewReader(src), Spec{}, Limits{MaxInputBytes: int64(len(src)) / 2}, io.Discard)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
	// Exactly at the limit is fine, and what follows the image is not read.
	trailing := io.MultiReader(bytes.NewReader(src), iotest.ErrReader(errors.New("read past the image")))
	if _, err := Image(context.Background(), trailing, Spec{}, Limits{MaxInputBytes: int64(len(src))}, io.Discard); err != nil {
		t.Errorf("an image of exactly MaxInputBytes: %v", err)
	}
}

func TestOutputLimit(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(200, 200))
	var out bytes.Buffer
	_, err := Image(context.Background(), bytes.NewReader(src), Spec{}, Limits{MaxOutputBytes: 1000}, &out)
	if !errors.Is(err, ErrTooLarge) || out.Len() != 0 {
		t.Errorf("got %v and %d bytes, want ErrTooLarge and nothing", err, out.Len())
	}
}

func TestReaderError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(encodePNG(t, gradient(64, 64))[:100]), iotest.ErrReader(boom))
	_, err := Image(context.Background(), src, Spec{}, Limits{}, io.Discard)
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Errorf("got %v, want the reader's error, not ErrCorrupt", err)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
