package tusstage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

const mib = 1 << 20

func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newStore(t *testing.T, limit func(handler.FileInfo) int64) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "stage"), &Options{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Flush)
	return s
}

func fixedLimit(n int64) func(handler.FileInfo) int64 {
	return func(handler.FileInfo) int64 { return n }
}

func create(t *testing.T, s *Store, info handler.FileInfo) string {
	t.Helper()
	up, err := s.NewUpload(context.Background(), info)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	got, err := up.GetInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got.ID
}

// writeAt fetches the upload afresh, as tusd does for every PATCH, checks its
// offset and writes src.
func writeAt(t *testing.T, s *Store, id string, offset int64, src io.Reader) (int64, error) {
	t.Helper()
	ctx := context.Background()
	up, err := s.GetUpload(ctx, id)
	if err != nil {
		t.Fatalf("GetUpload: %v", err)
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Offset != offset {
		t.Fatalf("offset before write = %d, want %d", info.Offset, offset)
	}
	n, err := up.WriteChunk(ctx, offset, src)
	info, _ = up.GetInfo(ctx)
	if info.Offset != offset+n {
		t.Fatalf("GetInfo offset after write = %d, want %d", info.Offset, offset+n)
	}
	return n, err
}

// writeChunks writes data in the given chunk sizes (the last chunk takes the
// rest) and returns the final offset.
func writeChunks(t *testing.T, s *Store, id string, data []byte, sizes []int) {
	t.Helper()
	off := 0
	for i := 0; off < len(data); i++ {
		end := len(data)
		if i < len(sizes) && off+sizes[i] < end {
			end = off + sizes[i]
		}
		n, err := writeAt(t, s, id, int64(off), iotest.HalfReader(bytes.NewReader(data[off:end])))
		if err != nil || n != int64(end-off) {
			t.Fatalf("chunk %d: n=%d err=%v, want %d", i, n, err, end-off)
		}
		off = end
	}
}

func finish(t *testing.T, s *Store, id string) {
	t.Helper()
	up, err := s.GetUpload(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.FinishUpload(context.Background()); err != nil {
		t.Fatalf("FinishUpload: %v", err)
	}
}

func assertDigest(t *testing.T, s *Store, id string, want []byte) {
	t.Helper()
	sum, size, err := s.Digest(context.Background(), id)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if size != int64(len(want)) {
		t.Fatalf("Digest size = %d, want %d", size, len(want))
	}
	if sum != sha256.Sum256(want) {
		t.Fatalf("Digest = %x, want %x", sum, sha256.Sum256(want))
	}
}

func assertFile(t *testing.T, s *Store, id string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(s.Path(id))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("staged file differs from payload (len %d vs %d)", len(got), len(want))
	}
}

// The running hash must come from the saved state, not from re-reading the
// file: damaging already written bytes in place (same size) between chunks
// must not change the digest.
func TestHashIsNotRecomputedFromFile(t *testing.T) {
	s := newStore(t, nil)
	data := payload(2, 3*mib)
	id := create(t, s, handler.FileInfo{Size: int64(len(data))})
	writeChunks(t, s, id, data[:mib], nil)

	f, err := os.OpenFile(s.Path(id), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{^data[10]}, 10); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if n, err := writeAt(t, s, id, mib, bytes.NewReader(data[mib:])); err != nil || n != int64(len(data)-mib) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	finish(t, s, id)
	assertDigest(t, s, id, data)
}

func TestCrashRecovery(t *testing.T) {
	data := payload(3, 3*mib+123)
	cut1, cut2 := mib+5, 2*mib+77

	tests := []struct {
		name string
		// damage runs after data[:cut1] was written through the store; it
		// returns the offset the next write continues from.
		damage func(t *testing.T, s *Store, id string) int
	}{
		{"sidecar deleted", func(t *testing.T, s *Store, id string) int {
			s.Flush()
			must(t, os.Remove(s.hashPath(id)))
			return cut1
		}},
		{"sidecar bit flip", func(t *testing.T, s *Store, id string) int {
			s.Flush()
			b, err := os.ReadFile(s.hashPath(id))
			must(t, err)
			b[len(b)/2] ^= 0x40
			must(t, os.WriteFile(s.hashPath(id), b, 0o600))
			return cut1
		}},
		{"sidecar truncated", func(t *testing.T, s *Store, id string) int {
			s.Flush()
			must(t, os.Truncate(s.hashPath(id), 7))
			return cut1
		}},
		{"data appended behind the store's back", func(t *testing.T, s *Store, id string) int {
			// Same as a crash after the data write but before the sidecar
			// rename: the file is ahead of the saved state.
			f, err := os.OpenFile(s.Path(id), os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = f.Write(data[cut1:cut2])
			must(t, err)
			must(t, f.Close())
			return cut2
		}},
		{"old sidecar restored", func(t *testing.T, s *Store, id string) int {
			s.Flush()
			old, err := os.ReadFile(s.hashPath(id))
			must(t, err)
			if n, err := writeAt(t, s, id, int64(cut1), bytes.NewReader(data[cut1:cut2])); err != nil || n != int64(cut2-cut1) {
				t.Fatalf("n=%d err=%v", n, err)
			}
			must(t, os.WriteFile(s.hashPath(id), old, 0o600))
			return cut2
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, nil)
			id := create(t, s, handler.FileInfo{Size: int64(len(data))})
			writeChunks(t, s, id, data[:cut1], []int{100, 4000})
			off := tc.damage(t, s, id)
			n, err := writeAt(t, s, id, int64(off), bytes.NewReader(data[off:]))
			if err != nil || n != int64(len(data)-off) {
				t.Fatalf("n=%d err=%v", n, err)
			}
			finish(t, s, id)
			assertDigest(t, s, id, data)
			assertFile(t, s, id, data)
		})
	}

	t.Run("sidecar lost after finish", func(t *testing.T) {
		s := newStore(t, nil)
		id := create(t, s, handler.FileInfo{Size: int64(len(data))})
		writeChunks(t, s, id, data, []int{cut1})
		finish(t, s, id)
		s.Flush()
		must(t, os.Remove(s.hashPath(id)))
		assertDigest(t, s, id, data)
		if _, err := os.Stat(s.hashPath(id)); err != nil {
			t.Fatalf("recovered state not saved again: %v", err)
		}
		assertDigest(t, s, id, data)
	})

	t.Run("stale state at finish", func(t *testing.T) {
		s := newStore(t, nil)
		id := create(t, s, handler.FileInfo{Size: int64(len(data))})
		writeChunks(t, s, id, data[:cut1], nil)
		f, err := os.OpenFile(s.Path(id), os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		_, err = f.Write(data[cut1:])
		must(t, err)
		must(t, f.Close())
		finish(t, s, id)
		s.Flush()
		st, err := s.loadState(id)
		if err != nil || st == nil || st.offset != int64(len(data)) {
			t.Fatalf("state after finish: %+v, %v", st, err)
		}
		assertDigest(t, s, id, data)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// shortWriter accepts room bytes in total, then fails mid-write.
type shortWriter struct {
	buf  bytes.Buffer
	room int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) > w.room {
		w.buf.Write(p[:w.room])
		n := w.room
		w.room = 0
		return n, errors.New("disk full")
	}
	w.room -= len(p)
	return w.buf.Write(p)
}

// Bytes read from the client but not accepted by the file must stay out of
// the hash.
func TestCopyHashesOnlyWrittenBytes(t *testing.T) {
	data := payload(5, 3*mib)
	tests := []struct {
		name      string
		room, max int
		wantErr   string
	}{
		{"writer fails", 1234567, -1, "disk full"},
		{"limit hit", 3 * mib, 2*mib + 1, ErrTooLarge.Error()},
		{"limit exactly matches", 3 * mib, 3 * mib, ""},
	}
	// Both ways of copying: a pipe of goroutines, and inline, as copies
	// beyond one per core run.
	inline := func(dst io.Writer, h hash.Hash, src io.Reader, max int64) (int64, error) {
		return copyInline(dst, h, src, max)
	}
	for _, tc := range tests {
		for name, copyFn := range map[string]func(io.Writer, hash.Hash, io.Reader, int64) (int64, error){"pipe": copyHashed, "inline": inline} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				w := &shortWriter{room: tc.room}
				h := sha256.New()
				n, err := copyFn(w, h, bytes.NewReader(data), int64(tc.max))
				if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if int(n) != w.buf.Len() {
					t.Fatalf("n = %d but %d bytes reached the writer", n, w.buf.Len())
				}
				if want := sha256.Sum256(w.buf.Bytes()); !bytes.Equal(h.Sum(nil), want[:]) {
					t.Fatal("hash covers bytes that were not written")
				}
			})
		}
	}
}

// The limit is evaluated once per upload and kept with it; the suite
// tests its enforcement.
func TestLimit(t *testing.T) {
	const limit = 1000

	t.Run("limit from metadata, evaluated once", func(t *testing.T) {
		var calls atomic.Int32
		s := newStore(t, func(info handler.FileInfo) int64 {
			calls.Add(1)
			n, _ := strconv.ParseInt(info.MetaData["max"], 10, 64)
			return n
		})
		small := create(t, s, handler.FileInfo{SizeIsDeferred: true, MetaData: handler.MetaData{"max": "10"}})
		free := create(t, s, handler.FileInfo{SizeIsDeferred: true})
		data := payload(7, 100)
		if n, err := writeAt(t, s, small, 0, bytes.NewReader(data)); n != 10 || !errors.Is(err, ErrTooLarge) {
			t.Fatalf("limited: n=%d err=%v", n, err)
		}
		if n, err := writeAt(t, s, free, 0, bytes.NewReader(data)); n != 100 || err != nil {
			t.Fatalf("unlimited: n=%d err=%v", n, err)
		}
		if c := calls.Load(); c != 2 {
			t.Fatalf("Limit called %d times, want once per upload", c)
		}
	})

	t.Run("limit survives a lost sidecar", func(t *testing.T) {
		s := newStore(t, fixedLimit(limit))
		id := create(t, s, handler.FileInfo{SizeIsDeferred: true})
		data := payload(8, 2000)
		writeChunks(t, s, id, data[:500], nil)
		s.Flush()
		must(t, os.Remove(s.hashPath(id)))
		if n, err := writeAt(t, s, id, 500, bytes.NewReader(data[500:])); n != 500 || !errors.Is(err, ErrTooLarge) {
			t.Fatalf("n=%d err=%v", n, err)
		}
	})
}

// Terminate and Remove also delete the temp file of a hash state a crash
// left behind, and no other upload's files. (That they leave nothing else
// is in the suite.)
func TestRemoveDeletesCrashTemps(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		remove func(s *Store, id string) error
	}{
		{"Terminate", func(s *Store, id string) error {
			up, err := s.GetUpload(ctx, id)
			if err != nil {
				return err
			}
			return s.AsTerminatableUpload(up).Terminate(ctx)
		}},
		{"Remove", func(s *Store, id string) error { return s.Remove(ctx, id) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, nil)
			id := create(t, s, handler.FileInfo{Size: 10})
			writeChunks(t, s, id, []byte("0123456789"), nil)
			// A temp file a crash could leave between write and rename.
			must(t, os.WriteFile(filepath.Join(s.dir, id+".hash.tmp42"), nil, 0o600))
			other := create(t, s, handler.FileInfo{Size: 1})

			must(t, tc.remove(s, id))
			s.Flush()
			for _, p := range []string{s.Path(id), s.infoPath(id), s.hashPath(id), filepath.Join(s.dir, id+".hash.tmp42")} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still exists (%v)", filepath.Base(p), err)
				}
			}
			if _, err := os.Stat(s.hashPath(other)); err != nil {
				t.Errorf("other upload's state touched: %v", err)
			}
		})
	}
}

func TestIDValidation(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	tests := []struct {
		id    string
		valid bool
	}{
		{"abcDEF012_-", true},
		{strings.Repeat("a", maxIDLen), true},
		{"", false},
		{"..", false},
		{"../etc/passwd", false},
		{"a/b", false},
		{"/abs", false},
		{`a\b`, false},
		{"a.info", false},
		{"a b", false},
		{"a*", false},
		{"é", false},
		{strings.Repeat("a", maxIDLen+1), false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%.16q", tc.id), func(t *testing.T) {
			p := s.Path(tc.id)
			if !tc.valid {
				if p != "" {
					t.Fatalf("Path = %q, want rejection", p)
				}
				if _, err := s.Head(ctx, tc.id, 1); !errors.Is(err, ErrInvalidID) {
					t.Errorf("Head: %v", err)
				}
				if _, _, err := s.Digest(ctx, tc.id); !errors.Is(err, ErrInvalidID) {
					t.Errorf("Digest: %v", err)
				}
				return
			}
			if p != filepath.Join(s.dir, tc.id) {
				t.Fatalf("Path = %q", p)
			}
			if got := create(t, s, handler.FileInfo{ID: tc.id, Size: 1}); got != tc.id {
				t.Fatalf("created id %q", got)
			}
		})
	}

	t.Run("storage path from a hook is ignored", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "elsewhere")
		id := create(t, s, handler.FileInfo{Size: 1, Storage: map[string]string{"Path": outside}})
		if _, err := os.Stat(outside); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("data written outside the staging dir: %v", err)
		}
		if _, err := os.Stat(s.Path(id)); err != nil {
			t.Fatal(err)
		}
	})
}

// blockedWriter takes no byte until release is closed.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// Many uploads at once whose writes are slow hold about one copy buffer
// each, not copyBufs: the buffers beyond the first come from a budget all
// of them share.
func TestManyCopiesShareBuffers(t *testing.T) {
	const copies = 100
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := io.LimitReader(zeros{}, 4<<20)
			if _, err := copyHashed(blockedWriter{release}, sha256.New(), src, -1); err != nil {
				t.Error(err)
			}
		}()
	}
	// Each copy reads until it has no buffer left to read into.
	time.Sleep(500 * time.Millisecond)
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	close(release)
	wg.Wait()
	grown := int64(during.HeapInuse) - int64(before.HeapInuse)
	limit := int64(copies+sharedBufs)*copyBufSize + 8<<20 // the buffers, and room for the goroutines and hashes
	t.Logf("heap in use grew by %d KiB with %d copies blocked (limit %d KiB)", grown>>10, copies, limit>>10)
	if grown > limit {
		t.Errorf("heap in use grew by %d KiB, more than %d KiB", grown>>10, limit>>10)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
