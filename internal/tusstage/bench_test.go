package tusstage

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The copy into staging against the reference, a plain io.Copy of the same
// bytes into a file (what tusd's file store does), side by side:
//
//	go test -run '^$' -bench Copy -benchtime 20x ./internal/tusstage
func benchCopy(b *testing.B, copy func(dst io.Writer, src io.Reader) error) {
	const size = 64 << 20
	data := make([]byte, size)
	rand.Read(data)
	dir := b.TempDir()
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		f, err := os.Create(filepath.Join(dir, "f"))
		if err != nil {
			b.Fatal(err)
		}
		// A reader that hides its WriterTo, as a request body does.
		if err := copy(f, struct{ io.Reader }{&sectionOf{data: data}}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		_ = i
	}
}

type sectionOf struct {
	data []byte
	off  int
}

func (s *sectionOf) Read(p []byte) (int, error) {
	if s.off == len(s.data) {
		return 0, io.EOF
	}
	n := copy(p, s.data[s.off:])
	s.off += n
	return n, nil
}

func BenchmarkCopyReference(b *testing.B) {
	benchCopy(b, func(dst io.Writer, src io.Reader) error {
		_, err := io.Copy(struct{ io.Writer }{dst}, src)
		return err
	})
}

func BenchmarkCopyHashed(b *testing.B) {
	benchCopy(b, func(dst io.Writer, src io.Reader) error {
		_, err := copyHashed(dst, sha256.New(), src, -1)
		return err
	})
}
