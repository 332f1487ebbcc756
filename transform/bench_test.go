package transform

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// BenchmarkThumbnail12MP makes a 256×256 cover JPEG from a 4000×3000 JPEG.
// Run it with go test -run '^$' -bench Thumbnail ./transform.
func BenchmarkThumbnail12MP(b *testing.B) {
	src := encodeJPEG(b, gradient(4000, 3000))
	s := Spec{Width: 256, Height: 256, Fit: Cover, Format: JPEG}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Image(context.Background(), bytes.NewReader(src), s, Limits{}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
