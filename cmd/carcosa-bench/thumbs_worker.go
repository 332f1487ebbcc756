package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/carcosa-dev/carcosa/transform"
)

// The child processes of -thumbs. Both run apart from the bench so that
// the bench's own peak RSS stays small: Linux counts the parent's peak in
// the Maxrss of every child it starts afterwards (see thumbs.go).

// thumbSpec is the thumbnail both sides make: 256×256, scaled to cover and
// centre-cropped, JPEG at transform.DefaultQuality.
var thumbSpec = transform.Spec{Width: 256, Height: 256, Fit: transform.Cover, Format: transform.JPEG}

// thumbsWorker is the hidden subcommand that thumbnails with Carcosa:
//
//	carcosa-bench thumbs-worker [-engine go|vips] -in DIR -out DIR [-parallel N]
//
// It makes thumbSpec of every *.jpg in -in, in name order, into a file of
// the same name in -out, -parallel at once, with one engine of default
// Limits. Before the first it prints its peak RSS so far (VmHWM) on stdout
// as "rss-start BYTES".
func thumbsWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("carcosa-bench thumbs-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "directory of the source JPEGs")
	out := fs.String("out", "", "directory for the thumbnails")
	parallel := fs.Int("parallel", 1, "thumbnails made at once")
	engineName := fs.String("engine", "go", "the transform.Engine: go, or vips when built with cgo")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *parallel < 1 {
		return errors.New("thumbs-worker: needs -in, -out and a positive -parallel")
	}
	newEngine, ok := thumbsEngines[*engineName]
	if !ok {
		return fmt.Errorf("thumbs-worker: no engine %q in this build", *engineName)
	}
	eng, err := newEngine()
	if err != nil {
		return err
	}
	files, err := sourceJPEGs(*in)
	if err != nil {
		return err
	}
	st, err := procStatus(os.Getpid())
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "rss-start %d\n", st["VmHWM"]); err != nil {
		return err
	}
	return forEach(ctx, *parallel, len(files), func() func(i int) error {
		return func(i int) error {
			name := files[i]
			if err := thumbnailFile(ctx, eng, filepath.Join(*in, name), filepath.Join(*out, name)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		}
	})
}

// thumbsEngines make the engines of thumbs-worker by name; thumbs_vips.go
// adds libvips' when built with cgo.
var thumbsEngines = map[string]func() (transform.Engine, error){
	"go": func() (transform.Engine, error) { return transform.New(transform.Limits{}), nil },
}

// thumbnailFile writes thumbSpec of the image at src to dst with eng.
func thumbnailFile(ctx context.Context, eng transform.Engine, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	mime, err := eng.Image(ctx, in, thumbSpec, w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && mime != "image/jpeg" {
		err = fmt.Errorf("transform.Image made %s, want image/jpeg", mime)
	}
	return err
}

// sourceJPEGs lists the *.jpg files of dir in name order.
func sourceJPEGs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".jpg") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s holds no .jpg file", dir)
	}
	return names, nil
}

// thumbSourceQuality is the JPEG quality of the generated sources.
const thumbSourceQuality = 90

// generateFlags parses the flags of a hidden subcommand that writes n
// images of width×height into the directory out.
func generateFlags(cmd, what string, args []string, stderr io.Writer) (out string, n, width, height int, err error) {
	fs := flag.NewFlagSet("carcosa-bench "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&out, "out", "", "directory for the "+what)
	fs.IntVar(&n, "n", 0, "how many")
	fs.IntVar(&width, "width", 0, "their width")
	fs.IntVar(&height, "height", 0, "their height")
	if err = fs.Parse(args); err != nil {
		return
	}
	if out == "" || n < 1 || width < 1 || height < 1 {
		err = fmt.Errorf("%s: needs -out and a positive -n, -width and -height", cmd)
	}
	return
}

// thumbsGenerate is the hidden subcommand that writes the sources:
//
//	carcosa-bench thumbs-generate -out DIR -n N -width W -height H
//
// It writes N different JPEGs of W×H at quality 90, src-001.jpg and on,
// one per core at once.
func thumbsGenerate(ctx context.Context, args []string, stderr io.Writer) error {
	out, n, width, height, err := generateFlags("thumbs-generate", "JPEGs", args, stderr)
	if err != nil {
		return err
	}
	return forEach(ctx, runtime.NumCPU(), n, func() func(i int) error {
		img := image.NewYCbCr(image.Rect(0, 0, width, height), image.YCbCrSubsampleRatio420)
		return func(i int) error {
			paintSource(img, uint64(i))
			return writeJPEG(filepath.Join(out, sourceName(i)), img)
		}
	})
}

// forEach runs n items on at most workers goroutines, each with a do
// made by newWorker, until the first error (which it returns) or ctx ends.
func forEach(ctx context.Context, workers, n int, newWorker func() func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(workers, n) {
		wg.Go(func() {
			do := newWorker()
			for i := next.Add(1) - 1; i < int64(n) && ctx.Err() == nil; i = next.Add(1) - 1 {
				if err := do(int(i)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func sourceName(i int) string { return fmt.Sprintf("src-%03d.jpg", i+1) }

func writeJPEG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = jpeg.Encode(w, img, &jpeg.Options{Quality: thumbSourceQuality})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// paintSource paints image number seed: a photo-like mix, different for
// every seed, of diagonal gradients, waves, a few dozen rectangles with
// sharp edges and fine luma and chroma noise, so that it compresses about
// as badly as a camera's picture does (a few MB for 12 MP at quality 90)
// and exercises the decoder as one would.
func paintSource(img *image.YCbCr, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x636172636f7361))
	w, h := img.Rect.Dx(), img.Rect.Dy()

	// Luma: a diagonal gradient plus separable waves, the rectangles'
	// offsets, and noise.
	gx, gy := r.Float64()*120/float64(w), r.Float64()*120/float64(h)
	col := make([]float64, w)
	fx, px := 2*math.Pi/(40+r.Float64()*400), r.Float64()*2*math.Pi
	for x := range col {
		col[x] = 40 + gx*float64(x) + 25*math.Sin(fx*float64(x)+px)
	}
	row := make([]float64, h)
	fy, py := 2*math.Pi/(40+r.Float64()*400), r.Float64()*2*math.Pi
	for y := range row {
		row[y] = gy*float64(y) + 25*math.Cos(fy*float64(y)+py)
	}
	type rect struct{ x0, y0, x1, y1, dy, dc int }
	rects := make([]rect, 30+r.IntN(30))
	for i := range rects {
		x0, y0 := r.IntN(w), r.IntN(h)
		rects[i] = rect{x0, y0, min(w, x0+1+r.IntN(w/3+1)), min(h, y0+1+r.IntN(h/3+1)), r.IntN(81) - 40, r.IntN(61) - 30}
	}
	offset := make([]int, w) // the rectangles' luma offset along one row
	noise := r.Uint64() | 1
	for y := range h {
		clear(offset)
		for _, q := range rects {
			if y >= q.y0 && y < q.y1 {
				for x := q.x0; x < q.x1; x++ {
					offset[x] += q.dy
				}
			}
		}
		line := img.Y[y*img.YStride : y*img.YStride+w]
		for x := range line {
			noise ^= noise << 13
			noise ^= noise >> 7
			noise ^= noise << 17
			v := int(col[x]+row[y]) + offset[x] + int(noise&15) - 8
			line[x] = uint8(min(max(v, 0), 255))
		}
	}

	// Chroma: two gradients crossing, the rectangles' tints, and noise.
	cw, ch := (w+1)/2, (h+1)/2
	cb0, cr0 := 96+r.IntN(64), 96+r.IntN(64)
	cbx, cry := (r.Float64()-0.5)*64/float64(cw), (r.Float64()-0.5)*64/float64(ch)
	tint := make([]int, cw)
	for y := range ch {
		clear(tint)
		for _, q := range rects {
			if 2*y >= q.y0 && 2*y < q.y1 {
				for x := q.x0 / 2; x < (q.x1+1)/2; x++ {
					tint[x] += q.dc
				}
			}
		}
		cb := img.Cb[y*img.CStride : y*img.CStride+cw]
		cr := img.Cr[y*img.CStride : y*img.CStride+cw]
		for x := range cb {
			noise ^= noise << 13
			noise ^= noise >> 7
			noise ^= noise << 17
			n := int(noise&7) - 4
			cb[x] = uint8(min(max(cb0+int(cbx*float64(x))+tint[x]+n, 0), 255))
			cr[x] = uint8(min(max(cr0+int(cry*float64(y))-tint[x]-n, 0), 255))
		}
	}
}
