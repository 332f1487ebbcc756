package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"

	"github.com/carcosa-dev/carcosa/transform"
)

// -encode measures what each output format costs to encode: the same
// thumbnails made once, then encoded as JPEG, WebP and AVIF, in the
// bench's process, one at a time.
//
// Encoding is timed through transform.Image, as a transform runs it,
// from a 256×256 thumbnail held in memory as an uncompressed PNG and kept
// at its size (Spec{Format: f}), so that all but the encoder is one cheap
// decode. That decode is timed apart (image/png alone) and reported
// beside, to be subtracted if wanted.

// encodeFormats are the formats -encode compares, in the report's order.
var encodeFormats = []transform.Format{transform.JPEG, transform.WebP, transform.AVIF}

func runEncode(ctx context.Context, cfg *config, stdout, stderr io.Writer) (err error) {
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "carcosa-bench: "+format+"\n", args...) }
	started := time.Now()
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	root, err := os.MkdirTemp(cfg.dir, "carcosa-bench-encode-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(root); err == nil {
			err = rerr
		}
	}()
	t := &thumbsRun{cfg: cfg, root: root, stderr: stderr}
	if err := t.self(ctx, "thumbs-generate", "-out", root, "-n", strconv.Itoa(cfg.encode),
		"-width", strconv.Itoa(cfg.thumbsWidth), "-height", strconv.Itoa(cfg.thumbsHeight)); err != nil {
		return fmt.Errorf("generating the images: %w", err)
	}
	files, err := sourceJPEGs(root)
	if err != nil {
		return err
	}

	// The thumbnails, as uncompressed PNGs.
	thumbs := make([][]byte, len(files))
	for i, name := range files {
		if thumbs[i], err = rawThumbnail(ctx, filepath.Join(root, name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	logf("made %d thumbnails of %d×%d sources", len(thumbs), cfg.thumbsWidth, cfg.thumbsHeight)

	// The first call of a format compiles its WebAssembly module.
	first := map[transform.Format]float64{}
	for _, f := range encodeFormats {
		start := time.Now()
		if _, err := transform.Image(ctx, bytes.NewReader(thumbs[0]), transform.Spec{Format: f}, transform.Limits{}, io.Discard); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		first[f] = msSince(start)
	}

	ms := map[transform.Format][]float64{}
	size := map[transform.Format][]float64{}
	var decode []float64
	for rep := range cfg.reps {
		for i, raw := range thumbs {
			start := time.Now()
			if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
				return err
			}
			decode = append(decode, msSince(start))
			for _, f := range encodeFormats {
				var out bytes.Buffer
				start := time.Now()
				if _, err := transform.Image(ctx, bytes.NewReader(raw), transform.Spec{Format: f}, transform.Limits{}, &out); err != nil {
					return fmt.Errorf("%s of %s: %w", f, files[i], err)
				}
				ms[f] = append(ms[f], msSince(start))
				size[f] = append(size[f], float64(out.Len())/1024)
			}
		}
		logf("encode rep %d/%d done", rep+1, cfg.reps)
	}

	info := describeSystem(root)
	fmt.Fprintf(stdout, "- Command: `%s`\n", commandLine(cfg.args))
	fmt.Fprintf(stdout, "- Go: %s %s/%s; CPU: %s, %d cores (runtime.NumCPU); RAM: %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, info.cpu, runtime.NumCPU(), info.ram)
	fmt.Fprintf(stdout, "- Images: %d thumbnails of %d×%d (cover) of generated %d×%d JPEGs, each encoded %d times per format, one at a time, at quality %d (AVIF: libavif's %s), transform.Image from an uncompressed PNG kept at its size; medians\n",
		len(thumbs), thumbSpec.Width, thumbSpec.Height, cfg.thumbsWidth, cfg.thumbsHeight, cfg.reps, transform.DefaultQuality, "60")
	fmt.Fprintf(stdout, "- Encoders: WebP %s, AVIF %s\n", encoderKind("webp"), encoderKind("avif"))
	fmt.Fprintln(stdout)
	var tab table
	tab.header = []string{"figure"}
	for _, f := range encodeFormats {
		tab.header = append(tab.header, string(f))
	}
	row := func(label string, v func(transform.Format) string) {
		r := []string{label}
		for _, f := range encodeFormats {
			r = append(r, v(f))
		}
		tab.rows = append(tab.rows, r)
	}
	row("ms per image (median)", func(f transform.Format) string { return formatFloat(median(ms[f]), 1) })
	row("ms per image, of which PNG decoding", func(transform.Format) string { return formatFloat(median(decode), 2) })
	row("KiB per image (median)", func(f transform.Format) string { return formatFloat(median(size[f]), 1) })
	row("first call ms (compiles WebP, AVIF)", func(f transform.Format) string { return formatFloat(first[f], 0) })
	tab.writeMarkdown(stdout)
	logf("done in %s", time.Since(started).Round(time.Second))
	return nil
}

// rawThumbnail makes thumbSpec of the JPEG at path and returns it as an
// uncompressed PNG.
func rawThumbnail(ctx context.Context, path string) ([]byte, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	var b bytes.Buffer
	spec := thumbSpec
	spec.Format = transform.PNG
	if _, err := transform.Image(ctx, in, spec, transform.Limits{}, &b); err != nil {
		return nil, err
	}
	img, err := png.Decode(&b)
	if err != nil {
		return nil, err
	}
	var raw bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&raw, img); err != nil {
		return nil, err
	}
	return raw.Bytes(), nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// encoderKind says which encoder of format the packages use: a system
// library when one loads, else WebAssembly.
func encoderKind(format string) string {
	err := webp.Dynamic()
	if format == "avif" {
		err = avif.Dynamic()
	}
	if err == nil {
		return "system library (dlopen)"
	}
	return "WebAssembly (wazero)"
}
