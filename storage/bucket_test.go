package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
)

func fileURL(dir string, query string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(dir), RawQuery: query}
	return u.String()
}

func openBucket(t *testing.T, urlstr string) *storage.Bucket {
	t.Helper()
	b, err := storage.Open(t.Context(), urlstr)
	if err != nil {
		t.Fatalf("Open(%q): %v", urlstr, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestMemBucket(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, "mem://")
	})
}

func TestFileBucket(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, fileURL(t.TempDir(), ""))
	})
}

func TestFileBucketWithPrefix(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, fileURL(t.TempDir(), "prefix=pre/"))
	})
}

func TestNewBucket(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		b := storage.NewBucket(memblob.OpenBucket(nil))
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	b := openBucket(t, fileURL(dir, ""))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("bucket directory not created: %v", err)
	}
	if err := b.Put(t.Context(), "x/y", strings.NewReader("data"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x", "y")); err != nil {
		t.Fatalf("object not at its path: %v", err)
	}
}

func TestOpenBadURLCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	if _, err := storage.Open(t.Context(), fileURL(dir, "bogus=1")); err == nil {
		t.Fatal("Open with an unknown parameter succeeded")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory created for a rejected URL: %v", err)
	}
}

func TestOpenErrorsHideSecrets(t *testing.T) {
	for _, u := range []string{
		"nosuch://alice:hunter2secret@host/path?token=abcd1234sekret",
		"file:///tmp/x?secret_key_path=/etc/abcd1234sekret&bogus=hunter2secret",
		"file:///tmp/x?base_url=http://alice:hunter2secret@h/",
		"mem://?access=abcd1234sekret",
		"s3://alice:hunter2secret@bucket%zz?token=abcd1234sekret",
	} {
		_, err := storage.Open(context.Background(), u)
		if err == nil {
			t.Errorf("Open(%q) succeeded; want an error", u)
			continue
		}
		msg := err.Error()
		for _, secret := range []string{"hunter2secret", "abcd1234sekret", "alice"} {
			if strings.Contains(msg, secret) {
				t.Errorf("Open(%q) error reveals %q: %s", u, secret, msg)
			}
		}
	}
}

func TestContentType(t *testing.T) {
	for name, b := range map[string]*storage.Bucket{
		"mem":  openBucket(t, "mem://"),
		"file": openBucket(t, fileURL(t.TempDir(), "")),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if err := b.Put(ctx, "default", strings.NewReader("<html>"), nil); err != nil {
				t.Fatal(err)
			}
			opts := &storage.PutOptions{ContentType: "text/plain; charset=utf-8"}
			if err := b.Put(ctx, "typed", strings.NewReader("<html>"), opts); err != nil {
				t.Fatal(err)
			}
			wantType(t, b.Blob(), "default", "application/octet-stream")
			wantType(t, b.Blob(), "typed", "text/plain; charset=utf-8")

			r, err := b.Open(ctx, "typed")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.(*blob.Reader).ContentType(); got != "text/plain; charset=utf-8" {
				t.Errorf("reader content type = %q", got)
			}
		})
	}
}

func wantType(t *testing.T, b *blob.Bucket, key, want string) {
	t.Helper()
	a, err := b.Attributes(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentType != want {
		t.Errorf("%q content type = %q, want %q", key, a.ContentType, want)
	}
}

// TestFileBucketModes: a file bucket's directories are 0700 and its files,
// written or imported, with their .attrs, 0600, unless the URL says
// otherwise.
func TestFileBucketModes(t *testing.T) {
	for _, tc := range []struct {
		query         string
		file, dirMode os.FileMode
	}{
		{"", 0o600, 0o700},
		{"file_mode=0640&dir_file_mode=0750", 0o640, 0o750},
	} {
		root := filepath.Join(t.TempDir(), "bucket")
		b := openBucket(t, fileURL(root, tc.query))
		if err := b.Put(t.Context(), "a/b/put", strings.NewReader("data"), nil); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(t.TempDir(), "upload")
		if err := os.WriteFile(src, []byte("file bytes"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := b.ImportFile(t.Context(), "c/imported", src, nil); err != nil {
			t.Fatal(err)
		}
		n := 0
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n++
			want := tc.file
			if d.IsDir() {
				want = tc.dirMode
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%q: %s has mode %v, want %v", tc.query, path, fi.Mode().Perm(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 8 { // root, a, a/b, c, and two objects with their .attrs
			t.Errorf("%q: %d entries in the bucket", tc.query, n)
		}
	}
	for _, bad := range []string{"file_mode=0", "file_mode=rw", "file_mode=01777"} {
		if _, err := storage.Open(t.Context(), fileURL(t.TempDir(), bad)); err == nil {
			t.Errorf("Open with %s succeeded", bad)
		}
	}
}

func TestImportFileRenames(t *testing.T) {
	dir := t.TempDir()
	b := openBucket(t, fileURL(dir, ""))
	src := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(src, []byte("file bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	opts := &storage.PutOptions{ContentType: "image/png"}
	if err := b.ImportFile(t.Context(), "ab/cd/file", src, opts); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(filepath.Join(dir, "ab", "cd", "file"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("ImportFile copied the file instead of renaming it")
	}
	wantType(t, b.Blob(), "ab/cd/file", "image/png")
	if leftovers := listFiles(t, dir); len(leftovers) != 2 {
		t.Errorf("bucket holds %v; want the object and its .attrs only", leftovers)
	}
}

func TestImportFileMetadataSkip(t *testing.T) {
	dir := t.TempDir()
	b := openBucket(t, fileURL(dir, "metadata=skip"))
	src := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(src, []byte("file bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.ImportFile(t.Context(), "k", src, &storage.PutOptions{ContentType: "image/png"}); err != nil {
		t.Fatal(err)
	}
	if files := listFiles(t, dir); len(files) != 1 || files[0] != "k" {
		t.Errorf("bucket holds %v; want only the object", files)
	}
}

func TestImportFileRefusesReservedSuffix(t *testing.T) {
	dir := t.TempDir()
	b := openBucket(t, fileURL(dir, ""))
	src := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(src, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.ImportFile(t.Context(), "k.attrs", src, nil); err == nil {
		t.Fatal("ImportFile to a key ending in .attrs succeeded")
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("source gone after a refused import: %v", err)
	}
}

func TestFailedPutLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	b := openBucket(t, fileURL(dir, ""))
	r := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), errReader{})
	if err := b.Put(t.Context(), "a/b", r, nil); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Put(ctx, "a/c", strings.NewReader("x"), nil); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if files := listFiles(t, dir); len(files) != 0 {
		t.Errorf("failed Puts left %v", files)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestCheckKey(t *testing.T) {
	valid := []string{"a", "a/b", "A-Z_0.9/x.y", "2026/05/abcdef-0123.bin", strings.Repeat("a", 255)}
	invalid := []string{
		"", "/a", "a/", "a//b", "./a", "a/./b", "a/.", "..", "a..b", "a/../b",
		"a\\b", "a\x00b", "a b", "é", "a?b", "a:b",
		strings.Repeat("a", 256), strings.Repeat("a/", 600) + "a",
	}
	for _, k := range valid {
		if err := storage.CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v; want nil", k, err)
		}
	}
	for _, k := range invalid {
		if err := storage.CheckKey(k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("CheckKey(%q) = %v; want ErrInvalidKey", k, err)
		}
	}
}

// listFiles returns the bucket directory's regular files, relative to it.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
