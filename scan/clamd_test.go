package scan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/scan/scantest"
)

const mib = 1 << 20

// newClamd returns a Clamd for the shared clamd (testenv.Clamd).
func newClamd(t testing.TB, opts scan.ClamdOptions) *scan.Clamd {
	t.Helper()
	c, err := scan.NewClamd(testenv.ClamdAddr(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClamdConformance(t *testing.T) {
	c := newClamd(t, scan.ClamdOptions{})
	scantest.Run(t, func(t *testing.T) scan.Scanner { return c })
}

// serverLimit is the StreamMaxLength of the clamd of TestClamdServerLimit.
const serverLimit = 2 * mib

// TestClamdServerLimit runs the suite against a clamd whose StreamMaxLength
// is below the client's MaxSize, so that clamd refuses an over-long stream
// before the client would.
func TestClamdServerLimit(t *testing.T) {
	addr, _ := testenv.StartClamd(t, testenv.ClamdConfig{StreamMaxLength: serverLimit, MaxFileSize: serverLimit})
	c, err := scan.NewClamd(addr, scan.ClamdOptions{MaxSize: 4 * serverLimit})
	if err != nil {
		t.Fatal(err)
	}
	scantest.Run(t, func(t *testing.T) scan.Scanner { return c })

	t.Run("Refused", func(t *testing.T) {
		// The refusal races the client's writes; try it often.
		for i := range 20 {
			for _, size := range []int{serverLimit + 1, serverLimit + 100<<10, 3 * serverLimit} {
				v, err := c.Scan(t.Context(), io.LimitReader(scantest.Zeros{}, int64(size)))
				if !errors.Is(err, scan.ErrTooLarge) || !strings.Contains(err.Error(), "INSTREAM size limit exceeded") {
					t.Fatalf("try %d: Scan of %d bytes = %+v, %v; want scan.ErrTooLarge with clamd's reason", i, size, v, err)
				}
				if i == 0 {
					t.Logf("%d bytes: %v", size, err)
				}
			}
		}
	})
	t.Run("AtTheLimit", func(t *testing.T) {
		data := append(scantest.RandomBytes(serverLimit-len(scan.EICAR)), scan.EICAR...)
		v, err := c.Scan(t.Context(), bytes.NewReader(data))
		if err != nil || !v.Infected {
			t.Fatalf("Scan of %d bytes ending in EICAR = %+v, %v; want infected", len(data), v, err)
		}
	})
}

// TestClamdMaxFileSize pins the clamd behaviour that the package doc warns
// of, and the reason MaxSize must not exceed clamd's MaxFileSize: a stream
// within StreamMaxLength but over MaxFileSize is answered OK unscanned,
// even with EICAR at its start.
func TestClamdMaxFileSize(t *testing.T) {
	addr, _ := testenv.StartClamd(t, testenv.ClamdConfig{StreamMaxLength: 4 * mib, MaxFileSize: mib})
	c, err := scan.NewClamd(addr, scan.ClamdOptions{MaxSize: 4 * mib})
	if err != nil {
		t.Fatal(err)
	}
	random := scantest.RandomBytes(2 * mib)
	atLimit := append([]byte(scan.EICAR), random[:mib-len(scan.EICAR)]...)
	v, err := c.Scan(t.Context(), bytes.NewReader(atLimit))
	if err != nil || !v.Infected {
		t.Fatalf("Scan of MaxFileSize bytes starting with EICAR = %+v, %v; want infected", v, err)
	}
	over := append([]byte(scan.EICAR), random[:mib-len(scan.EICAR)+1]...)
	v, err = c.Scan(t.Context(), bytes.NewReader(over))
	if err != nil || v.Infected {
		t.Fatalf("Scan of MaxFileSize+1 bytes starting with EICAR = %+v, %v; clamd used to answer OK, unscanned: update the package doc", v, err)
	}
}

// TestClamdClientLimit checks that the client stops at MaxSize without
// sending more, before clamd (whose limit is higher) would.
func TestClamdClientLimit(t *testing.T) {
	c := newClamd(t, scan.ClamdOptions{MaxSize: mib})

	v, err := c.Scan(t.Context(), bytes.NewReader(scantest.RandomBytes(mib)))
	if err != nil || v.Infected {
		t.Fatalf("Scan of MaxSize bytes = %+v, %v; want clean", v, err)
	}

	r := &countingReader{r: scantest.Zeros{}}
	v, err = c.Scan(t.Context(), r)
	if !errors.Is(err, scan.ErrTooLarge) || v != (scan.Verdict{}) {
		t.Fatalf("Scan of an endless stream = %+v, %v; want scan.ErrTooLarge", v, err)
	}
	if strings.Contains(err.Error(), "clamd") {
		t.Errorf("the error, %q, is clamd's; want the client's", err)
	}
	// One chunk buffer: what was read past MaxSize is under a chunk.
	if n := r.n.Load(); n > mib+64<<10 {
		t.Errorf("read %d bytes of the stream for a MaxSize of %d", n, mib)
	}
}

// TestClamdChunks checks the framing: EICAR across chunk boundaries, and
// after a megabyte. The test database's signature matches anywhere.
func TestClamdChunks(t *testing.T) {
	c := newClamd(t, scan.ClamdOptions{ChunkSize: 16})
	v, err := c.Scan(t.Context(), bytes.NewReader([]byte("0123456789"+scan.EICAR)))
	if err != nil || !v.Infected || v.Signature == "" {
		t.Fatalf("Scan in 16-byte chunks = %+v, %v; want infected, with the signature's name", v, err)
	}

	c = newClamd(t, scan.ClamdOptions{})
	data := append(scantest.RandomBytes(mib+64<<10-20), scan.EICAR...)
	data = append(data, scantest.RandomBytes(1000)...)
	v, err = c.Scan(t.Context(), bytes.NewReader(data))
	if err != nil || !v.Infected || v.Signature == "" {
		t.Fatalf("Scan of EICAR across a chunk boundary after 1 MiB = %+v, %v; want infected, with the signature's name", v, err)
	}
}

// TestClamdGoroutines checks that no goroutine outlives a scan, on every
// path: clean, infected, a failing reader, over the limit, cancelled.
func TestClamdGoroutines(t *testing.T) {
	c := newClamd(t, scan.ClamdOptions{MaxSize: 64 << 10})
	clean := scantest.RandomBytes(10 << 10)
	infected := scantest.Zip("eicar.com", []byte(scan.EICAR))
	failing := errors.New("failing reader")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	before := settledGoroutines(-1)
	const scans = 1000
	for i := range scans {
		var err error
		switch i % 5 {
		case 0, 1:
			_, err = c.Scan(t.Context(), bytes.NewReader(clean))
		case 2:
			var v scan.Verdict
			if v, err = c.Scan(t.Context(), bytes.NewReader(infected)); err == nil && !v.Infected {
				t.Fatalf("scan %d: EICAR in a zip is clean", i)
			}
		case 3:
			_, err = c.Scan(t.Context(), io.MultiReader(bytes.NewReader(clean), &errorReader{failing}))
			if !errors.Is(err, failing) {
				t.Fatalf("scan %d of a failing reader: %v", i, err)
			}
			err = nil
		case 4:
			if i%2 == 0 {
				_, err = c.Scan(t.Context(), scantest.Zeros{})
				if !errors.Is(err, scan.ErrTooLarge) {
					t.Fatalf("scan %d of an endless stream: %v", i, err)
				}
			} else {
				_, err = c.Scan(cancelled, bytes.NewReader(clean))
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("scan %d with a cancelled context: %v", i, err)
				}
			}
			err = nil
		}
		if err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
	}
	after := settledGoroutines(before)
	t.Logf("goroutines: %d before %d scans, %d after", before, scans, after)
	if after != before {
		t.Errorf("goroutines went from %d to %d over %d scans; want no change", before, after, scans)
	}
}

// settledGoroutines returns the number of goroutines once it stops
// changing, or reaches want, within a second.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for range 100 {
		if n == want {
			break
		}
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n && want < 0 {
			break
		}
		n = m
	}
	return n
}

// TestClamdKilled kills clamd in the middle of a scan.
func TestClamdKilled(t *testing.T) {
	addr, proc := testenv.StartClamd(t, testenv.ClamdConfig{})
	c, err := scan.NewClamd(addr, scan.ClamdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const after = 300 * time.Millisecond
	time.AfterFunc(after, func() { proc.Kill() })
	start := time.Now()
	v, err := c.Scan(t.Context(), &scantest.SlowReader{Delay: time.Millisecond})
	took := time.Since(start)
	if !errors.Is(err, scan.ErrUnavailable) {
		t.Fatalf("Scan while clamd was killed = %+v, %v; want scan.ErrUnavailable", v, err)
	}
	if took < after || took > after+5*time.Second {
		t.Errorf("Scan returned after %v; clamd was killed after %v", took, after)
	}
	t.Logf("after %v: %v", took, err)

	if err := c.Ping(t.Context()); !errors.Is(err, scan.ErrUnavailable) {
		t.Errorf("Ping of a killed clamd: %v; want scan.ErrUnavailable", err)
	}
}

// TestClamdTimeout checks that Timeout bounds a scan whose reader is slow,
// and one whose clamd is stopped.
func TestClamdTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	t.Run("SlowReader", func(t *testing.T) {
		c := newClamd(t, scan.ClamdOptions{Timeout: timeout})
		start := time.Now()
		v, err := c.Scan(t.Context(), &scantest.SlowReader{Delay: 50 * time.Millisecond})
		took := time.Since(start)
		if !errors.Is(err, scan.ErrUnavailable) || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("Scan = %+v, %v; want scan.ErrUnavailable for the timeout", v, err)
		}
		if took < timeout || took > timeout+2*time.Second {
			t.Errorf("Scan took %v with a Timeout of %v", took, timeout)
		}
	})
	t.Run("ContextDeadline", func(t *testing.T) {
		c := newClamd(t, scan.ClamdOptions{})
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		v, err := c.Scan(ctx, &scantest.SlowReader{Delay: 50 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, scan.ErrUnavailable) {
			t.Fatalf("Scan = %+v, %v; want context.DeadlineExceeded, the caller's, not scan.ErrUnavailable", v, err)
		}
	})
	t.Run("StoppedClamd", func(t *testing.T) {
		addr, proc := testenv.StartClamd(t, testenv.ClamdConfig{})
		if err := proc.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer proc.Signal(syscall.SIGCONT)
		c, err := scan.NewClamd(addr, scan.ClamdOptions{Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		v, err := c.Scan(t.Context(), bytes.NewReader([]byte(scan.EICAR)))
		took := time.Since(start)
		if !errors.Is(err, scan.ErrUnavailable) {
			t.Fatalf("Scan by a stopped clamd = %+v, %v; want scan.ErrUnavailable", v, err)
		}
		if took > timeout+2*time.Second {
			t.Errorf("Scan took %v with a Timeout of %v", took, timeout)
		}
		if err := c.Ping(t.Context()); !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("Ping of a stopped clamd: %v; want scan.ErrUnavailable", err)
		}
	})
}

func TestClamdUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, a := range []string{addr, "unix://" + t.TempDir() + "/none.ctl"} {
		c, err := scan.NewClamd(a, scan.ClamdOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := c.Scan(t.Context(), bytes.NewReader([]byte("clean"))); !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("Scan at %s = %+v, %v; want scan.ErrUnavailable", a, v, err)
		}
		if err := c.Ping(t.Context()); !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("Ping at %s: %v; want scan.ErrUnavailable", a, err)
		}
	}
}

func TestClamdPingVersion(t *testing.T) {
	c := newClamd(t, scan.ClamdOptions{})
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	v, err := c.Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "ClamAV 1.") {
		t.Errorf("Version = %q; want ClamAV 1.x", v)
	}
	t.Logf("Version: %s", v)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping with a cancelled context: %v", err)
	}
}

func TestNewClamd(t *testing.T) {
	for _, addr := range []string{
		"tcp://127.0.0.1:3310",
		"tcp://[::1]:3310",
		"127.0.0.1:3310",
		"clamd.internal:3310",
		"unix:///run/clamav/clamd.ctl",
	} {
		if _, err := scan.NewClamd(addr, scan.ClamdOptions{}); err != nil {
			t.Errorf("NewClamd(%q): %v", addr, err)
		}
	}
	for _, addr := range []string{
		"",
		"127.0.0.1",
		":3310",
		"tcp://",
		"tcp://127.0.0.1",
		"tcp://127.0.0.1:0",
		"tcp://127.0.0.1:70000",
		"tcp://127.0.0.1:3310/path",
		"tcp://127.0.0.1:clamd",
		"http://127.0.0.1:3310",
		"unix://",
		"unix://relative/clamd.ctl",
		"/run/clamav/clamd.ctl",
	} {
		if _, err := scan.NewClamd(addr, scan.ClamdOptions{}); err == nil {
			t.Errorf("NewClamd(%q) accepted the address", addr)
		}
	}
	for _, opts := range []scan.ClamdOptions{
		{MaxSize: -1},
		{Timeout: -time.Second},
		{DialTimeout: -time.Second},
		{ChunkSize: -1},
		{ChunkSize: 32 << 20},
	} {
		if _, err := scan.NewClamd("127.0.0.1:3310", opts); err == nil {
			t.Errorf("NewClamd accepted %+v", opts)
		}
	}
	c, err := scan.NewClamd("127.0.0.1:3310", scan.ClamdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MaxSize(); got != 100*mib {
		t.Errorf("MaxSize() = %d; want the default, 100 MiB", got)
	}
}

// BenchmarkClamdInstream scans 256 MiB of random bytes; it needs the shared
// clamd's StreamMaxLength and MaxFileSize of 512M (scripts/clamd-test-setup).
//
//	go test -run '^$' -bench ClamdInstream -benchtime 5x ./scan
func BenchmarkClamdInstream(b *testing.B) {
	const size = 256 * mib
	c := newClamd(b, scan.ClamdOptions{MaxSize: size})
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{}).Read(data)
	b.SetBytes(size)
	for b.Loop() {
		v, err := c.Scan(b.Context(), bytes.NewReader(data))
		if err != nil || v.Infected {
			b.Fatalf("Scan = %+v, %v; want clean", v, err)
		}
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n.Add(int64(n))
	return n, err
}

type errorReader struct{ err error }

func (r *errorReader) Read([]byte) (int, error) { return 0, r.err }

// TestClamdCheckLimit: CheckLimit passes when clamd examines MaxSize bytes,
// and fails when its MaxFileSize (it would answer clean) or its
// StreamMaxLength (it refuses) is smaller.
func TestClamdCheckLimit(t *testing.T) {
	addr, _ := testenv.StartClamd(t, testenv.ClamdConfig{StreamMaxLength: 4 * mib, MaxFileSize: mib})
	for _, tc := range []struct {
		max int64
		ok  bool
	}{{mib, true}, {2 * mib, false}, {8 * mib, false}} {
		c, err := scan.NewClamd(addr, scan.ClamdOptions{MaxSize: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckLimit(t.Context())
		if tc.ok && err != nil {
			t.Errorf("MaxSize %d: %v", tc.max, err)
		}
		if !tc.ok && !errors.Is(err, scan.ErrLimitNotCovered) {
			t.Errorf("MaxSize %d: %v, want ErrLimitNotCovered", tc.max, err)
		}
	}
	shared, err := scan.NewClamd(testenv.ClamdAddr(t), scan.ClamdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := shared.CheckLimit(t.Context()); err != nil {
		t.Errorf("the shared clamd, default MaxSize: %v", err)
	}
}
