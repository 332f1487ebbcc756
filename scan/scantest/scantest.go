// Package scantest is the conformance suite that every scan.Scanner
// implementation runs from its tests, with builders of the archives it
// scans for other tests to reuse.
package scantest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/scan"
)

// Run checks that the scanners made by newScanner behave as scan.Scanner
// says. Each subtest calls newScanner once and runs in parallel with the
// others, so newScanner must be safe to call concurrently.
//
// The scanner must detect scan.EICAR as the whole stream and as a file in
// zip archives, nested too; that is what the EICAR standard asks of every
// scanner. It need not detect EICAR inside other bytes, so Run does not
// check that.
//
// Streams are at most 1.1 MiB, except in the check of MaxSize, which sends
// an endless stream when MaxSize is not 0.
func Run(t *testing.T, newScanner func(t *testing.T) scan.Scanner) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s scan.Scanner)
	}{
		{"Clean", testClean},
		{"CleanLarge", testCleanLarge},
		{"Empty", testEmpty},
		{"EICAR", testEICAR},
		{"EICARInZip", testEICARInZip},
		{"EICARInNestedZip", testEICARInNestedZip},
		{"EICARInZipAfterLargeFile", testEICARInZipAfterLargeFile},
		{"CancelledContext", testCancelledContext},
		{"CancelDuringScan", testCancelDuringScan},
		{"FailingReader", testFailingReader},
		{"TooLarge", testTooLarge},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newScanner(t))
		})
	}
}

const mib = 1 << 20

// prompt is how soon a scan must end once its context is done.
const prompt = 5 * time.Second

var errReader = errors.New("scantest: reader failed")

// RandomBytes returns n random bytes: a clean file that compresses to no
// less than n.
func RandomBytes(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

func testClean(t *testing.T, s scan.Scanner) {
	v, err := s.Scan(t.Context(), bytes.NewReader([]byte("Carcosa keeps uploaded files.\n")))
	wantClean(t, v, err)
}

func testCleanLarge(t *testing.T, s scan.Scanner) {
	v, err := s.Scan(t.Context(), bytes.NewReader(RandomBytes(mib+12345)))
	wantClean(t, v, err)
}

func testEmpty(t *testing.T, s scan.Scanner) {
	v, err := s.Scan(t.Context(), bytes.NewReader(nil))
	wantClean(t, v, err)
}

func testEICAR(t *testing.T, s scan.Scanner) {
	v, err := s.Scan(t.Context(), bytes.NewReader([]byte(scan.EICAR)))
	wantInfected(t, v, err)
}

func testEICARInZip(t *testing.T, s scan.Scanner) {
	v, err := s.Scan(t.Context(), bytes.NewReader(Zip("eicar.com", []byte(scan.EICAR))))
	wantInfected(t, v, err)
}

func testEICARInNestedZip(t *testing.T, s scan.Scanner) {
	inner := Zip("eicar.com", []byte(scan.EICAR))
	v, err := s.Scan(t.Context(), bytes.NewReader(Zip("inner.zip", inner)))
	wantInfected(t, v, err)
}

// The infected file comes after a megabyte, so a scanner that looks only
// at the stream's start misses it.
func testEICARInZipAfterLargeFile(t *testing.T, s scan.Scanner) {
	archive := ZipFiles(
		File{Name: "random.bin", Data: RandomBytes(mib)},
		File{Name: "eicar.com", Data: []byte(scan.EICAR)},
	)
	v, err := s.Scan(t.Context(), bytes.NewReader(archive))
	wantInfected(t, v, err)
}

func testCancelledContext(t *testing.T, s scan.Scanner) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	v, err := s.Scan(ctx, bytes.NewReader([]byte("clean, but never scanned")))
	if err == nil {
		t.Fatalf("Scan with a cancelled context = %+v, nil; want an error", v)
	}
	if v != (scan.Verdict{}) {
		t.Errorf("Scan with a cancelled context returned a verdict, %+v, with its error", v)
	}
	if d := time.Since(start); d > prompt {
		t.Errorf("Scan with a cancelled context took %v", d)
	}
}

func testCancelDuringScan(t *testing.T, s scan.Scanner) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const after = 200 * time.Millisecond
	start := time.Now()
	time.AfterFunc(after, cancel)
	// An endless stream: without the cancellation the scan never ends, or
	// ends over MaxSize.
	v, err := s.Scan(ctx, &SlowReader{Delay: 5 * time.Millisecond})
	took := time.Since(start)
	if err == nil {
		t.Fatalf("Scan cancelled while reading = %+v, nil; want an error", v)
	}
	if ctx.Err() == nil {
		t.Fatalf("Scan ended before it was cancelled: %v", err)
	}
	if errors.Is(err, scan.ErrTooLarge) {
		t.Fatalf("Scan cancelled while reading: %v; want the cancellation, not the size limit", err)
	}
	if took > after+prompt {
		t.Errorf("Scan returned %v after its context was cancelled", took-after)
	}
}

func testFailingReader(t *testing.T, s scan.Scanner) {
	r := io.MultiReader(bytes.NewReader(RandomBytes(100<<10)), &failingReader{})
	v, err := s.Scan(t.Context(), r)
	if !errors.Is(err, errReader) {
		t.Fatalf("Scan of a failing reader = %+v, %v; want an error wrapping %v", v, err, errReader)
	}
}

func testTooLarge(t *testing.T, s scan.Scanner) {
	if s.MaxSize() == 0 {
		t.Skip("the scanner has no size limit")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	v, err := s.Scan(ctx, Zeros{})
	if !errors.Is(err, scan.ErrTooLarge) {
		t.Fatalf("Scan of an endless stream (MaxSize %d) = %+v, %v; want an error matching scan.ErrTooLarge", s.MaxSize(), v, err)
	}
}

func testConcurrent(t *testing.T, s scan.Scanner) {
	clean := RandomBytes(200 << 10)
	infected := Zip("eicar.com", []byte(scan.EICAR))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 4 {
				data, want := clean, false
				if (g+i)%2 == 1 {
					data, want = infected, true
				}
				v, err := s.Scan(t.Context(), bytes.NewReader(data))
				if err != nil || v.Infected != want {
					t.Errorf("goroutine %d, scan %d: got %+v, %v; want Infected %v", g, i, v, err, want)
				}
			}
		})
	}
	wg.Wait()
}

func wantClean(t *testing.T, v scan.Verdict, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if v != (scan.Verdict{}) {
		t.Fatalf("Scan = %+v; want clean", v)
	}
}

func wantInfected(t *testing.T, v scan.Verdict, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if !v.Infected || v.Signature == "" {
		t.Fatalf("Scan = %+v; want infected, with the signature's name", v)
	}
}

// Zeros is an endless stream of zero bytes.
type Zeros struct{}

func (Zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// SlowReader is an endless stream of zero bytes that waits Delay before
// each Read, which returns at most 1 KiB: a slow client.
type SlowReader struct {
	Delay time.Duration
}

func (r *SlowReader) Read(p []byte) (int, error) {
	time.Sleep(r.Delay)
	p = p[:min(len(p), 1<<10)]
	clear(p)
	return len(p), nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errReader }
