package main

import (
	"context"
	"crypto/rand"
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

	dataPath  string           // the data file the client reads
	dataSize  int64            // its size
	maxUpload int64            // the largest upload of the run
	files     map[int64]string // files of exactly a size, for the Scan kinds

	confOnce sync.Once // writes conf, clamdscan's configuration
	conf     string
	confErr  error

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

	b.dataPath, b.dataSize = filepath.Join(b.root, "data.bin"), need
	t := time.Now()
	if err := writeDataFile(b.dataPath, need); err != nil {
		return fmt.Errorf("writing the data file: %w", err)
	}
	b.logf("wrote %s of data in %.1f s", formatSize(need), time.Since(t).Seconds())
	if b.client, err = newTusClient(b.dataPath, cfg.concurrent); err != nil {
		return err
	}
	defer b.client.Close()

	for _, s := range b.scenarios {
		b.maxUpload = max(b.maxUpload, s.upload(cfg))
	}
	if slices.ContainsFunc(b.kinds, func(k serverKind) bool { return k.Clamd }) {
		t := time.Now()
		if err := checkClamd(ctx, cfg.clamd, b.maxUpload); err != nil {
			return err
		}
		b.logf("clamd at %s found EICAR at the end of a %s stream in %.1f s", cfg.clamd, formatSize(b.maxUpload), time.Since(t).Seconds())
	}
	if slices.ContainsFunc(b.kinds, func(k serverKind) bool { return k.Name == "clamdscan" }) {
		t := time.Now()
		if err := checkClamdscan(ctx, b, cfg.clamd, b.maxUpload); err != nil {
			return err
		}
		b.logf("clamdscan found EICAR at the end of a %s file in %.1f s", formatSize(b.maxUpload), time.Since(t).Seconds())
	}

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
	if k.Clamd {
		// clamd keeps the hashes of the files it found clean and skips
		// scanning them again: every run sends bytes clamd has not seen.
		if err := b.salt(); err != nil {
			return err
		}
	}
	if k.Scan != nil {
		return b.runScan(ctx, s, k, rep)
	}

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
	b.logRun(s, k, rep, vals)
	return nil
}

func (b *bench) logRun(s scenario, k serverKind, rep int, vals map[string]float64) {
	var parts []string
	for _, f := range s.figures {
		if v, ok := vals[f.key]; ok {
			parts = append(parts, fmt.Sprintf("%.*f %s", f.digits, v, f.label))
		}
	}
	b.logf("%-10s rep %d/%d  %-8s %s", s.name, rep+1, b.cfg.reps, k.Name, strings.Join(parts, ", "))
}

// runScan times kind k, which has no server, on the file of scenario s.
func (b *bench) runScan(ctx context.Context, s scenario, k serverKind, rep int) error {
	size := s.upload(b.cfg)
	path, err := b.fileOf(size)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := k.Scan(ctx, b, b.cfg.clamd, path); err != nil {
		return err
	}
	d := time.Since(start)
	vals := map[string]float64{"mbps": float64(size) / 1e6 / d.Seconds(), "seconds": d.Seconds()}
	b.record(s.name, k.Name, vals)
	b.logRun(s, k, rep, vals)
	return nil
}

// salt writes new random bytes over the first 16 of the data file and of
// the files of fileOf.
func (b *bench) salt() error {
	var salt [16]byte
	rand.Read(salt[:])
	paths := []string{b.dataPath}
	for _, p := range b.files {
		paths = append(paths, p)
	}
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteAt(salt[:], 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fileOf returns the path of a file holding the first size bytes of the
// data file: the data file itself when it is that long.
func (b *bench) fileOf(size int64) (string, error) {
	if size == b.dataSize {
		return b.dataPath, nil
	}
	if p, ok := b.files[size]; ok {
		return p, nil
	}
	p := filepath.Join(b.root, fmt.Sprintf("data-%d.bin", size))
	src, err := os.Open(b.dataPath)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.Create(p)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, 0, size))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if b.files == nil {
		b.files = make(map[int64]string)
	}
	b.files[size] = p
	return p, nil
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
