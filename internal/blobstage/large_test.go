package blobstage

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/carcosa-dev/carcosa/storage"
)

// genReader yields n pseudo-random bytes without holding them.
type genReader struct {
	r    *rand.ChaCha8
	left int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	g.r.Read(p)
	g.left -= int64(len(p))
	return len(p), nil
}

// 8. Memory does not grow with the size of an upload: 256 MiB streamed
// through tusd into a file bucket in one PATCH, digested and committed to
// another file bucket by streaming. The body is generated, never held.
func TestLargeUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	const size = 256 << 20
	ctx := t.Context()
	b, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)

	// Sample the heap while the upload runs.
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	id := srv.mustCreate(size, nil)
	h := sha256.New()
	body := io.TeeReader(&genReader{r: rand.NewChaCha8([32]byte{99}), left: size}, h)
	resp := srv.mustDo("PATCH", "/files/"+id, map[string]string{
		"Content-Type":  "application/offset+octet-stream",
		"Upload-Offset": "0",
	}, body, size)
	if resp.StatusCode != 204 {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}
	var want [32]byte
	h.Sum(want[:0])
	sum, n, err := s.Digest(ctx, id)
	if err != nil || n != size || sum != want {
		t.Fatalf("Digest: %x %d %v", sum, n, err)
	}
	ob, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other := storage.NewBucket(ob)
	defer other.Close()
	if err := s.Commit(ctx, id, other, "big", nil); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	r, err := ob.NewReader(ctx, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h2 := sha256.New()
	if _, err := io.Copy(h2, r); err != nil {
		t.Fatal(err)
	}
	if got := h2.Sum(nil); string(got) != string(want[:]) {
		t.Fatal("committed object differs")
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use grew by at most %d MiB for a %d MiB upload", growth>>20, size>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d MiB", growth>>20)
	}
	if err := s.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
}
