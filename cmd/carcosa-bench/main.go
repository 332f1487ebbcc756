// Command carcosa-bench measures Carcosa's tus intake against bare tusd,
// side by side, in one run, on loopback, on the same disk, with the same
// client and chunking.
//
// Usage:
//
//	go run ./cmd/carcosa-bench [flags]
//	go run ./cmd/carcosa-bench -reps 1 -size 64MiB -large 256MiB -concurrent 20
//	go run ./cmd/carcosa-bench -markdown BENCHMARKS.md
//
// The server kinds:
//
//   - tusd: tusd's handler with its file store and an in-memory locker,
//     nothing else (no hooks, no notifications, logs discarded), served by
//     net/http.
//   - carcosa: a Carcosa Router on its embedded defaults (local storage,
//     SQLite), with one route that accepts any file. An upload counts as
//     done when the response that completes it says "Upload-State: ready":
//     the file has been verified, hashed and stored.
//   - tusd-s3, carcosa-s3: the same, staged and stored in a bucket of the
//     S3 endpoint -s3.
//
// With -clamd, the malware-scanning kinds (for the scenarios single and
// large):
//
//   - clamdscan: ClamAV's own client, "clamdscan --stream FILE", streaming
//     a file of the upload's size to that clamd; timed from its start to
//     its exit, which must report the file clean. Its configuration, which
//     names the socket, is written from -clamd.
//   - scan-client: Carcosa's clamd client alone, scan.Clamd.Scan of the
//     same file, in the bench's process.
//   - carcosa-clamd: the carcosa kind with Config.Scanner a scan.Clamd on
//     that clamd, on a route with AsyncAbove -1, so that the response to
//     the last PATCH waits for the scan, and AcceptUnscannable false.
//
// Both are compared with clamdscan. Before them, the bench checks that
// clamd finds EICAR at the end of a stream as long as the largest upload:
// a clamd whose MaxFileSize is smaller answers such files clean without
// scanning them. -goroutines N runs N small scans through scan.Clamd
// instead of the benchmark and reports the goroutines before and after.
//
// -thumbs N measures thumbnailing instead of the benchmark: it generates N
// different JPEGs of -thumbs-source pixels (4000x3000) once, then makes
// their 256×256 cover thumbnails, -reps times (3 unless given), with
// Carcosa's pure-Go engine and, when built with cgo, its libvips engine
// (transform/vips), each in a child process (this binary, re-executed as
// "thumbs-worker", one image after another, or -thumbs-parallel at
// once), with one vipsthumbnail process over all the files, and with one
// vipsthumbnail process per file. It reports the medians of
// thumbnails/s, wall and CPU seconds and peak RSS (each child's rusage
// Maxrss) as Markdown on stdout; vipsthumbnail must be in PATH (Debian:
// libvips-tools).
//
// -encode N measures output formats instead of the benchmark: it
// generates N JPEGs of -thumbs-source pixels, makes their 256×256 cover
// thumbnails, and encodes each as JPEG, WebP and AVIF through
// transform.Image, -reps times (3 unless given), in the bench's process,
// one at a time. It reports the median milliseconds and KiB per image and
// format, and the first call of each (which compiles the WebAssembly
// encoders), as Markdown on stdout.
//
// -decode-memory N measures the memory budget of image transforms
// instead of the benchmark: it generates N mostly uniform RGB PNGs of
// -decode-memory-source pixels (7000x7000: about 200 KB that decode to
// 190 MB), then transforms them all at once to 256×256 cover JPEGs with
// one transform.Transformer in a child process (this binary, re-executed
// as "decode-worker"), -reps times (3 unless given), with
// transform.Limits.MaxMemory at its default and with no budget. It
// reports the medians of the child's peak RSS and of what the transforms
// added to it as Markdown on stdout.
//
// -progress-latency N measures live progress across instances instead of
// the benchmark: two Routers share one Store and reach each other through
// the Broker -broker names (local, postgres with -postgres, redis with
// -redis); one upload of N PATCHes of -progress-chunk bytes (16 KiB) goes
// to the first, and the time from each PATCH written to its progress event
// on the second's event stream is reported as p50 and p99.
//
// -webhook-throughput N measures webhook delivery instead of the
// benchmark: N events through a webhook.Dispatcher on the in-process queue
// and SQLite (a Router's defaults) to a receiver on loopback that verifies
// each signature; it reports events delivered per second. The kind
// carcosa-webhooks, compared with carcosa, measures what webhooks cost the
// uploads themselves.
// The kind carcosa-metrics, compared with carcosa, measures what
// Config.Metrics costs them; carcosa-observed, what metrics and tracing
// (Config.TracerProvider, every trace sampled) cost together.
//
// Every server runs in a process of its own (this binary, re-executed with
// the hidden subcommand "serve"), with a fresh data directory, for each
// (kind, scenario, repetition). The kinds alternate their order from one
// repetition to the next, and the file system is synced before each run.
//
// The scenarios (-scenarios, all by default):
//
//   - single: one upload of -size bytes (1 GiB) in a single PATCH.
//   - chunked: one upload of -size bytes in PATCHes of -chunk bytes (8 MiB).
//   - concurrent: -concurrent uploads (200) of -concurrent-size bytes
//     (8 MiB) at once, each a POST and one PATCH.
//   - large: one upload of -large bytes (4 GiB), in a single PATCH unless
//     -large-chunk is set.
//
// The figures, each the median over -reps repetitions (5):
//
//   - MB/s to ready: the upload's size (in 10^6 bytes) divided by the time
//     from its POST to the response of its last PATCH.
//   - seconds to ready: that time.
//   - aggregate MB/s: all the bytes of the concurrent uploads divided by the
//     wall time from the first POST to the last response.
//   - p50 / p99 ms to ready: percentiles (nearest rank) of the concurrent
//     uploads' times to ready.
//   - peak RSS MiB: the server's peak resident set size during the scenario
//     (VmHWM of /proc/PID/status, reset through /proc/PID/clear_refs just
//     before the scenario).
//   - RSS added MiB: that peak minus the resident set size just before the
//     scenario.
//   - peak Go heap MiB: the largest runtime.MemStats.HeapInuse the server
//     saw during the scenario, sampled every 50 ms.
//
// The ratio columns divide each kind's figure by its reference's (tusd's,
// or clamdscan's): above 1 is better for throughput, below 1 is better for
// times and memory, as the "better" column says. Figures a kind does not
// measure (the memory of the kinds without a server) show as "-".
//
// The client reads every body from one data file of incompressible bytes,
// written once per run, so every kind reads the same page-cached bytes. Any
// failed request fails the run. Progress goes to stderr, the table to
// stdout; -markdown also writes it as Markdown with a description of the
// machine. -pprof DIR has each server write a CPU profile of each scenario
// run to DIR/KIND-SCENARIO-REP.pprof, and its allocations by site beside it
// (KIND-SCENARIO-REP.allocs.pprof).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	_ "github.com/carcosa-dev/carcosa/storage/azure"
	_ "github.com/carcosa-dev/carcosa/storage/gcs"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "carcosa-bench:", err)
		os.Exit(1)
	}
}

// run runs the command with args (without the program's name).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return serve(ctx, args[1:], stdin, stdout, stderr)
		case "thumbs-worker":
			return thumbsWorker(ctx, args[1:], stdout, stderr)
		case "thumbs-generate":
			return thumbsGenerate(ctx, args[1:], stderr)
		case "decode-worker":
			return decodeWorker(ctx, args[1:], stdout, stderr)
		case "decode-generate":
			return decodeGenerate(ctx, args[1:], stderr)
		}
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.goroutines > 0 {
		return countGoroutines(ctx, cfg.clamd, cfg.goroutines, stdout)
	}
	if cfg.thumbs > 0 {
		return runThumbs(ctx, cfg, stdout, stderr)
	}
	if cfg.decodeMemory > 0 {
		return runDecodeMemory(ctx, cfg, stdout, stderr)
	}
	if cfg.encode > 0 {
		return runEncode(ctx, cfg, stdout, stderr)
	}
	if cfg.progressLatency > 0 {
		return runProgressLatency(ctx, cfg, stdout, stderr)
	}
	if cfg.webhookThroughput > 0 {
		return runWebhookThroughput(ctx, cfg, stdout)
	}
	return runBench(ctx, cfg, stdout, stderr)
}

// config is what the flags ask for.
type config struct {
	reps           int
	scenarios      []string
	kinds          []string
	size           int64
	chunk          int64
	concurrent     int
	concurrentSize int64
	large          int64
	largeChunk     int64
	dir            string
	markdown       string
	pprofDir       string
	clamd          string
	goroutines     int
	s3             string
	thumbs         int
	thumbsWidth    int
	thumbsHeight   int
	thumbsParallel int
	decodeMemory   int
	encode         int
	decodeWidth    int
	decodeHeight   int

	progressLatency   int
	webhookThroughput int
	progressChunk     int64
	broker            string
	postgres          string
	redis             string

	args []string // as given, for the report
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{args: args}
	size, chunk, concSize, large, largeChunk := byteSize(1<<30), byteSize(8<<20), byteSize(8<<20), byteSize(4<<30), byteSize(0)
	fs := flag.NewFlagSet("carcosa-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: carcosa-bench [flags]\n\nMeasures Carcosa's tus intake against bare tusd. Flags:")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.reps, "reps", 5, "repetitions of each scenario per kind")
	scenarios := fs.String("scenarios", strings.Join(scenarioNames(), ","), "comma-separated scenarios to run")
	kinds := fs.String("kinds", "tusd,carcosa", "comma-separated server kinds to compare")
	fs.Var(&size, "size", "upload size of the single and chunked scenarios")
	fs.Var(&chunk, "chunk", "PATCH size of the chunked scenario")
	fs.IntVar(&cfg.concurrent, "concurrent", 200, "uploads at once in the concurrent scenario")
	fs.Var(&concSize, "concurrent-size", "size of each upload of the concurrent scenario")
	fs.Var(&large, "large", "upload size of the large scenario")
	fs.Var(&largeChunk, "large-chunk", "PATCH size of the large scenario (0: one PATCH)")
	fs.StringVar(&cfg.dir, "dir", os.TempDir(), "directory in which to make the temporary data directories")
	fs.StringVar(&cfg.markdown, "markdown", "", "also write the report as Markdown to this file")
	fs.StringVar(&cfg.pprofDir, "pprof", "", "directory for CPU profiles of the servers, one per run")
	fs.StringVar(&cfg.clamd, "clamd", os.Getenv("CARCOSA_TEST_CLAMD"), "clamd `address` (tcp://host:port, host:port or unix:///path) for the kinds clamdscan, scan-client and carcosa-clamd; its MaxFileSize, MaxScanSize and StreamMaxLength must cover the largest upload")
	fs.IntVar(&cfg.goroutines, "goroutines", 0, "instead of the benchmark, run this many small scans through Carcosa's clamd client at -clamd, 8 at once, and report the goroutines before and after")
	fs.StringVar(&cfg.s3, "s3", os.Getenv("CARCOSA_TEST_S3_ENDPOINT"), "S3 `endpoint` (such as a MinIO at http://127.0.0.1:9000) for the kinds tusd-s3 and carcosa-s3; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	fs.IntVar(&cfg.thumbs, "thumbs", 0, "instead of the benchmark, generate this many JPEGs of -thumbs-source and time their 256×256 thumbnails through Carcosa's engines (pure Go, and libvips when built with cgo) and through vipsthumbnail, each in a process of its own; -reps defaults to 3")
	thumbsSource := fs.String("thumbs-source", "4000x3000", "`WIDTHxHEIGHT` of the JPEGs of -thumbs")
	fs.IntVar(&cfg.thumbsParallel, "thumbs-parallel", 1, "thumbnails Carcosa makes at once in -thumbs")
	fs.IntVar(&cfg.encode, "encode", 0, "instead of the benchmark, generate this many JPEGs of -thumbs-source, make their 256×256 thumbnails and time encoding each as JPEG, WebP and AVIF through transform.Image, in this process; -reps defaults to 3")
	fs.IntVar(&cfg.decodeMemory, "decode-memory", 0, "instead of the benchmark, transform this many large PNGs of -decode-memory-source at once, with transform.Limits.MaxMemory at its default and with no budget, each in a process of its own, and report their peak RSS; -reps defaults to 3")
	decodeSource := fs.String("decode-memory-source", "7000x7000", "`WIDTHxHEIGHT` of the PNGs of -decode-memory")
	fs.IntVar(&cfg.progressLatency, "progress-latency", 0, "instead of the benchmark, send one upload of this many PATCHes to one instance and time each one's progress event on another instance's event stream; reports p50 and p99")
	fs.IntVar(&cfg.webhookThroughput, "webhook-throughput", 0, "instead of the benchmark, send this many webhook events through a Dispatcher on the in-process queue to a receiver on loopback that verifies them, and report events delivered per second")
	progressChunk := byteSize(16 << 10)
	fs.Var(&progressChunk, "progress-chunk", "PATCH size of -progress-latency")
	fs.StringVar(&cfg.broker, "broker", "local", "the Broker between the instances of -progress-latency: local (in-process), postgres (-postgres) or redis (-redis)")
	fs.StringVar(&cfg.postgres, "postgres", os.Getenv("CARCOSA_TEST_POSTGRES"), "PostgreSQL `DSN` of -broker postgres, which also keeps the instances' records")
	fs.StringVar(&cfg.redis, "redis", os.Getenv("CARCOSA_TEST_REDIS"), "Redis `URL` of -broker redis")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.size, cfg.chunk, cfg.concurrentSize = int64(size), int64(chunk), int64(concSize)
	cfg.progressChunk = int64(progressChunk)
	cfg.large, cfg.largeChunk = int64(large), int64(largeChunk)
	cfg.scenarios = splitList(*scenarios)
	cfg.kinds = splitList(*kinds)

	switch {
	case cfg.reps < 1:
		return nil, errors.New("-reps must be at least 1")
	case cfg.size < 1 || cfg.concurrentSize < 1 || cfg.large < 1:
		return nil, errors.New("-size, -concurrent-size and -large must be positive")
	case cfg.chunk < 1:
		return nil, errors.New("-chunk must be positive")
	case cfg.progressChunk < 1:
		return nil, errors.New("-progress-chunk must be positive")
	case cfg.largeChunk < 0:
		return nil, errors.New("-large-chunk must not be negative")
	case cfg.concurrent < 1:
		return nil, errors.New("-concurrent must be at least 1")
	case len(cfg.scenarios) == 0:
		return nil, errors.New("-scenarios names no scenario")
	case len(cfg.kinds) == 0:
		return nil, errors.New("-kinds names no kind")
	}
	for _, s := range cfg.scenarios {
		if _, ok := scenarioByName(s); !ok {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(scenarioNames(), ", "))
		}
	}
	for _, k := range cfg.kinds {
		if _, ok := kindByName(k); !ok {
			return nil, fmt.Errorf("unknown kind %q (have %s)", k, strings.Join(kindNames(), ", "))
		}
		if strings.HasSuffix(k, "-s3") && cfg.s3 == "" {
			return nil, fmt.Errorf("kind %q needs -s3 (or CARCOSA_TEST_S3_ENDPOINT)", k)
		}
		kind, _ := kindByName(k)
		if kind.Clamd && cfg.clamd == "" {
			return nil, fmt.Errorf("kind %q needs -clamd (or CARCOSA_TEST_CLAMD)", k)
		}
		for _, name := range cfg.scenarios {
			if s, _ := scenarioByName(name); kind.Scan != nil && !s.oneFile {
				return nil, fmt.Errorf("kind %q times one file: it runs the scenarios single and large, not %s", k, name)
			}
		}
	}
	if cfg.goroutines < 0 || cfg.goroutines > 0 && cfg.clamd == "" {
		return nil, errors.New("-goroutines needs a positive count and -clamd")
	}
	if err := thumbsFlags(cfg, fs, *thumbsSource); err != nil {
		return nil, err
	}
	if err := decodeFlags(cfg, fs, *decodeSource); err != nil {
		return nil, err
	}
	return cfg, nil
}

// thumbsFlags checks the flags of -thumbs and gives it its own default
// number of repetitions.
func thumbsFlags(cfg *config, fs *flag.FlagSet, source string) error {
	w, h, ok := strings.Cut(source, "x")
	var err error
	if cfg.thumbsWidth, err = strconv.Atoi(w); ok && err == nil {
		cfg.thumbsHeight, err = strconv.Atoi(h)
	}
	switch {
	case !ok || err != nil || cfg.thumbsWidth < 1 || cfg.thumbsHeight < 1:
		return fmt.Errorf("-thumbs-source %q: want WIDTHxHEIGHT, such as 4000x3000", source)
	case cfg.thumbs < 0:
		return errors.New("-thumbs must not be negative")
	case cfg.thumbsParallel < 1:
		return errors.New("-thumbs-parallel must be at least 1")
	case cfg.thumbs > 0 && cfg.goroutines > 0:
		return errors.New("-thumbs and -goroutines are separate modes; give one")
	case cfg.thumbs > 0 && cfg.markdown != "":
		return errors.New("-thumbs prints its report as Markdown on stdout; it does not take -markdown")
	case cfg.encode < 0:
		return errors.New("-encode must not be negative")
	case cfg.encode > 0 && (cfg.thumbs > 0 || cfg.goroutines > 0):
		return errors.New("-encode, -thumbs and -goroutines are separate modes; give one")
	case cfg.encode > 0 && cfg.markdown != "":
		return errors.New("-encode prints its report as Markdown on stdout; it does not take -markdown")
	}
	repsSet := false
	fs.Visit(func(f *flag.Flag) { repsSet = repsSet || f.Name == "reps" })
	if (cfg.thumbs > 0 || cfg.encode > 0) && !repsSet {
		cfg.reps = 3
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
