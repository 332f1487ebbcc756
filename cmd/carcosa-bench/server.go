package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// serve is the hidden subcommand that runs one server:
//
//	carcosa-bench serve -kind tusd|carcosa -dir DIR [-addr 127.0.0.1:0] [-cpuprofile FILE]
//
// It prints its listening address on stdout, as one line, and serves until
// stdin is closed or ctx is done. Besides the kind's upload handler it
// answers under /debug/:
//
//	GET  /debug/mem          memFigures as JSON
//	POST /debug/mem/reset    collect garbage, then restart the heap peak
//	POST /debug/pprof/start  start the CPU profile into -cpuprofile
//	POST /debug/pprof/stop   stop it and write the file
func serve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("carcosa-bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kindName := fs.String("kind", "", "server kind: "+fmt.Sprint(kindNames()))
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	cpuprofile := fs.String("cpuprofile", "", "file for the CPU profile taken between /debug/pprof/start and stop")
	var o serveOptions
	fs.StringVar(&o.Dir, "dir", "", "data directory")
	fs.Int64Var(&o.MaxFileSize, "max-size", 0, "largest upload to accept, in bytes")
	fs.StringVar(&o.Clamd, "clamd", "", "clamd address")
	fs.StringVar(&o.S3, "s3", "", "S3 endpoint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, ok := kindByName(*kindName)
	if !ok {
		return fmt.Errorf("serve: unknown kind %q", *kindName)
	}
	if o.Dir == "" {
		return errors.New("serve: -dir is required")
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, stdin) // returns when the bench closes our stdin
		cancel()
	}()

	h, release, err := k.Handler(o)
	if err != nil {
		return err
	}
	sampler := &memSampler{}
	go sampler.run(ctx, 50*time.Millisecond)
	mux := http.NewServeMux()
	mux.Handle("/debug/", debugHandler(sampler, *cpuprofile))
	mux.Handle("/", h)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		release()
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintln(stdout, ln.Addr().String())

	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(sctx)
		scancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, release())
}

// memFigures is the answer of GET /debug/mem, in bytes.
type memFigures struct {
	HeapAlloc     uint64 `json:"heapAlloc"`
	HeapInuse     uint64 `json:"heapInuse"`
	Sys           uint64 `json:"sys"`
	PeakHeapInuse uint64 `json:"peakHeapInuse"` // since the last reset
	NumGC         uint32 `json:"numGC"`
}

// memSampler keeps the peak of HeapInuse.
type memSampler struct {
	mu   sync.Mutex
	peak uint64
}

func (s *memSampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *memSampler) sample() memFigures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mu.Lock()
	s.peak = max(s.peak, ms.HeapInuse)
	f := memFigures{
		HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, Sys: ms.Sys,
		PeakHeapInuse: s.peak, NumGC: ms.NumGC,
	}
	s.mu.Unlock()
	return f
}

func (s *memSampler) reset() {
	runtime.GC()
	s.mu.Lock()
	s.peak = 0
	s.mu.Unlock()
	s.sample()
}

func debugHandler(s *memSampler, cpuprofile string) http.Handler {
	var (
		mu  sync.Mutex
		out *os.File
	)
	m := http.NewServeMux()
	m.HandleFunc("GET /debug/mem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.sample())
	})
	m.HandleFunc("POST /debug/mem/reset", func(w http.ResponseWriter, r *http.Request) {
		s.reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /debug/pprof/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if cpuprofile == "" || out != nil {
			http.Error(w, "no profile to start", http.StatusConflict)
			return
		}
		f, err := os.Create(cpuprofile)
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out = f
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /debug/pprof/stop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if out == nil {
			http.Error(w, "no profile running", http.StatusConflict)
			return
		}
		pprof.StopCPUProfile()
		err := out.Close()
		out = nil
		// Beside the CPU profile, the allocations since the start, by
		// site: what a scenario's peak heap is made of.
		if err == nil {
			err = writeProfile("allocs", strings.TrimSuffix(cpuprofile, ".pprof")+".allocs.pprof")
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return m
}

// writeProfile writes the runtime profile name (see pprof.Lookup) to path.
func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup(name).WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
