package storagetest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
)

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

func openBucket(t *testing.T, urlstr string) *storage.Bucket {
	t.Helper()
	b, err := storage.Open(t.Context(), urlstr)
	if err != nil {
		t.Fatalf("Open(%q): %v", urlstr, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// noImporter hides the inner storage's ImportFile.
type noImporter struct{ storage.Storage }

// backend is an inner storage to wrap; dir is the directory of a file://
// bucket, else "".
type backend struct {
	name string
	open func(t *testing.T) (s storage.Storage, dir string)
}

var backends = []backend{
	{"mem", func(t *testing.T) (storage.Storage, string) { return openBucket(t, "mem://"), "" }},
	{"file", func(t *testing.T) (storage.Storage, string) {
		dir := t.TempDir()
		return openBucket(t, fileURL(dir)), dir
	}},
}

func TestFaultyConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) storage.Storage
	}{
		{"mem", func(t *testing.T) storage.Storage { return openBucket(t, "mem://") }},
		{"file", func(t *testing.T) storage.Storage { return openBucket(t, fileURL(t.TempDir())) }},
		// ImportFile by Put, as the inner storage cannot import.
		{"mem-no-importer", func(t *testing.T) storage.Storage { return noImporter{openBucket(t, "mem://")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Storage {
				f := storagetest.Faulty(tc.open(t), 0, 1)
				t.Cleanup(func() {
					if n := f.Injected(); n != 0 {
						t.Errorf("%d faults injected at rate 0", n)
					}
				})
				return f
			})
		})
	}
}

// randomData returns n bytes that depend on seed only.
func randomData(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	p := make([]byte, n)
	_, _ = r.Read(p)
	return p
}

// countingReader counts the bytes read from it. It hides the Len method of
// the reader it wraps.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// wantMissing requires that s holds no object at key.
func wantMissing(t *testing.T, s storage.Storage, key string) {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err == nil {
		r.Close()
		t.Errorf("%q: an object is there; want none", key)
		return
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open(%q) = %v; want not found", key, err)
	}
}

// wantObject requires that s holds exactly data at key.
func wantObject(t *testing.T, s storage.Storage, key string, data []byte) {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		t.Errorf("Open(%q): %v", key, err)
		return
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("reading %q: %v", key, err)
		return
	}
	if r.Size() != int64(len(data)) || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Errorf("%q: %d bytes (size %d) that differ from the %d put", key, len(got), r.Size(), len(data))
	}
}

// wantOnly requires that the directory of a file:// bucket holds the
// objects named by keys, their attribute files, and nothing else: no
// partial object and no temporary file left by a failed Put.
func wantOnly(t *testing.T, dir string, keys map[string]bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		key := strings.TrimSuffix(filepath.ToSlash(rel), ".attrs")
		if !keys[key] {
			t.Errorf("the bucket holds %s, which no successful Put wrote", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFaultyPut(t *testing.T) {
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			inner, dir := bk.open(t)
			f := storagetest.Faulty(inner, 0.5, 42)
			ctx := t.Context()

			const n = 200
			stored := make(map[string]bool)
			data := make(map[string][]byte)
			var failed, midway int
			for i := range n {
				key := fmt.Sprintf("put/%03d", i)
				d := randomData(uint64(i), (i*7919)%300_000)
				var opts *storage.PutOptions
				if i%3 != 0 { // else the fault's offset is drawn without the size
					opts = &storage.PutOptions{ContentType: "application/octet-stream", Size: int64(len(d))}
				}
				cr := &countingReader{r: bytes.NewReader(d)}
				err := f.Put(ctx, key, cr, opts)
				if err == nil {
					stored[key], data[key] = true, d
					wantObject(t, inner, key, d)
					continue
				}
				failed++
				if cr.n > 0 {
					midway++
				}
				if !errors.Is(err, storagetest.ErrInjected) {
					t.Errorf("Put(%q) = %v; want an error matching ErrInjected", key, err)
				}
				wantMissing(t, inner, key)
			}
			t.Logf("%d of %d Puts failed, %d of them after data was read", failed, n, midway)
			if failed == 0 || failed == n {
				t.Fatalf("%d of %d Puts failed at rate 0.5", failed, n)
			}
			if midway == 0 {
				t.Error("no Put failed midway")
			}
			if got := f.Injected(); got != int64(failed) {
				t.Errorf("Injected() = %d; want %d, one per failed Put", got, failed)
			}

			// Every overwrite fails and keeps what was there.
			f.SetRate(1)
			for key := range stored {
				if err := f.Put(ctx, key, bytes.NewReader(randomData(7, 1000)), nil); !errors.Is(err, storagetest.ErrInjected) {
					t.Fatalf("overwriting Put(%q) at rate 1 = %v; want ErrInjected", key, err)
				}
				wantObject(t, inner, key, data[key])
			}
			if dir != "" {
				wantOnly(t, dir, stored)
			}

			// And at rate 0 nothing fails.
			f.SetRate(0)
			before := f.Injected()
			for i := range 20 {
				key := fmt.Sprintf("calm/%02d", i)
				d := randomData(uint64(1000+i), 5000)
				if err := f.Put(ctx, key, bytes.NewReader(d), nil); err != nil {
					t.Fatalf("Put at rate 0: %v", err)
				}
				wantObject(t, f, key, d)
			}
			if f.Injected() != before {
				t.Errorf("faults injected at rate 0")
			}
		})
	}
}

func TestFaultyOpen(t *testing.T) {
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			inner, _ := bk.open(t)
			ctx := t.Context()
			var keys []string
			objects := make(map[string][]byte)
			for i, size := range []int{0, 1, 100, 4096, 65_537, 300_000} {
				key := fmt.Sprintf("open/%d", i)
				objects[key] = randomData(uint64(i), size)
				if err := inner.Put(ctx, key, bytes.NewReader(objects[key]), nil); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, key)
			}

			f := storagetest.Faulty(inner, 0.5, 7)
			const n = 300
			var outright, broken, whole int
			for i := range n {
				key := keys[i%len(keys)]
				want := objects[key]
				r, err := f.Open(ctx, key)
				if err != nil {
					if !errors.Is(err, storagetest.ErrInjected) {
						t.Fatalf("Open(%q) = %v; want an error matching ErrInjected", key, err)
					}
					outright++
					continue
				}
				if r.Size() != int64(len(want)) {
					t.Errorf("Size() = %d; want %d", r.Size(), len(want))
				}
				got, err := io.ReadAll(r)
				switch {
				case err == nil:
					whole++
					if sha256.Sum256(got) != sha256.Sum256(want) {
						t.Fatalf("%q: read %d bytes without error that differ from the %d stored", key, len(got), len(want))
					}
				case errors.Is(err, storagetest.ErrInjected):
					broken++
					if !bytes.HasPrefix(want, got) {
						t.Fatalf("%q: the %d bytes read before the fault differ from the object's", key, len(got))
					}
				default:
					t.Fatalf("reading %q: %v; want nil or an error matching ErrInjected", key, err)
				}

				// Seek works whatever happened, and a second read has
				// the same fate as the first.
				if pos, err := r.Seek(0, io.SeekStart); pos != 0 || err != nil {
					t.Fatalf("Seek(0, SeekStart) = %d, %v", pos, err)
				}
				again, err2 := io.ReadAll(r)
				if (err == nil) != (err2 == nil) || (err2 == nil && !bytes.Equal(again, want)) {
					t.Fatalf("%q: read again: %d bytes, %v; first read %d bytes, %v", key, len(again), err2, len(got), err)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%d Opens: %d failed, %d readers broke, %d read whole", n, outright, broken, whole)
			if outright == 0 || broken == 0 || whole == 0 {
				t.Fatalf("at rate 0.5: %d failed Opens, %d broken readers, %d whole reads; want some of each", outright, broken, whole)
			}
			if got := f.Injected(); got != int64(outright+broken) {
				t.Errorf("Injected() = %d; want %d", got, outright+broken)
			}

			// A missing object is still reported as missing when no
			// fault hits.
			f.SetRate(0)
			wantMissing(t, f, "open/missing")
		})
	}
}

// TestFaultyRanges reads ranges after seeks: each is exact or fails.
func TestFaultyRanges(t *testing.T) {
	inner := openBucket(t, "mem://")
	data := randomData(1, 200_000)
	if err := inner.Put(t.Context(), "obj", bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	f := storagetest.Faulty(inner, 0.5, 11)
	rng := rand.New(rand.NewPCG(1, 2))
	var ok, failed int
	for range 200 {
		r, err := f.Open(t.Context(), "obj")
		if err != nil {
			continue
		}
		for range 5 {
			off := rng.Int64N(int64(len(data)))
			n := 1 + rng.Int64N(int64(len(data))-off)
			if pos, err := r.Seek(off, io.SeekStart); pos != off || err != nil {
				t.Fatalf("Seek(%d) = %d, %v", off, pos, err)
			}
			got := make([]byte, n)
			_, err := io.ReadFull(r, got)
			switch {
			case err == nil:
				ok++
				if !bytes.Equal(got, data[off:off+n]) {
					t.Fatalf("%d bytes at %d differ from the object's", n, off)
				}
			case errors.Is(err, storagetest.ErrInjected):
				failed++
			default:
				t.Fatalf("reading %d bytes at %d: %v", n, off, err)
			}
		}
		r.Close()
	}
	if ok == 0 || failed == 0 {
		t.Fatalf("%d ranges read, %d failed; want some of each", ok, failed)
	}
}

func TestFaultyDelete(t *testing.T) {
	inner := openBucket(t, "mem://")
	ctx := t.Context()
	f := storagetest.Faulty(inner, 1, 1)
	for i := range 50 {
		key := fmt.Sprintf("del/%d", i)
		if err := inner.Put(ctx, key, strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
		if err := f.Delete(ctx, key); err != nil {
			t.Fatalf("Delete at rate 1 with no delete rate: %v", err)
		}
		wantMissing(t, inner, key)
	}
	if f.Injected() != 0 {
		t.Fatalf("Injected() = %d after deletes only", f.Injected())
	}

	f.SetDeleteRate(1)
	if err := inner.Put(ctx, "del/kept", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, "del/kept"); !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("Delete at delete rate 1 = %v; want ErrInjected", err)
	}
	wantObject(t, inner, "del/kept", []byte("x"))
	if f.Injected() != 1 {
		t.Fatalf("Injected() = %d; want 1", f.Injected())
	}
}

func TestFaultyImportFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) storage.Storage
	}{
		{"rename", func(t *testing.T) storage.Storage { return openBucket(t, fileURL(t.TempDir())) }},
		{"copy", func(t *testing.T) storage.Storage { return noImporter{openBucket(t, "mem://")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := tc.open(t)
			f := storagetest.Faulty(inner, 0.5, 5)
			src := t.TempDir()
			var failed int
			const n = 60
			for i := range n {
				key := fmt.Sprintf("import/%02d", i)
				d := randomData(uint64(i), 1000*i)
				path := filepath.Join(src, fmt.Sprint(i))
				if err := os.WriteFile(path, d, 0o600); err != nil {
					t.Fatal(err)
				}
				err := f.ImportFile(t.Context(), key, path, &storage.PutOptions{ContentType: "text/plain"})
				if err == nil {
					if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("after ImportFile, the source: %v; want not-exist", err)
					}
					wantObject(t, inner, key, d)
					continue
				}
				failed++
				if !errors.Is(err, storagetest.ErrInjected) {
					t.Errorf("ImportFile(%q) = %v; want an error matching ErrInjected", key, err)
				}
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, d) {
					t.Errorf("a failed ImportFile changed its source: %v", err)
				}
				wantMissing(t, inner, key)
			}
			if failed == 0 || failed == n {
				t.Fatalf("%d of %d imports failed at rate 0.5", failed, n)
			}
			if f.Injected() != int64(failed) {
				t.Errorf("Injected() = %d; want %d", f.Injected(), failed)
			}
		})
	}
}

// swallowing is a storage whose Put reads all of its reader and then either
// reports a read error in a new error that does not wrap it (flatten) or
// ignores it and stores what it read (ignore).
type swallowing struct {
	storage.Storage
	ignore bool
	calls  int
}

func (s *swallowing) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) error {
	s.calls++
	b, err := io.ReadAll(r)
	if err != nil && !s.ignore {
		return fmt.Errorf("swallowing: %v", err)
	}
	return s.Storage.Put(ctx, key, bytes.NewReader(b), opts)
}

func TestFaultyInnerPutErrors(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignore=%v", ignore), func(t *testing.T) {
			inner := &swallowing{Storage: openBucket(t, "mem://"), ignore: ignore}
			f := storagetest.Faulty(inner, 1, 3)
			for i := range 20 {
				err := f.Put(t.Context(), fmt.Sprintf("k/%d", i), strings.NewReader("some data"), nil)
				if !errors.Is(err, storagetest.ErrInjected) {
					t.Fatalf("Put = %v; want an error matching ErrInjected", err)
				}
			}
			if inner.calls == 0 {
				t.Fatal("no fault reached the inner Put")
			}
		})
	}
}

func TestFaultyConcurrent(t *testing.T) {
	inner := openBucket(t, "mem://")
	f := storagetest.Faulty(inner, 0.5, 9)
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				key := fmt.Sprintf("c/%d/%d", g, i)
				d := randomData(uint64(g*100+i), 20_000+i)
				if err := f.Put(ctx, key, bytes.NewReader(d), nil); err != nil {
					if !errors.Is(err, storagetest.ErrInjected) {
						t.Errorf("Put: %v", err)
					}
					continue
				}
				r, err := f.Open(ctx, key)
				if err != nil {
					if !errors.Is(err, storagetest.ErrInjected) {
						t.Errorf("Open: %v", err)
					}
					continue
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err == nil && !bytes.Equal(got, d) {
					t.Errorf("%q: read bytes differ from those put", key)
				} else if err != nil && !errors.Is(err, storagetest.ErrInjected) {
					t.Errorf("reading %q: %v", key, err)
				}
				if i%2 == 0 {
					f.SetRate(0.5) // concurrent with the draws
				}
				if err := f.Delete(ctx, key); err != nil {
					t.Errorf("Delete: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if f.Injected() == 0 {
		t.Error("no faults injected")
	}
}

// TestFaultySeed checks that one seed gives the same faults to the same
// sequence of operations.
func TestFaultySeed(t *testing.T) {
	pattern := func(seed int64) string {
		f := storagetest.Faulty(openBucket(t, "mem://"), 0.5, seed)
		var b strings.Builder
		for i := range 64 {
			d := randomData(uint64(i), 1000)
			if err := f.Put(t.Context(), fmt.Sprintf("s/%d", i), bytes.NewReader(d), nil); err != nil {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b, c := pattern(1), pattern(1), pattern(2)
	if a != b {
		t.Errorf("seed 1 gave two fault patterns:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("seeds 1 and 2 gave the same fault pattern %s", a)
	}
}

func TestFaultyRate(t *testing.T) {
	inner := openBucket(t, "mem://")
	for _, rate := range []float64{-0.1, 1.01, math.NaN(), math.Inf(1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Faulty with rate %v did not panic", rate)
				}
			}()
			storagetest.Faulty(inner, rate, 1)
		}()
	}
}
