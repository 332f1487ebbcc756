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
// The ratio column divides each kind's figure by tusd's: above 1 is better
// for throughput, below 1 is better for times and memory, as the "better"
// column says.
//
// The client reads every body from one data file of incompressible bytes,
// written once per run, so every kind reads the same page-cached bytes. Any
// failed request fails the run. Progress goes to stderr, the table to
// stdout; -markdown also writes it as Markdown with a description of the
// machine. -pprof DIR has each server write a CPU profile of each scenario
// run to DIR/KIND-SCENARIO-REP.pprof.
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
	"strings"
	"syscall"
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
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, args[1:], stdin, stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
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
	s3             string
	args           []string // as given, for the report
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
	fs.StringVar(&cfg.clamd, "clamd", "", "clamd address, to also measure Carcosa with malware scanning")
	fs.StringVar(&cfg.s3, "s3", os.Getenv("CARCOSA_TEST_S3_ENDPOINT"), "S3 `endpoint` (such as a MinIO at http://127.0.0.1:9000) for the kinds tusd-s3 and carcosa-s3; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.size, cfg.chunk, cfg.concurrentSize = int64(size), int64(chunk), int64(concSize)
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
	}
	return cfg, nil
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
