package tusext

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

const mib = 1 << 20

func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func sha256Of(b []byte) Checksum {
	s := sha256.Sum256(b)
	return Checksum{Algorithm: "sha256", Sum: s[:]}
}

// modes runs f with the file unlinked at creation (what Spool does where it
// can) and with it kept until Close (what Windows needs), so that both
// clean-up paths are checked on every system.
func modes(t *testing.T, f func(t *testing.T, unlinkEarly bool)) {
	for _, early := range []bool{true, false} {
		name := "kept"
		if early {
			name = "unlinked"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, early)
		})
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s left in the spool dir", e.Name())
	}
}

func TestSpoolRoundTrip(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, early bool) {
		dir := t.TempDir()
		data := payload(1, 5*mib+123)
		s, err := spool(t.Context(), struct{ io.Reader }{bytes.NewReader(data)}, sha256Of(data), dir, int64(len(data)), early)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Size() != int64(len(data)) {
			t.Errorf("Size() = %d; want %d", s.Size(), len(data))
		}
		h := sha256.New()
		n, err := io.Copy(h, s)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sha256Of(data).Sum) {
			t.Fatalf("read back %d bytes with another digest; want the %d bytes sent", n, len(data))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		assertEmpty(t, dir)
	})
}

func TestSpoolEveryAlgorithm(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, a := range algorithms {
		h := a.new()
		h.Write(hello)
		s, err := Spool(t.Context(), bytes.NewReader(hello), Checksum{a.name, h.Sum(nil)}, dir, -1)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		got, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(got, hello) {
			t.Errorf("%s: read back %q, %v", a.name, got, err)
		}
		s.Close()
	}
	assertEmpty(t, dir)
}

func TestSpoolEmptyBody(t *testing.T) {
	t.Parallel()
	s, err := Spool(t.Context(), strings.NewReader(""), sha256Of(nil), t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := io.Copy(io.Discard, s); n != 0 || err != nil || s.Size() != 0 {
		t.Fatalf("empty body read back as %d bytes (Size %d), %v", n, s.Size(), err)
	}
}

func TestSpoolMismatch(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, early bool) {
		dir := t.TempDir()
		data := payload(2, 2*mib)
		other := bytes.Clone(data)
		other[len(other)-1] ^= 1
		s, err := spool(t.Context(), bytes.NewReader(data), sha256Of(other), dir, -1, early)
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("Spool = %v, %v; want ErrMismatch", s, err)
		}
		assertEmpty(t, dir)
	})
}

func TestSpoolLimit(t *testing.T) {
	t.Parallel()
	data := payload(3, mib+1)
	sum := sha256Of(data)
	size := int64(len(data))
	for _, limit := range []int64{size, -1, math.MaxInt64} {
		s, err := Spool(t.Context(), bytes.NewReader(data), sum, t.TempDir(), limit)
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		s.Close()
	}

	modes(t, func(t *testing.T, early bool) {
		for _, limit := range []int64{size - 1, 0, 1} {
			dir := t.TempDir()
			r := bytes.NewReader(data)
			s, err := spool(t.Context(), r, sum, dir, limit, early)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("limit %d: Spool = %v, %v; want ErrTooLarge", limit, s, err)
			}
			// One byte past the limit shows the body is too long; the rest
			// is not read.
			if read := size - int64(r.Len()); read != limit+1 {
				t.Errorf("limit %d: read %d bytes; want %d", limit, read, limit+1)
			}
			assertEmpty(t, dir)
		}
	})
}

func TestSpoolBodyFails(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("connection reset")
	modes(t, func(t *testing.T, early bool) {
		dir := t.TempDir()
		data := payload(4, 3*mib)
		body := io.MultiReader(bytes.NewReader(data[:mib]), iotest.ErrReader(errBoom))
		s, err := spool(t.Context(), body, sha256Of(data), dir, -1, early)
		if !errors.Is(err, errBoom) {
			t.Fatalf("Spool = %v, %v; want %v", s, err, errBoom)
		}
		if !strings.Contains(err.Error(), "reading body") {
			t.Errorf("error %q does not say the body failed", err)
		}
		assertEmpty(t, dir)
	})
}

// cancelAfter cancels its context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelCauseFunc
	cause  error
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel(c.cause)
	}
	return n, err
}

func TestSpoolCancelled(t *testing.T) {
	t.Parallel()
	errGone := errors.New("client went away")
	modes(t, func(t *testing.T, early bool) {
		dir := t.TempDir()
		data := payload(5, 4*mib)
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		body := &cancelAfter{r: bytes.NewReader(data), n: mib, cancel: cancel, cause: errGone}
		s, err := spool(ctx, body, sha256Of(data), dir, -1, early)
		if !errors.Is(err, errGone) {
			t.Fatalf("Spool = %v, %v; want the context's cause", s, err)
		}
		assertEmpty(t, dir)
	})

	t.Run("before", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		s, err := Spool(ctx, bytes.NewReader(hello), sha256Of(hello), dir, -1)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Spool = %v, %v; want context.Canceled", s, err)
		}
		assertEmpty(t, dir)
	})
}

func TestSpoolInvalidChecksum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		sum  Checksum
		want error
	}{
		{Checksum{}, ErrUnsupported},
		{Checksum{"crc32", make([]byte, 4)}, ErrUnsupported},
		{Checksum{"sha256", make([]byte, 20)}, ErrMalformed},
		{Checksum{"sha1", nil}, ErrMalformed},
	} {
		if _, err := Spool(t.Context(), bytes.NewReader(hello), tt.sum, dir, -1); !errors.Is(err, tt.want) {
			t.Errorf("Spool with %+v: %v; want %v", tt.sum, err, tt.want)
		}
	}
	assertEmpty(t, dir)
}

func TestSpoolNoDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing")
	if _, err := Spool(t.Context(), bytes.NewReader(hello), sha256Of(hello), dir, -1); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Spool into a missing dir: %v; want os.ErrNotExist", err)
	}
}

func TestSpooledClose(t *testing.T) {
	t.Parallel()

	t.Run("kept", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s, err := spool(t.Context(), bytes.NewReader(hello), sha256Of(hello), dir, -1, false)
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "tusext-") {
			t.Fatalf("spool dir holds %v; want one tusext-* file", entries)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		assertEmpty(t, dir)
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("unlinked", func(t *testing.T) {
		t.Parallel()
		if runtime.GOOS == "windows" {
			t.Skip("Windows cannot remove an open file; Spool keeps it until Close")
		}
		dir := t.TempDir()
		s, err := Spool(t.Context(), bytes.NewReader(hello), sha256Of(hello), dir, -1)
		if err != nil {
			t.Fatal(err)
		}
		assertEmpty(t, dir) // nothing to leak even if the process dies now
		got, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(got, hello) {
			t.Fatalf("read back %q, %v", got, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(make([]byte, 1)); err == nil {
			t.Error("Read after Close succeeded")
		}
	})

	// tusd closes the body of a request it cuts short from a goroutine of
	// its own, while the request's handler closes it too.
	t.Run("concurrently", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s, err := spool(t.Context(), bytes.NewReader(hello), sha256Of(hello), dir, -1, false)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { s.Close() })
		}
		wg.Wait()
		assertEmpty(t, dir)
	})
}

// pattern is an endless body that allocates nothing.
type pattern struct{ i byte }

func (p *pattern) Read(b []byte) (int, error) {
	for j := range b {
		b[j] = p.i
		p.i += 7
	}
	return len(b), nil
}

// Memory does not grow with the chunk: 16 MiB spool through a fixed buffer.
// Not parallel, so that no other test's allocations are counted.
func TestSpoolMemory(t *testing.T) {
	const size = 16 * mib
	h := sha256.New()
	io.CopyN(h, &pattern{}, size)
	sum := Checksum{"sha256", h.Sum(nil)}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := Spool(t.Context(), io.LimitReader(&pattern{}, size), sum, t.TempDir(), size)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("spooling %d MiB allocated %d bytes", size/mib, alloc)
	if alloc > mib {
		t.Fatalf("spooling %d MiB allocated %d bytes", size/mib, alloc)
	}
}
