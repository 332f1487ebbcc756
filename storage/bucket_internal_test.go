package storage

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A rename across devices fails with EXDEV; ImportFile must then copy the
// bytes in and remove the source.
func TestImportFileCrossDevice(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(t.Context(), (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.rename = func(oldpath, newpath string) error {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EXDEV}
	}

	src := filepath.Join(t.TempDir(), "upload")
	data := []byte("moved by copying")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ImportFile(t.Context(), "x/y", src, &PutOptions{ContentType: "text/plain"}); err != nil {
		t.Fatalf("ImportFile: %v", err)
	}
	if _, err := os.Lstat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source still there: %v", err)
	}
	after, err := os.Stat(filepath.Join(dir, "x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Error("object is the source file; want a copy")
	}
	got, err := b.Blob().ReadAll(t.Context(), "x/y")
	if err != nil || string(got) != string(data) {
		t.Errorf("object = %q, %v; want %q", got, err, data)
	}
	a, err := b.Blob().Attributes(t.Context(), "x/y")
	if err != nil || a.ContentType != "text/plain" {
		t.Errorf("content type = %v, %v; want text/plain", a, err)
	}
}

// Any other rename failure is reported, and leaves neither the object nor
// its attributes behind.
func TestImportFileRenameFails(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(t.Context(), (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.rename = func(oldpath, newpath string) error {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EACCES}
	}
	src := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(src, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.ImportFile(t.Context(), "k", src, nil); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("ImportFile = %v; want EACCES", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("source gone after a failed import: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("failed import left %s", e.Name())
	}
}

func TestBufferSize(t *testing.T) {
	for _, tc := range []struct {
		hint int64
		want int
	}{
		{0, defaultBufferSize},
		{1, defaultBufferSize},
		{defaultBufferSize * maxParts, defaultBufferSize},
		{defaultBufferSize*maxParts + 1, defaultBufferSize + 1<<20},
		{1 << 40, 117 << 20}, // 1 TiB in 9,000 parts of 117 MiB
	} {
		if got := bufferSize(tc.hint); got != tc.want {
			t.Errorf("bufferSize(%d) = %d, want %d", tc.hint, got, tc.want)
		}
	}
}
