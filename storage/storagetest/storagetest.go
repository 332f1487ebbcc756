// Package storagetest is the conformance suite that every storage.Storage
// implementation runs from its tests.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carcosa-dev/carcosa/storage"
)

// Run checks that the storages made by newStorage behave as storage.Storage
// says. Each subtest calls newStorage once and runs in parallel with the
// others, so newStorage must be safe to call concurrently; it should register
// the storage's cleanup with t.Cleanup. Keys are unique to each subtest, so
// the storages may share one backend.
//
// If the storage implements storage.FileImporter, that is checked too.
func Run(t *testing.T, newStorage func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"RoundTrip", testRoundTrip},
		{"NilOptions", testNilOptions},
		{"SeekRanges", testSeekRanges},
		{"Overwrite", testOverwrite},
		{"OpenMissing", testOpenMissing},
		{"Delete", testDelete},
		{"DeleteMissing", testDeleteMissing},
		{"FailingReader", testFailingReader},
		{"FailedOverwriteKeepsPrevious", testFailedOverwriteKeepsPrevious},
		{"CancelledContext", testCancelledContext},
		{"CancelDuringPut", testCancelDuringPut},
		{"InvalidKeys", testInvalidKeys},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ImportFile", testImportFile},
		{"ImportFileReplaces", testImportFileReplaces},
		{"ImportFileInvalid", testImportFileInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStorage(t))
		})
	}
}

const mib = 1 << 20

// errReader is what a failing upload's reader returns.
var errReader = errors.New("storagetest: reader failed")

// key makes a key unique to the running test, so that parallel subtests
// sharing a backend do not collide.
func key(t *testing.T, name string) string {
	var b strings.Builder
	for _, c := range t.Name() {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '/', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return "storagetest/" + b.String() + "/" + name
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func put(t *testing.T, s storage.Storage, key string, data []byte) {
	t.Helper()
	opts := &storage.PutOptions{ContentType: "application/octet-stream", Size: int64(len(data))}
	if err := s.Put(t.Context(), key, bytes.NewReader(data), opts); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// check opens key and compares its size and bytes with want.
func check(t *testing.T, s storage.Storage, key string, want []byte) {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	if got := r.Size(); got != int64(len(want)) {
		t.Errorf("Open(%q).Size() = %d, want %d", key, got, len(want))
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Errorf("%q: read %d bytes that differ from the %d written", key, len(got), len(want))
	}
}

// checkMissing requires Open(key) to fail with storage.ErrNotFound.
func checkMissing(t *testing.T, s storage.Storage, key string) {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err == nil {
		r.Close()
		t.Fatalf("Open(%q) found an object; want none", key)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open(%q) = %v; want an error matching storage.ErrNotFound", key, err)
	}
}

func testRoundTrip(t *testing.T, s storage.Storage) {
	for _, n := range []int{0, 1, 5 * mib} {
		k := key(t, fmt.Sprintf("size-%d", n))
		data := randomBytes(t, n)
		put(t, s, k, data)
		check(t, s, k, data)
	}
}

func testNilOptions(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	data := []byte("hello, world")
	if err := s.Put(t.Context(), k, bytes.NewReader(data), nil); err != nil {
		t.Fatalf("Put with nil options: %v", err)
	}
	check(t, s, k, data)
}

func testSeekRanges(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	data := randomBytes(t, 256*1024+123)
	put(t, s, k, data)

	r, err := s.Open(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size := int64(len(data))
	if end, err := r.Seek(0, io.SeekEnd); err != nil || end != size {
		t.Fatalf("Seek(0, SeekEnd) = %d, %v; want %d", end, err, size)
	}

	readAt := func(off int64, n int) {
		t.Helper()
		if pos, err := r.Seek(off, io.SeekStart); err != nil || pos != off {
			t.Fatalf("Seek(%d, SeekStart) = %d, %v", off, pos, err)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("reading %d bytes at %d: %v", n, off, err)
		}
		if !bytes.Equal(got, data[off:off+int64(n)]) {
			t.Errorf("%d bytes at %d differ from those written", n, off)
		}
	}
	readAt(0, 100)
	readAt(size/2-50, 100)
	readAt(size-100, 100)
	readAt(1, 1) // backwards after reading

	// The end, then EOF.
	if pos, err := r.Seek(-10, io.SeekEnd); err != nil || pos != size-10 {
		t.Fatalf("Seek(-10, SeekEnd) = %d, %v; want %d", pos, err, size-10)
	}
	tail, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tail, data[size-10:]) {
		t.Errorf("last 10 bytes differ from those written")
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want 0, io.EOF", n, err)
	}

	// Relative seeks.
	if _, err := r.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if pos, err := r.Seek(10, io.SeekCurrent); err != nil || pos != 15 {
		t.Fatalf("Seek(10, SeekCurrent) from 5 = %d, %v; want 15", pos, err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(r, b); err != nil || b[0] != data[15] {
		t.Errorf("byte at 15 = %#x, %v; want %#x", b[0], err, data[15])
	}
}

func testOverwrite(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	put(t, s, k, randomBytes(t, 100_000))
	second := randomBytes(t, 1000)
	put(t, s, k, second)
	check(t, s, k, second)
}

func testOpenMissing(t *testing.T, s storage.Storage) {
	checkMissing(t, s, key(t, "missing"))
}

func testDelete(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	put(t, s, k, []byte("x"))
	if err := s.Delete(t.Context(), k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkMissing(t, s, k)
}

func testDeleteMissing(t *testing.T, s storage.Storage) {
	if err := s.Delete(t.Context(), key(t, "missing")); err != nil {
		t.Fatalf("Delete of a missing object = %v; want nil", err)
	}
}

// failingReader yields n random bytes and then fails.
type failingReader struct {
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errReader
	}
	p = p[:min(len(p), f.n)]
	n, _ := rand.Read(p)
	f.n -= n
	return n, nil
}

func testFailingReader(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	if err := s.Put(t.Context(), k, &failingReader{n: mib}, nil); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	checkMissing(t, s, k)
}

func testFailedOverwriteKeepsPrevious(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	data := randomBytes(t, 1000)
	put(t, s, k, data)
	if err := s.Put(t.Context(), k, &failingReader{n: mib}, nil); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	check(t, s, k, data)
}

func testCancelledContext(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, k, bytes.NewReader([]byte("data")), nil); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	checkMissing(t, s, k)
}

// cancellingReader cancels its context once after the first n bytes and
// keeps yielding data, as a client that disconnects mid-upload would leave
// a reader with bytes still buffered.
type cancellingReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	} else {
		p = p[:min(len(p), c.n)]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func testCancelDuringPut(t *testing.T, s storage.Storage) {
	k := key(t, "obj")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancellingReader{r: bytes.NewReader(randomBytes(t, 3*mib)), n: mib, cancel: cancel}
	if err := s.Put(ctx, k, r, nil); err == nil {
		t.Fatal("Put whose context was cancelled during the upload succeeded")
	}
	checkMissing(t, s, k)
}

func testInvalidKeys(t *testing.T, s storage.Storage) {
	for _, k := range []string{"", "/abs", "a/../b", "..", "../a", "a\\b", "a\x00b"} {
		if err := s.Put(t.Context(), k, bytes.NewReader([]byte("x")), nil); err == nil {
			t.Errorf("Put(%q) succeeded; want an error", k)
		}
		if r, err := s.Open(t.Context(), k); err == nil {
			r.Close()
			t.Errorf("Open(%q) succeeded; want an error", k)
		}
		if err := s.Delete(t.Context(), k); err == nil {
			t.Errorf("Delete(%q) succeeded; want an error", k)
		}
	}
}

func testConcurrentPuts(t *testing.T, s storage.Storage) {
	const n = 20
	data := make([][]byte, n)
	for i := range data {
		data[i] = randomBytes(t, 64*1024+i)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k := key(t, fmt.Sprintf("obj-%02d", i))
			if err := s.Put(t.Context(), k, bytes.NewReader(data[i]), nil); err != nil {
				t.Errorf("Put(%q): %v", k, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range n {
		wg.Go(func() {
			k := key(t, fmt.Sprintf("obj-%02d", i))
			r, err := s.Open(t.Context(), k)
			if err != nil {
				t.Errorf("Open(%q): %v", k, err)
				return
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Errorf("reading %q: %v", k, err)
			} else if !bytes.Equal(got, data[i]) {
				t.Errorf("%q: read bytes differ from those written", k)
			}
		})
	}
	wg.Wait()
}

func importer(t *testing.T, s storage.Storage) storage.FileImporter {
	t.Helper()
	fi, ok := s.(storage.FileImporter)
	if !ok {
		t.Skip("storage does not implement storage.FileImporter")
	}
	return fi
}

// tempFile writes data to a new file and returns its path.
func tempFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testImportFile(t *testing.T, s storage.Storage) {
	fi := importer(t, s)
	for _, n := range []int{0, mib + 7} {
		k := key(t, fmt.Sprintf("size-%d", n))
		data := randomBytes(t, n)
		path := tempFile(t, data)
		if err := fi.ImportFile(t.Context(), k, path, &storage.PutOptions{ContentType: "text/plain"}); err != nil {
			t.Fatalf("ImportFile: %v", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after ImportFile, Lstat(source) = %v; want not-exist", err)
		}
		check(t, s, k, data)
	}
}

func testImportFileReplaces(t *testing.T, s storage.Storage) {
	fi := importer(t, s)
	k := key(t, "obj")
	put(t, s, k, randomBytes(t, 5000))
	data := randomBytes(t, 100)
	if err := fi.ImportFile(t.Context(), k, tempFile(t, data), nil); err != nil {
		t.Fatalf("ImportFile: %v", err)
	}
	check(t, s, k, data)
}

func testImportFileInvalid(t *testing.T, s storage.Storage) {
	fi := importer(t, s)
	path := tempFile(t, []byte("data"))
	for _, k := range []string{"", "/abs", "a/../b", "a\\b", "a\x00b"} {
		if err := fi.ImportFile(t.Context(), k, path, nil); err == nil {
			t.Errorf("ImportFile(%q) succeeded; want an error", k)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a refused ImportFile touched the source: %v", err)
	}

	k := key(t, "from-missing")
	if err := fi.ImportFile(t.Context(), k, filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("ImportFile of a missing file succeeded")
	}
	checkMissing(t, s, k)
}
