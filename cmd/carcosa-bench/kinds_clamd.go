package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/scan"
)

// The clamd kinds measure malware scanning: Carcosa with a scanner
// (carcosa-clamd) beside ClamAV's own client (clamdscan) streaming the same
// file to the same clamd, and Carcosa's clamd client alone (scan-client).

// scanTimeout bounds one scan, far above what the bench's sizes take.
const scanTimeout = 30 * time.Minute

// carcosaClamdHandler is the carcosa kind with every file scanned by the
// clamd at o.Clamd before its upload is answered.
func carcosaClamdHandler(o serveOptions) (http.Handler, func() error, error) {
	if o.Clamd == "" {
		return nil, nil, errors.New("carcosa-clamd needs -clamd")
	}
	sc, err := scan.NewClamd(o.Clamd, scan.ClamdOptions{MaxSize: o.MaxFileSize, Timeout: scanTimeout})
	if err != nil {
		return nil, nil, err
	}
	r, err := carcosa.New(carcosa.Config{
		DataDir:        o.Dir,
		BasePath:       "/",
		Logger:         slog.New(slog.DiscardHandler),
		Scanner:        sc,
		ProcessTimeout: scanTimeout,
	})
	if err != nil {
		return nil, nil, err
	}
	route := newBenchRoute(o)
	route.AcceptUnscannable = false // a file clamd does not take fails the run
	route.AsyncAbove = -1           // the last PATCH waits for the scan
	carcosa.Handle(r, benchRoute, route)
	return r, r.Close, nil
}

// clamdscanFile streams the file at path to clamd with ClamAV's clamdscan.
func clamdscanFile(ctx context.Context, b *bench, addr, path string) error {
	conf, err := b.clamdscanConf(addr)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "clamdscan", "-c", conf, "--stream", "--no-summary", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Exit status 1: malware found; 2: an error.
		return fmt.Errorf("clamdscan: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// clamdscanConf returns a clamd.conf for clamdscan naming the clamd at
// addr, written once into the bench's directory.
func (b *bench) clamdscanConf(addr string) (string, error) {
	b.confOnce.Do(func() {
		var conf string
		conf, b.confErr = clamdscanConfig(addr, b.maxUpload)
		if b.confErr != nil {
			return
		}
		b.conf = filepath.Join(b.root, "clamdscan.conf")
		b.confErr = os.WriteFile(b.conf, []byte(conf), 0o644)
	})
	return b.conf, b.confErr
}

// clamdscanConfig is the clamd.conf text that has clamdscan stream files
// of up to size bytes to the clamd at addr, in any form scan.NewClamd
// takes. clamdscan stops a stream at StreamMaxLength, 100 MiB unless
// set, and sends the end of the stream there without a word: clamd then
// scans and clears only the beginning of a larger file.
func clamdscanConfig(addr string, size int64) (string, error) {
	limit := fmt.Sprintf("StreamMaxLength %dM\n", max((size+1<<20-1)>>20, 1))
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		return "LocalSocket " + path + "\n" + limit, nil
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		return "", fmt.Errorf("-clamd %q: want tcp://host:port, host:port or unix:///path", addr)
	}
	return "TCPSocket " + port + "\nTCPAddr " + host + "\n" + limit, nil
}

// checkClamdscan makes sure that clamdscan sends clamd whole files of size
// bytes: a sparse one of zeros ending with EICAR must be found infected.
func checkClamdscan(ctx context.Context, b *bench, addr string, size int64) error {
	conf, err := b.clamdscanConf(addr)
	if err != nil {
		return err
	}
	path := filepath.Join(b.root, "eicar-at-the-end.bin")
	defer os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(scan.EICAR), max(size-int64(len(scan.EICAR)), 0))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "clamdscan", "-c", conf, "--stream", "--no-summary", path).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 && bytes.Contains(out, []byte("FOUND")) {
		return nil
	}
	return fmt.Errorf("clamdscan did not find EICAR at the end of a %s file (%v): %s", formatSize(size), err, strings.TrimSpace(string(out)))
}

// scanClientFile streams the file at path to clamd with scan.Clamd.
func scanClientFile(ctx context.Context, b *bench, addr, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	c, err := scan.NewClamd(addr, scan.ClamdOptions{MaxSize: fi.Size(), Timeout: scanTimeout})
	if err != nil {
		return err
	}
	v, err := c.Scan(ctx, f)
	if err != nil {
		return err
	}
	if v.Infected {
		return fmt.Errorf("scan.Clamd: the data file is infected (%s)", v.Signature)
	}
	return nil
}

// checkClamd makes sure that the clamd at addr answers and really scans
// streams of size bytes: one of zeros ending with EICAR must be found
// infected. A clamd whose MaxFileSize or MaxScanSize is below size answers
// such a stream clean unscanned, which would time no scan at all.
func checkClamd(ctx context.Context, addr string, size int64) error {
	c, err := scan.NewClamd(addr, scan.ClamdOptions{MaxSize: size, Timeout: scanTimeout})
	if err != nil {
		return fmt.Errorf("-clamd: %w", err)
	}
	if err := c.Ping(ctx); err != nil {
		return fmt.Errorf("-clamd: %w", err)
	}
	pad := max(size-int64(len(scan.EICAR)), 0)
	v, err := c.Scan(ctx, io.MultiReader(io.LimitReader(zeros{}, pad), strings.NewReader(scan.EICAR)))
	switch {
	case errors.Is(err, scan.ErrTooLarge):
		return fmt.Errorf("clamd at %s refuses a stream of %s: raise StreamMaxLength in its clamd.conf: %w", addr, formatSize(size), err)
	case err != nil:
		return fmt.Errorf("clamd at %s: %w", addr, err)
	case !v.Infected:
		return fmt.Errorf("clamd at %s answers a stream of %s ending with EICAR as clean: it does not scan that far; raise MaxFileSize and MaxScanSize in its clamd.conf", addr, formatSize(size))
	}
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// goroutineWorkers is how many scans the -goroutines check runs at once.
const goroutineWorkers = 8

// countGoroutines runs n scans through scan.Clamd at addr, goroutineWorkers
// at once, every other one of EICAR, and reports the process's goroutines
// before and after: a client that leaked one per scan would show n more.
func countGoroutines(ctx context.Context, addr string, n int, stdout io.Writer) error {
	c, err := scan.NewClamd(addr, scan.ClamdOptions{})
	if err != nil {
		return fmt.Errorf("-clamd: %w", err)
	}
	if err := c.Ping(ctx); err != nil {
		return fmt.Errorf("-clamd: %w", err)
	}
	clean := bytes.Repeat([]byte("carcosa "), 8<<10) // 64 KiB
	before := runtime.NumGoroutine()
	var (
		next, infected atomic.Int64
		wg             sync.WaitGroup
		mu             sync.Mutex
		firstErr       error
	)
	start := time.Now()
	for range goroutineWorkers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n) && ctx.Err() == nil; i = next.Add(1) - 1 {
				body, want := clean, false
				if i%2 == 1 {
					body, want = []byte(scan.EICAR), true
				}
				v, err := c.Scan(ctx, bytes.NewReader(body))
				if err == nil && v.Infected != want {
					err = fmt.Errorf("scan %d: infected %v, want %v", i, v.Infected, want)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				if v.Infected {
					infected.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	// Goroutines that have returned may take a moment to be counted out.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); after > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	fmt.Fprintf(stdout, "scan.Clamd: %d scans (%d of EICAR found infected, %d of 64 KiB clean), %d at once, in %.2f s (%.0f scans/s)\n",
		n, infected.Load(), int64(n)-infected.Load(), goroutineWorkers, took.Seconds(), float64(n)/took.Seconds())
	fmt.Fprintf(stdout, "goroutines: %d before, %d after\n", before, after)
	if after > before {
		return fmt.Errorf("%d goroutines more after %d scans", after-before, n)
	}
	return nil
}
