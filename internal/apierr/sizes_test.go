package apierr

import "testing"

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 bytes", 1: "1 byte", 700: "700 bytes", 1023: "1023 bytes",
		1 << 10: "1 KiB", 1536: "1.5 KiB", 16 << 20: "16 MiB", 100 << 20: "100 MiB",
		1<<20 - 1: "1.0 MiB", 2 << 30: "2 GiB", 1000000: "976.6 KiB", 5 << 40: "5 TiB",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
	if got, want := SizeMismatch(2<<20, 1<<20), "the uploaded file has 2 MiB, 1 MiB were declared"; got != want {
		t.Errorf("SizeMismatch = %q, want %q", got, want)
	}
	if got, want := SizeMismatch(1<<20+1, 1<<20+2), "the uploaded file has 1048577 bytes, 1048578 bytes were declared"; got != want {
		t.Errorf("SizeMismatch = %q, want %q", got, want)
	}
}
