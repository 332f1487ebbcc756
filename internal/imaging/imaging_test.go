package imaging

import (
	"testing"

	"github.com/carcosa-dev/carcosa/transform"
)

func TestFormatExtAndType(t *testing.T) {
	t.Parallel()
	for _, mime := range []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"} {
		if got := ExtType(FormatExt(mime)); got != mime {
			t.Errorf("ExtType(FormatExt(%q)) = %q", mime, got)
		}
	}
	tests := []struct {
		format transform.Format
		src    string
		want   string
	}{
		{transform.WebP, "image/png", "image/webp"},
		{transform.AVIF, "image/jpeg", "image/avif"},
		{"", "image/webp", "image/jpeg"},
		{"", "image/gif", "image/gif"},
		{transform.Auto, "image/png", "image/png"}, // unresolved: as ""
	}
	for _, tt := range tests {
		if got := OutputType(transform.Spec{Format: tt.format}, tt.src); got != tt.want {
			t.Errorf("OutputType(%q, %s) = %s, want %s", tt.format, tt.src, got, tt.want)
		}
	}
}
