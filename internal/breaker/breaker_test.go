package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/breaker"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
)

// fakeStorage answers every call with err, counting the calls.
type fakeStorage struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (f *fakeStorage) answer() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.err
}

func (f *fakeStorage) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeStorage) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeStorage) Put(_ context.Context, _ string, r io.Reader, _ *storage.PutOptions) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("fake: put: %w", err)
	}
	return f.answer()
}

func (f *fakeStorage) Open(context.Context, string) (storage.Reader, error) {
	return nil, f.answer()
}

func (f *fakeStorage) Delete(context.Context, string) error { return f.answer() }
func (f *fakeStorage) Close() error                         { return nil }

// counts records the operations counted.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(op, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[op+" "+result]++
}

func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

var errDown = errors.New("connection refused")

// waitState polls b until it is in state want.
func waitState(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("breaker %s, want %s", b.State(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStorageOpensAndRecovers(t *testing.T) {
	t.Parallel()
	f := &fakeStorage{err: errDown}
	var states []string
	var smu sync.Mutex
	b := breaker.New("bucket", breaker.Settings{Failures: 3, OpenFor: 50 * time.Millisecond}, func(_ string, _, to breaker.State) {
		smu.Lock()
		states = append(states, to.String())
		smu.Unlock()
	})
	var c counts
	s := breaker.NewStorage(f, b, c.add)
	ctx := context.Background()
	for i := range 3 {
		if err := s.Delete(ctx, "k"); !errors.Is(err, errDown) {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if b.State() != breaker.Open || !s.BreakerOpen() {
		t.Fatalf("after 3 failures the breaker is %s", b.State())
	}
	// Open: calls fail at once, without reaching the storage.
	for range 5 {
		if _, err := s.Open(ctx, "k"); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("open while the breaker is open: %v", err)
		}
	}
	if f.count() != 3 {
		t.Fatalf("the storage was called %d times, want 3", f.count())
	}
	if c.get("delete error") != 3 || c.get("get breaker_open") != 5 {
		t.Fatalf("counts %v", c.m)
	}
	// Half-open after OpenFor: a probe goes through; it succeeds and closes
	// the breaker.
	f.set(nil)
	waitState(t, b, breaker.HalfOpen)
	if err := s.Put(ctx, "k", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	if b.State() != breaker.Closed || f.count() != 4 {
		t.Fatalf("after a good probe the breaker is %s, %d calls", b.State(), f.count())
	}
	smu.Lock()
	defer smu.Unlock()
	if got := strings.Join(states, ","); got != "open,half-open,closed" {
		t.Fatalf("states %s", got)
	}
}

func TestStorageFailedProbeReopens(t *testing.T) {
	t.Parallel()
	f := &fakeStorage{err: errDown}
	b := breaker.New("bucket", breaker.Settings{Failures: 1, OpenFor: 50 * time.Millisecond}, nil)
	s := breaker.NewStorage(f, b, nil)
	ctx := context.Background()
	s.Delete(ctx, "k")
	waitState(t, b, breaker.HalfOpen)
	if err := s.Delete(ctx, "k"); !errors.Is(err, errDown) {
		t.Fatal(err)
	}
	if b.State() != breaker.Open {
		t.Fatalf("after a failed probe the breaker is %s", b.State())
	}
}

// TestStorageNotCounted: answers and the caller's own failures do not open
// the breaker.
func TestStorageNotCounted(t *testing.T) {
	t.Parallel()
	f := &fakeStorage{}
	b := breaker.New("bucket", breaker.Settings{Failures: 2, OpenFor: time.Hour}, nil)
	var c counts
	s := breaker.NewStorage(f, b, c.add)

	f.set(fmt.Errorf("fake: %w", storage.ErrNotFound))
	for range 10 {
		if _, err := s.Open(context.Background(), "k"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
	}
	// A caller that gave up.
	f.set(context.Canceled)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10 {
		s.Delete(ctx, "k")
	}
	// A caller whose stream failed.
	f.set(nil)
	for range 10 {
		r := io.MultiReader(strings.NewReader("abc"), iotestErr{})
		if err := s.Put(context.Background(), "k", r, nil); err == nil {
			t.Fatal("a put of a failing stream succeeded")
		}
	}
	if b.State() != breaker.Closed {
		t.Fatalf("the breaker is %s", b.State())
	}
	if c.get("get not_found") != 10 || c.get("delete canceled") != 10 || c.get("put canceled") != 10 {
		t.Fatalf("counts %v", c.m)
	}
	// Exclusions do not reset the count of failures in a row, nor add to it.
	f.set(errDown)
	s.Delete(context.Background(), "k")
	if b.State() != breaker.Closed {
		t.Fatal("one failure opened a breaker of two")
	}
	s.Delete(context.Background(), "k")
	if b.State() != breaker.Open {
		t.Fatal("two failures did not open the breaker")
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("client went away") }

// TestStorageForwards: the wrapper keeps the features of what it wraps.
func TestStorageForwards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	bk, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	var c counts
	s := breaker.NewStorage(bk, breaker.New("bucket", breaker.Settings{}, nil), c.add)
	if s.Blob() != bk.Blob() {
		t.Error("Blob is not the wrapped bucket's")
	}
	if _, err := s.SignPut(ctx, "a/b", "text/plain", time.Minute); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("SignPut of a file bucket: %v", err)
	}
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("hello"), 0o600)
	if err := s.ImportFile(ctx, "a/b", src, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Error("the imported file is still there")
	}
	rd, err := s.Open(ctx, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if string(got) != "hello" {
		t.Errorf("read %q", got)
	}
	if c.get("import ok") != 1 || c.get("get ok") != 1 || c.get("sign unsupported") != 1 {
		t.Errorf("counts %v", c.m)
	}

	// Without FileImporter, ImportFile puts the file, then removes it.
	f := &fakeStorage{}
	s = breaker.NewStorage(f, nil, nil)
	os.WriteFile(src, []byte("hello"), 0o600)
	if err := s.ImportFile(ctx, "a/b", src, nil); err != nil || f.count() != 1 {
		t.Fatalf("import: %v, %d calls", err, f.count())
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Error("the imported file is still there")
	}
	if s.Blob() != nil {
		t.Error("Blob of a storage that is not a bucket")
	}
	if _, err := s.SignPut(ctx, "a/b", "", time.Minute); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("SignPut of a storage without Signer: %v", err)
	}
}

func TestScanner(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var answer atomic.Pointer[error] // nil: the scanner works
	inner := scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
		calls.Add(1)
		if err := answer.Load(); err != nil {
			return scan.Verdict{}, *err
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return scan.Verdict{}, err
		}
		return scan.Verdict{Infected: string(b) == scan.EICAR, Signature: "Eicar"}, nil
	})
	b := breaker.New("scanner", breaker.Settings{Failures: 2, OpenFor: 50 * time.Millisecond}, nil)
	s := breaker.NewScanner(inner, b)
	ctx := context.Background()

	// Infected verdicts and the caller's failures are not failures.
	for range 5 {
		if v, err := s.Scan(ctx, strings.NewReader(scan.EICAR)); err != nil || !v.Infected {
			t.Fatalf("%+v %v", v, err)
		}
		if _, err := s.Scan(ctx, io.MultiReader(strings.NewReader("abc"), iotestErr{})); err == nil {
			t.Fatal("a scan of a failing stream succeeded")
		}
	}
	if b.State() != breaker.Closed {
		t.Fatalf("breaker %s", b.State())
	}

	down := fmt.Errorf("clamd: %w", scan.ErrUnavailable)
	answer.Store(&down)
	for range 2 {
		s.Scan(ctx, strings.NewReader("x"))
	}
	n := calls.Load()
	_, err := s.Scan(ctx, strings.NewReader("x"))
	if !errors.Is(err, scan.ErrUnavailable) || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("scan while open: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("ping while open: %v", err)
	}
	if calls.Load() != n {
		t.Fatal("the scanner was called while the breaker was open")
	}
	answer.Store(nil)
	waitState(t, b, breaker.HalfOpen)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if b.State() != breaker.Closed {
		t.Fatalf("after a good probe the breaker is %s", b.State())
	}
}

func TestNilBreaker(t *testing.T) {
	t.Parallel()
	var b *breaker.Breaker
	if b.State() != breaker.Closed {
		t.Fatal("a nil breaker is not closed")
	}
	f := &fakeStorage{err: errDown}
	s := breaker.NewStorage(f, b, nil)
	for range 20 {
		s.Delete(context.Background(), "k")
	}
	if f.count() != 20 || s.BreakerOpen() {
		t.Fatal("a nil breaker refused calls")
	}
}
