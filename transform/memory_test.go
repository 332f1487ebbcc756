package transform

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// costOf returns the bytes one transform of src by s reserves, alone on
// a Transformer of its own.
func costOf(t *testing.T, src []byte, s Spec) int64 {
	t.Helper()
	tf := New(Limits{})
	if _, err := tf.Image(context.Background(), bytes.NewReader(src), s, io.Discard); err != nil {
		t.Fatal(err)
	}
	if tf.held.Load() != 0 {
		t.Fatalf("%d bytes still held after the transform", tf.held.Load())
	}
	return tf.peak.Load()
}

func TestMemoryBudgetBoundsConcurrentTransforms(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(1000, 1000))
	spec := Spec{Width: 100, Height: 100}
	cost := costOf(t, src, spec)
	// The decoded image alone is 4 MB (RGB decodes to RGBA).
	if cost < 4_000_000 {
		t.Fatalf("a 1000×1000 PNG is estimated at %d bytes, less than its decoded pixels", cost)
	}
	// Room for two at once, not three.
	tf := New(Limits{MaxMemory: 2*cost + cost/2})

	const n = 8
	start := make(chan struct{})
	errs := make([]error, n)
	outs := make([]bytes.Buffer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = tf.Image(context.Background(), bytes.NewReader(src), spec, &outs[i])
		})
	}
	close(start)
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("transform %d: %v", i, err)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(outs[i].Bytes()))
		if err != nil || cfg.Width != 100 || cfg.Height != 100 {
			t.Errorf("transform %d made %+v, %v; want 100×100", i, cfg, err)
		}
	}
	if peak := tf.peak.Load(); peak > tf.lim.MaxMemory || peak < cost {
		t.Errorf("at most %d bytes were held at once, want between %d and MaxMemory %d", peak, cost, tf.lim.MaxMemory)
	}
	if held := tf.held.Load(); held != 0 {
		t.Errorf("%d bytes still held after all transforms", held)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestMemoryBudgetRefusesImageOverIt(t *testing.T) {
	t.Parallel()
	// 1500×1500 RGB decodes to 9 MB: over a budget of 8 MiB on its own.
	src := encodePNG(t, gradient(1500, 1500))
	tf := New(Limits{MaxMemory: 8 << 20})
	for name, run := range map[string]func(io.Reader) error{
		"Image": func(r io.Reader) error {
			_, err := tf.Image(context.Background(), r, Spec{Width: 10}, io.Discard)
			return err
		},
		"Rewrite": func(r io.Reader) error {
			_, err := tf.Rewrite(context.Background(), r, io.Discard)
			return err
		},
	} {
		r := &countingReader{r: bytes.NewReader(src)}
		err := run(r)
		if !errors.Is(err, ErrTooManyPixels) || !strings.Contains(err.Error(), "memory budget") {
			t.Errorf("%s: got %v, want ErrTooManyPixels over the memory budget", name, err)
		}
		// Refused from its header: the pixel data was never read.
		if r.n >= len(src)/2 {
			t.Errorf("%s read %d of the source's %d bytes", name, r.n, len(src))
		}
	}
	if peak := tf.peak.Load(); peak != 0 {
		t.Errorf("%d bytes were reserved for images that were refused", peak)
	}
	// Within the budget on another Transformer, it is fine.
	if _, err := New(Limits{MaxMemory: 64 << 20}).Image(context.Background(), bytes.NewReader(src), Spec{Width: 10}, io.Discard); err != nil {
		t.Errorf("with a budget of 64 MiB: %v", err)
	}
}

// A transform that waits gets the memory once the one before it is done,
// and that one has its garbage collected first, so that the heap does not
// hold both.
func TestMemoryBudgetQueuesAndCollects(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(1000, 1000))
	spec := Spec{Width: 100}
	cost := costOf(t, src, spec)
	tf := New(Limits{MaxMemory: cost}) // one at a time

	// The first stalls in the middle of its pixels, its memory reserved.
	pr, pw := io.Pipe()
	first := make(chan error, 1)
	go func() {
		_, err := tf.Image(context.Background(), pr, spec, io.Discard)
		first <- err
	}()
	if _, err := pw.Write(src[:len(src)/2]); err != nil {
		t.Fatal(err)
	}
	if held := tf.held.Load(); held != cost {
		t.Fatalf("%d bytes held while decoding, want %d", held, cost)
	}
	second := make(chan error, 1)
	go func() {
		_, err := tf.Image(context.Background(), bytes.NewReader(src), spec, io.Discard)
		second <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); tf.waiting.Load() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second transform does not wait")
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	pw.Write(src[len(src)/2:])
	pw.Close()
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second: %v", err)
	}
	runtime.ReadMemStats(&after)
	if after.NumForcedGC == before.NumForcedGC {
		t.Error("no collection ran before the waiting transform got its memory")
	}
	if peak := tf.peak.Load(); peak != cost {
		t.Errorf("at most %d bytes were held at once, want %d", peak, cost)
	}
}

func TestMemoryBudgetWaitHonoursContext(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, gradient(200, 200))
	tf := New(Limits{MaxMemory: 8 << 20})
	// Another transform holds the whole budget.
	if err := tf.sem.Acquire(context.Background(), tf.lim.MaxMemory); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	_, err := tf.Image(ctx, bytes.NewReader(src), Spec{Width: 10}, &out)
	if !errors.Is(err, context.DeadlineExceeded) || out.Len() != 0 {
		t.Fatalf("waiting on a spent budget gave %v and %d bytes, want context.DeadlineExceeded and nothing", err, out.Len())
	}
	tf.sem.Release(tf.lim.MaxMemory)
	if _, err := tf.Image(context.Background(), bytes.NewReader(src), Spec{Width: 10}, &out); err != nil {
		t.Errorf("once the budget is free: %v", err)
	}
}

// Not parallel: it measures what the process allocates, which other tests
// would disturb.
func TestMemoryEstimateCoversAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated")
	}
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rgb := encodePNG(t, gradient(1200, 900))
	paletted := image.NewPaletted(image.Rect(0, 0, 1200, 900), color.Palette{color.Black, color.White, color.Transparent})
	for i := range paletted.Pix {
		paletted.Pix[i] = uint8(i / 1000 % 3)
	}
	jpg := encodeJPEG(t, gradient(1200, 900))
	tests := []struct {
		name    string
		src     []byte
		spec    Spec
		rewrite bool
	}{
		{"PNG cover", rgb, Spec{Width: 200, Height: 200}, false},
		{"PNG one side", rgb, Spec{Width: 700}, false},
		{"PNG contain padded", rgb, Spec{Width: 1000, Height: 1000, Fit: Contain, Format: JPEG}, false},
		{"PNG fill", rgb, Spec{Width: 300, Height: 800, Fit: Fill, Format: JPEG}, false},
		{"PNG to GIF", rgb, Spec{Width: 600, Format: GIF}, false},
		{"PNG rewrite", rgb, Spec{}, true},
		{"paletted PNG", encodePNG(t, paletted), Spec{Width: 300, Format: JPEG}, false},
		{"interlaced PNG", read("interlaced.png"), Spec{Width: 100}, false},
		{"small source covered", encodePNG(t, gradient(60, 40)), Spec{Width: 900, Height: 900, Format: JPEG}, false},
		{"JPEG inside", jpg, Spec{Width: 300, Height: 300, Fit: Inside}, false},
		{"JPEG rotated", withExif(jpg, 6), Spec{Width: 300}, false},
		{"JPEG rewrite", jpg, Spec{}, true},
		{"progressive JPEG", read("progressive.jpg"), Spec{Width: 100, Height: 100}, false},
		{"GIF rewrite", animation(t, 400, 300, 12), Spec{}, true},
		{"GIF", animation(t, 400, 300, 12), Spec{Width: 100, Format: JPEG}, false},
		{"lossy WebP", read("lossy.webp"), Spec{Width: 50}, false},
		{"WebP with alpha", read("alpha.webp"), Spec{Width: 50}, false},
		{"lossless WebP", read("lossless.webp"), Spec{}, true},
	}
	// What is not counted: the encoded output, and the codecs' small
	// buffers (rows, tables, a deflate compressor's state).
	const slack = 1 << 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := New(Limits{})
			var out bytes.Buffer
			out.Grow(4 << 20) // allocated before the measure
			run := func() error {
				if tt.rewrite {
					_, err := tf.Rewrite(context.Background(), bytes.NewReader(tt.src), &out)
					return err
				}
				_, err := tf.Image(context.Background(), bytes.NewReader(tt.src), tt.spec, &out)
				return err
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := run()
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			allocated := int64(after.TotalAlloc - before.TotalAlloc)
			estimate := tf.peak.Load()
			// The encoder's buffer grows by doubling to the output's length.
			uncounted := slack + 2*int64(out.Len())
			t.Logf("estimated %d bytes, allocated %d (output %d)", estimate, allocated, out.Len())
			if allocated > estimate+uncounted {
				t.Errorf("allocated %d bytes, more than the estimate %d and %d uncounted", allocated, estimate, uncounted)
			}
		})
	}
}
