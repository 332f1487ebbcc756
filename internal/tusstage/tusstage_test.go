package tusstage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	expslog "golang.org/x/exp/slog"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
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

func TestWriteChunksDigest(t *testing.T) {
	data := payload(1, 5*mib)
	tests := []struct {
		name     string
		deferred bool
		sizes    []int
	}{
		{"uneven", false, []int{1, 4095, mib + 7, 3*mib - 13, 17}},
		{"single", false, nil},
		{"deferred", true, []int{mib/2 + 1, 2*mib + 3, 999}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, nil)
			info := handler.FileInfo{Size: int64(len(data)), SizeIsDeferred: tc.deferred}
			if tc.deferred {
				info.Size = 0
			}
			id := create(t, s, info)
			writeChunks(t, s, id, data, tc.sizes)
			if tc.deferred {
				up, _ := s.GetUpload(context.Background(), id)
				if _, _, err := s.Digest(context.Background(), id); !errors.Is(err, ErrNotFinished) {
					t.Fatalf("Digest before length is known: err=%v, want ErrNotFinished", err)
				}
				if err := s.AsLengthDeclarableUpload(up).DeclareLength(context.Background(), int64(len(data))); err != nil {
					t.Fatal(err)
				}
			}
			finish(t, s, id)
			assertDigest(t, s, id, data)
			assertFile(t, s, id, data)

			head, err := s.Head(id, 512)
			if err != nil || !bytes.Equal(head, data[:512]) {
				t.Fatalf("Head(512): %d bytes, err=%v", len(head), err)
			}
			head, err = s.Head(id, len(data)+100)
			if err != nil || len(head) != len(data) {
				t.Fatalf("Head past end: %d bytes, err=%v", len(head), err)
			}
		})
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

// failingReader yields data in odd-sized reads, then fails.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p[:min(len(p), 3333)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReaderFailsHalfWay(t *testing.T) {
	s := newStore(t, nil)
	data := payload(4, 2*mib)
	id := create(t, s, handler.FileInfo{Size: int64(len(data))})
	boom := errors.New("connection dropped")
	half := len(data)/2 + 11

	n, err := writeAt(t, s, id, 0, &failingReader{data: data[:half], err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if n != int64(half) {
		t.Fatalf("n = %d, want %d", n, half)
	}
	if fi, err := os.Stat(s.Path(id)); err != nil || fi.Size() != n {
		t.Fatalf("file size %v, err %v; want %d", fi.Size(), err, n)
	}

	// Resume where the first request stopped, as a client would after HEAD.
	if m, err := writeAt(t, s, id, n, bytes.NewReader(data[n:])); err != nil || m != int64(len(data))-n {
		t.Fatalf("resume: n=%d err=%v", m, err)
	}
	finish(t, s, id)
	assertDigest(t, s, id, data)
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
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &shortWriter{room: tc.room}
			h := sha256.New()
			n, err := copyHashed(w, h, bytes.NewReader(data), int64(tc.max))
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

func TestLimit(t *testing.T) {
	ctx := context.Background()
	const limit = 1000

	t.Run("streamed writes", func(t *testing.T) {
		tests := []struct {
			name   string
			chunks []int
			wantN  []int64
			tooBig bool
		}{
			{"one chunk over", []int{1500}, []int64{1000}, true},
			{"second chunk crosses", []int{600, 600}, []int64{600, 400}, true},
			{"exactly the limit", []int{400, 600}, []int64{400, 600}, false},
			{"one byte past a full upload", []int{1000, 1}, []int64{1000, 0}, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, fixedLimit(limit))
				id := create(t, s, handler.FileInfo{SizeIsDeferred: true})
				data := payload(6, 2000)
				var off int64
				var err error
				for i, c := range tc.chunks {
					var n int64
					n, err = writeAt(t, s, id, off, bytes.NewReader(data[off:off+int64(c)]))
					if n != tc.wantN[i] {
						t.Fatalf("chunk %d: n = %d, want %d", i, n, tc.wantN[i])
					}
					off += n
					if i < len(tc.chunks)-1 && err != nil {
						t.Fatalf("chunk %d: %v", i, err)
					}
				}
				if tc.tooBig != errors.Is(err, ErrTooLarge) {
					t.Fatalf("err = %v, want ErrTooLarge: %v", err, tc.tooBig)
				}
				if tc.tooBig && errors.Is(err, handler.ErrSizeExceeded) {
					t.Fatal("ErrTooLarge must be distinguishable from tusd's ErrSizeExceeded")
				}
				fi, err := os.Stat(s.Path(id))
				must(t, err)
				if fi.Size() > limit || fi.Size() != off {
					t.Fatalf("file size %d, offset %d, limit %d", fi.Size(), off, limit)
				}
				// What did get written is hashed correctly.
				up, _ := s.GetUpload(ctx, id)
				must(t, s.AsLengthDeclarableUpload(up).DeclareLength(ctx, off))
				finish(t, s, id)
				assertDigest(t, s, id, data[:off])
			})
		}
	})

	t.Run("declared sizes", func(t *testing.T) {
		tests := []struct {
			name    string
			size    int64
			declare int64 // for deferred uploads; -1 for a known size
			wantErr error
		}{
			{"size at limit", limit, -1, nil},
			{"size over limit", limit + 1, -1, ErrTooLarge},
			{"declare at limit", 0, limit, nil},
			{"declare over limit", 0, limit + 1, ErrTooLarge},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, fixedLimit(limit))
				info := handler.FileInfo{Size: tc.size, SizeIsDeferred: tc.declare >= 0}
				up, err := s.NewUpload(ctx, info)
				if tc.declare < 0 {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("NewUpload err = %v, want %v", err, tc.wantErr)
					}
					if err != nil {
						entries, _ := os.ReadDir(s.dir)
						if len(entries) != 0 {
							t.Fatalf("rejected upload left %d files", len(entries))
						}
					}
					return
				}
				must(t, err)
				err = s.AsLengthDeclarableUpload(up).DeclareLength(ctx, tc.declare)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("DeclareLength err = %v, want %v", err, tc.wantErr)
				}
				info, _ = up.GetInfo(ctx)
				if deferred := tc.wantErr != nil; info.SizeIsDeferred != deferred {
					t.Fatalf("SizeIsDeferred = %v after DeclareLength", info.SizeIsDeferred)
				}
			})
		}
	})

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

func TestConcat(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil)
	p1, p2 := payload(9, mib+3), payload(10, 2*mib-5)

	var ids []string
	var partials []handler.Upload
	for _, p := range [][]byte{p1, p2} {
		id := create(t, s, handler.FileInfo{Size: int64(len(p)), IsPartial: true})
		writeChunks(t, s, id, p, []int{len(p) / 3})
		finish(t, s, id)
		ids = append(ids, id)
		up, err := s.GetUpload(ctx, id)
		must(t, err)
		partials = append(partials, up)
	}

	want := append(append([]byte{}, p1...), p2...)
	final, err := s.NewUpload(ctx, handler.FileInfo{Size: int64(len(want)), IsFinal: true, PartialUploads: ids})
	must(t, err)
	if err := s.AsConcatableUpload(final).ConcatUploads(ctx, partials); err != nil {
		t.Fatalf("ConcatUploads: %v", err)
	}
	info, _ := final.GetInfo(ctx)
	if info.Offset != int64(len(want)) {
		t.Fatalf("final offset = %d, want %d", info.Offset, len(want))
	}
	// No FinishUpload: tusd does not call it for final uploads.
	assertDigest(t, s, info.ID, want)
	assertFile(t, s, info.ID, want)
	assertDigest(t, s, ids[0], p1)
}

func TestTerminateAndRemove(t *testing.T) {
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
		{"Remove", func(s *Store, id string) error { return s.Remove(id) }},
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
			if _, err := s.GetUpload(ctx, id); !errors.Is(err, handler.ErrNotFound) {
				t.Errorf("GetUpload after removal: %v", err)
			}
			s.Flush()
			if _, err := os.Stat(s.hashPath(other)); err != nil {
				t.Errorf("other upload's state touched: %v", err)
			}
			// Removing again is fine.
			if err := s.Remove(id); err != nil {
				t.Errorf("second Remove: %v", err)
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
				if _, err := s.GetUpload(ctx, tc.id); !errors.Is(err, handler.ErrNotFound) {
					t.Errorf("GetUpload: %v", err)
				}
				if tc.id != "" {
					if _, err := s.NewUpload(ctx, handler.FileInfo{ID: tc.id, Size: 1}); !errors.Is(err, ErrInvalidID) {
						t.Errorf("NewUpload: %v", err)
					}
				}
				if err := s.Remove(tc.id); !errors.Is(err, ErrInvalidID) {
					t.Errorf("Remove: %v", err)
				}
				if _, err := s.Head(tc.id, 1); !errors.Is(err, ErrInvalidID) {
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

func TestConcurrentUploads(t *testing.T) {
	s := newStore(t, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			data := payload(uint64(100+i), 256<<10+i)
			up, err := s.NewUpload(ctx, handler.FileInfo{Size: int64(len(data))})
			if err != nil {
				t.Error(err)
				return
			}
			info, _ := up.GetInfo(ctx)
			for off := 0; off < len(data); off += 50000 {
				up, err := s.GetUpload(ctx, info.ID)
				if err != nil {
					t.Error(err)
					return
				}
				end := min(off+50000, len(data))
				if _, err := up.WriteChunk(ctx, int64(off), bytes.NewReader(data[off:end])); err != nil {
					t.Error(err)
					return
				}
			}
			up, _ = s.GetUpload(ctx, info.ID)
			if err := up.FinishUpload(ctx); err != nil {
				t.Error(err)
				return
			}
			sum, _, err := s.Digest(ctx, info.ID)
			if err != nil || sum != sha256.Sum256(data) {
				t.Errorf("upload %d: digest mismatch (%v)", i, err)
			}
		})
	}
	wg.Wait()
}

// tusServer runs a real tusd handler on the store. Uploads with metadata
// route=small are limited to 1000 bytes.
func tusServer(t *testing.T) (*Store, *httptest.Server) {
	t.Helper()
	s := newStore(t, func(info handler.FileInfo) int64 {
		if info.MetaData["route"] == "small" {
			return 1000
		}
		return 0
	})
	composer := handler.NewStoreComposer()
	s.UseIn(composer)
	memorylocker.New().UseIn(composer)
	if composer.UsesContentServer {
		t.Fatal("staging must not register a content server")
	}
	h, err := handler.NewHandler(handler.Config{
		BasePath:      "/files/",
		StoreComposer: composer,
		Logger:        expslog.New(expslog.NewTextHandler(io.Discard, nil)),
	})
	must(t, err)
	srv := httptest.NewServer(http.StripPrefix("/files/", h))
	t.Cleanup(srv.Close)
	return s, srv
}

func tusRequest(t *testing.T, method, url string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	must(t, err)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func meta(kv ...string) string {
	var parts []string
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

func TestHTTPEndToEnd(t *testing.T) {
	s, srv := tusServer(t)
	base := srv.URL + "/files/"

	t.Run("upload in three PATCHes", func(t *testing.T) {
		data := payload(11, 3*mib+17)
		res := tusRequest(t, "POST", base, nil, map[string]string{
			"Upload-Length":   strconv.Itoa(len(data)),
			"Upload-Metadata": meta("filename", "a.bin"),
		})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", res.Status)
		}
		loc := res.Header.Get("Location")
		id := path.Base(loc)

		cuts := []int{0, mib - 1, 2*mib + 5, len(data)}
		for i := 0; i < 3; i++ {
			res := tusRequest(t, "PATCH", loc, data[cuts[i]:cuts[i+1]], map[string]string{
				"Content-Type":  "application/offset+octet-stream",
				"Upload-Offset": strconv.Itoa(cuts[i]),
			})
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("PATCH %d: %s", i, res.Status)
			}
			if got := res.Header.Get("Upload-Offset"); got != strconv.Itoa(cuts[i+1]) {
				t.Fatalf("PATCH %d: Upload-Offset %s", i, got)
			}
		}

		res = tusRequest(t, "HEAD", loc, nil, nil)
		if res.StatusCode != http.StatusOK ||
			res.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) ||
			res.Header.Get("Upload-Length") != strconv.Itoa(len(data)) {
			t.Fatalf("HEAD: %s offset=%s length=%s", res.Status, res.Header.Get("Upload-Offset"), res.Header.Get("Upload-Length"))
		}
		assertDigest(t, s, id, data)

		res = tusRequest(t, "DELETE", loc, nil, nil)
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: %s", res.Status)
		}
		s.Flush()
		if _, err := os.Stat(s.hashPath(id)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("hash state left after DELETE: %v", err)
		}
	})

	t.Run("deferred length over the route limit", func(t *testing.T) {
		res := tusRequest(t, "POST", base, nil, map[string]string{
			"Upload-Defer-Length": "1",
			"Upload-Metadata":     meta("route", "small"),
		})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", res.Status)
		}
		loc := res.Header.Get("Location")
		id := path.Base(loc)

		res = tusRequest(t, "PATCH", loc, payload(12, 1500), map[string]string{
			"Content-Type":  "application/offset+octet-stream",
			"Upload-Offset": "0",
		})
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("PATCH over limit: %s, want 413", res.Status)
		}
		res = tusRequest(t, "HEAD", loc, nil, nil)
		// Everything up to the limit is kept, nothing beyond it.
		if off := res.Header.Get("Upload-Offset"); off != "1000" {
			t.Fatalf("offset after rejected PATCH = %s, want 1000", off)
		}
		if fi, err := os.Stat(s.Path(id)); err != nil || fi.Size() != 1000 {
			t.Fatalf("staged file: %v %v", fi.Size(), err)
		}
	})

	t.Run("declared length over the route limit", func(t *testing.T) {
		res := tusRequest(t, "POST", base, nil, map[string]string{
			"Upload-Length":   "1001",
			"Upload-Metadata": meta("route", "small"),
		})
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("POST over limit: %s, want 413", res.Status)
		}
	})
}
