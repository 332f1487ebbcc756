package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// bench is one run of the benchmark.
type bench struct {
	cfg       *config
	kinds     []serverKind
	scenarios []scenario
	root      string // temporary root of the data file and data directories
	client    *tusClient
	stderr    io.Writer

	// results[scenario][kind][figure key] holds one value per repetition.
	results map[string]map[string]map[string][]float64
}

func runBench(ctx context.Context, cfg *config, stdout, stderr io.Writer) (err error) {
	started := time.Now()
	stderr = &lockedWriter{w: stderr} // the servers' stderr is copied in by other goroutines
	b := &bench{cfg: cfg, stderr: stderr, results: make(map[string]map[string]map[string][]float64)}
	for _, name := range cfg.kinds {
		k, _ := kindByName(name)
		b.kinds = append(b.kinds, k)
	}
	if cfg.clamd != "" {
		fmt.Fprintln(stderr, "carcosa-bench: malware scanning is not available in this build; skipping carcosa+clamd")
	}
	for _, name := range cfg.scenarios {
		s, _ := scenarioByName(name)
		b.scenarios = append(b.scenarios, s)
	}
	if cfg.pprofDir != "" {
		if err := os.MkdirAll(cfg.pprofDir, 0o755); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	if b.root, err = os.MkdirTemp(cfg.dir, "carcosa-bench-"); err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(b.root); err == nil {
			err = rerr
		}
	}()
	var need, largest int64
	for _, s := range b.scenarios {
		need = max(need, s.need(cfg))
		largest = max(largest, s.largest(cfg))
	}
	if fs, ferr := statFS(b.root); ferr == nil && fs.free < need+largest+(256<<20) {
		return fmt.Errorf("%s has %s free; the run needs about %s", b.root, mib(fs.free), mib(need+largest+(256<<20)))
	}

	dataPath := filepath.Join(b.root, "data.bin")
	t := time.Now()
	if err := writeDataFile(dataPath, need); err != nil {
		return fmt.Errorf("writing the data file: %w", err)
	}
	b.logf("wrote %s of data in %.1f s", formatSize(need), time.Since(t).Seconds())
	if b.client, err = newTusClient(dataPath, cfg.concurrent); err != nil {
		return err
	}
	defer b.client.Close()

	maxFile := max(cfg.size, cfg.large, cfg.concurrentSize)
	for _, s := range b.scenarios {
		for rep := range cfg.reps {
			order := slices.Clone(b.kinds)
			if rep%2 == 1 {
				slices.Reverse(order)
			}
			for _, k := range order {
				if err := b.runOne(ctx, s, k, rep, maxFile); err != nil {
					return fmt.Errorf("%s, %s, repetition %d: %w", s.name, k.Name, rep+1, err)
				}
			}
		}
	}

	tab := buildTable(b)
	tab.writeText(stdout)
	b.logf("done in %s", time.Since(started).Round(time.Second))
	if cfg.markdown != "" {
		if err := writeMarkdown(cfg.markdown, b, tab, time.Since(started)); err != nil {
			return fmt.Errorf("writing %s: %w", cfg.markdown, err)
		}
		b.logf("wrote %s", cfg.markdown)
	}
	return nil
}

// runOne runs scenario s once against a fresh server of kind k in a fresh
// data directory.
func (b *bench) runOne(ctx context.Context, s scenario, k serverKind, rep int, maxFile int64) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%s-%d", k.Name, s.name, rep+1)
	dir := filepath.Join(b.root, name)
	defer func() {
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
	}()
	profile := ""
	if b.cfg.pprofDir != "" {
		profile = filepath.Join(b.cfg.pprofDir, name+".pprof")
	}
	// Write back what earlier runs left dirty, so that it does not slow
	// this one down.
	syscall.Sync()

	p, err := startServer(ctx, k, serveOptions{Dir: dir, MaxFileSize: maxFile, Clamd: b.cfg.clamd, S3: b.cfg.s3}, profile, b.stderr)
	if err != nil {
		return err
	}
	defer func() {
		b.client.hc.CloseIdleConnections()
		if serr := p.stop(); err == nil {
			err = serr
		}
	}()
	baseline, err := p.memBaseline()
	if err != nil {
		return err
	}
	if profile != "" {
		if err := p.post("/debug/pprof/start"); err != nil {
			return err
		}
	}
	vals, err := s.run(ctx, b, target{endpoint: p.base + k.TusPath, wantState: k.WantState})
	if err != nil {
		return err
	}
	if profile != "" {
		if err := p.post("/debug/pprof/stop"); err != nil {
			return err
		}
	}
	peak, heap, err := p.memPeaks()
	if err != nil {
		return err
	}
	vals["peakRSS"] = mibf(peak)
	vals["addedRSS"] = mibf(peak - baseline)
	vals["peakHeap"] = mibf(int64(heap.PeakHeapInuse))
	b.record(s.name, k.Name, vals)

	var parts []string
	for _, f := range s.figures {
		parts = append(parts, fmt.Sprintf("%.*f %s", f.digits, vals[f.key], f.label))
	}
	b.logf("%-10s rep %d/%d  %-8s %s", s.name, rep+1, b.cfg.reps, k.Name, strings.Join(parts, ", "))
	return nil
}

func (b *bench) record(scenario, kind string, vals map[string]float64) {
	byKind := b.results[scenario]
	if byKind == nil {
		byKind = make(map[string]map[string][]float64)
		b.results[scenario] = byKind
	}
	byFig := byKind[kind]
	if byFig == nil {
		byFig = make(map[string][]float64)
		byKind[kind] = byFig
	}
	for key, v := range vals {
		byFig[key] = append(byFig[key], v)
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "carcosa-bench: "+format+"\n", args...)
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func mibf(n int64) float64 { return float64(n) / (1 << 20) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", mibf(n)) }
