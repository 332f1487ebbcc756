package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/carcosa-dev/carcosa/transform"
)

// -decode-memory measures what transform.Limits.MaxMemory does to the
// memory of transforms made at once: N large, highly compressible PNGs
// (a decompression bomb of the mild kind: 200 KB files that decode to
// 190 MB) are all transformed at once by one transform.Transformer, in a
// child process, with the default budget and with none. Each child's peak
// RSS is its VmHWM at its exit, read as for -thumbs.

// decodeBudgets are the budgets compared: the default, and none.
var decodeBudgets = []struct {
	name string
	max  int64
}{
	{fmt.Sprintf("%d MiB (default)", transform.DefaultMaxMemory>>20), transform.DefaultMaxMemory},
	{"none", math.MaxInt64},
}

func runDecodeMemory(ctx context.Context, cfg *config, stdout, stderr io.Writer) (err error) {
	t := &thumbsRun{cfg: cfg, stderr: stderr}
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	if t.root, err = os.MkdirTemp(cfg.dir, "carcosa-bench-decode-"); err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(t.root); err == nil {
			err = rerr
		}
	}()
	src := filepath.Join(t.root, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	if err := t.self(ctx, "decode-generate", "-out", src, "-n", strconv.Itoa(cfg.decodeMemory),
		"-width", strconv.Itoa(cfg.decodeWidth), "-height", strconv.Itoa(cfg.decodeHeight)); err != nil {
		return fmt.Errorf("generating the images: %w", err)
	}
	var total int64
	for i := range cfg.decodeMemory {
		fi, err := os.Stat(filepath.Join(src, pngName(i)))
		if err != nil {
			return err
		}
		total += fi.Size()
	}
	t.logf("generated %d PNGs of %d×%d (%d KiB each on average)", cfg.decodeMemory, cfg.decodeWidth, cfg.decodeHeight, total/int64(cfg.decodeMemory)>>10)
	exe, err := os.Executable()
	if err != nil {
		return err
	}

	type result struct{ peak, added, secs []float64 }
	results := make([]result, len(decodeBudgets))
	for rep := range cfg.reps {
		order := []int{0, 1}
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for _, b := range order {
			budget := decodeBudgets[b]
			u, output, err := t.runTraced(ctx, exe, "decode-worker", "-in", src, "-n", strconv.Itoa(cfg.decodeMemory),
				"-max-memory", strconv.FormatInt(budget.max, 10))
			if err != nil {
				return fmt.Errorf("decode-worker, MaxMemory %s: %w: %s", budget.name, err, output)
			}
			for line := range strings.Lines(output) {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "rss-start" {
					u.startRSS, _ = strconv.ParseInt(f[1], 10, 64)
				}
			}
			if u.startRSS == 0 {
				return fmt.Errorf("decode-worker did not report its RSS at start: %s", output)
			}
			r := &results[b]
			r.peak = append(r.peak, mibf(u.peakRSS))
			r.added = append(r.added, mibf(u.peakRSS-u.startRSS))
			r.secs = append(r.secs, u.wall.Seconds())
			t.logf("decode rep %d/%d  MaxMemory %-16s peak RSS %.1f MiB, added %.1f MiB, %.2f s",
				rep+1, cfg.reps, budget.name, mibf(u.peakRSS), mibf(u.peakRSS-u.startRSS), u.wall.Seconds())
		}
	}

	info := describeSystem(t.root)
	w := stdout
	fmt.Fprintf(w, "- Command: `%s`\n", commandLine(cfg.args))
	fmt.Fprintf(w, "- Go: %s %s/%s; CPU: %s, %d cores (runtime.NumCPU); RAM: %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, info.cpu, runtime.NumCPU(), info.ram)
	fmt.Fprintf(w, "- Images: %d RGB PNGs of %d×%d, mostly uniform (%d KiB each on average), all transformed at once to %d×%d cover JPEGs by one `transform.Transformer` in a child process\n",
		cfg.decodeMemory, cfg.decodeWidth, cfg.decodeHeight, total/int64(cfg.decodeMemory)>>10, thumbSpec.Width, thumbSpec.Height)
	fmt.Fprintf(w, "- Medians over %d repetitions; peak RSS is the child's VmHWM at its exit, RSS added that minus its VmHWM before the first image\n", cfg.reps)
	fmt.Fprintln(w)
	tab := table{header: []string{"MaxMemory", "peak RSS MiB", "RSS added MiB", "seconds"}}
	for i, b := range decodeBudgets {
		r := results[i]
		tab.rows = append(tab.rows, []string{b.name, formatFloat(median(r.peak), 1), formatFloat(median(r.added), 1), formatFloat(median(r.secs), 2)})
	}
	tab.writeMarkdown(w)
	return nil
}

// decodeWorker is the hidden subcommand that transforms the PNGs:
//
//	carcosa-bench decode-worker -in DIR -n N -max-memory BYTES
//
// It makes thumbSpec of the N files of -in, all at once, with one
// Transformer whose MaxMemory is BYTES. Before the first it prints its
// peak RSS so far (VmHWM) on stdout as "rss-start BYTES".
func decodeWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("carcosa-bench decode-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "directory of the PNGs")
	n := fs.Int("n", 0, "how many")
	maxMemory := fs.Int64("max-memory", 0, "transform.Limits.MaxMemory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *n < 1 || *maxMemory < 1 {
		return errors.New("decode-worker: needs -in and a positive -n and -max-memory")
	}
	// The sources are read whole before the measure starts, as a server
	// holding requests' bodies would have them.
	srcs := make([][]byte, *n)
	for i := range srcs {
		b, err := os.ReadFile(filepath.Join(*in, pngName(i)))
		if err != nil {
			return err
		}
		srcs[i] = b
	}
	st, err := procStatus(os.Getpid())
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "rss-start %d\n", st["VmHWM"]); err != nil {
		return err
	}
	tf := transform.New(transform.Limits{MaxMemory: *maxMemory})
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Go(func() {
			var out bytes.Buffer
			if _, err := tf.Image(ctx, bytes.NewReader(src), thumbSpec, &out); err != nil {
				errs[i] = fmt.Errorf("%s: %w", pngName(i), err)
				return
			}
			cfg, _, err := image.DecodeConfig(&out)
			if err == nil && (cfg.Width != thumbSpec.Width || cfg.Height != thumbSpec.Height) {
				err = fmt.Errorf("made %d×%d", cfg.Width, cfg.Height)
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", pngName(i), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// decodeGenerate is the hidden subcommand that writes the PNGs:
//
//	carcosa-bench decode-generate -out DIR -n N -width W -height H
//
// It writes N different W×H opaque PNGs, src-001.png and on: a uniform
// grey with a few bands of another, so that each compresses to about
// 1/1000 of its pixels.
func decodeGenerate(ctx context.Context, args []string, stderr io.Writer) error {
	out, n, width, height, err := generateFlags("decode-generate", "PNGs", args, stderr)
	if err != nil {
		return err
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := rand.New(rand.NewPCG(uint64(i), 0x706e67))
		bg := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		band := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		for y := range height {
			c := bg
			if (y/(50+i))%7 == 0 {
				c = band
			}
			row := img.Pix[y*img.Stride : y*img.Stride+4*width]
			for x := 0; x < len(row); x += 4 {
				row[x], row[x+1], row[x+2], row[x+3] = c.R, c.G, c.B, c.A
			}
		}
		f, err := os.Create(filepath.Join(out, pngName(i)))
		if err != nil {
			return err
		}
		err = png.Encode(f, img)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	syscall.Sync()
	return nil
}

func pngName(i int) string { return fmt.Sprintf("src-%03d.png", i+1) }

// decodeFlags checks the flags of -decode-memory.
func decodeFlags(cfg *config, fs *flag.FlagSet, source string) error {
	w, h, ok := strings.Cut(source, "x")
	var err error
	if cfg.decodeWidth, err = strconv.Atoi(w); ok && err == nil {
		cfg.decodeHeight, err = strconv.Atoi(h)
	}
	switch {
	case !ok || err != nil || cfg.decodeWidth < 1 || cfg.decodeHeight < 1:
		return fmt.Errorf("-decode-memory-source %q: want WIDTHxHEIGHT, such as 7000x7000", source)
	case cfg.decodeMemory < 0:
		return errors.New("-decode-memory must not be negative")
	case cfg.decodeMemory > 0 && (cfg.thumbs > 0 || cfg.goroutines > 0):
		return errors.New("-decode-memory, -thumbs and -goroutines are separate modes; give one")
	case cfg.decodeMemory > 0 && cfg.markdown != "":
		return errors.New("-decode-memory prints its report as Markdown on stdout; it does not take -markdown")
	}
	repsSet := false
	fs.Visit(func(f *flag.Flag) { repsSet = repsSet || f.Name == "reps" })
	if cfg.decodeMemory > 0 && !repsSet {
		cfg.reps = 3
	}
	return nil
}
