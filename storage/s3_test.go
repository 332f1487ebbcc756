package storage_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
)

func TestS3Bucket(t *testing.T) {
	endpoint := testenv.S3Endpoint(t)
	name := testenv.TempS3Bucket(t, endpoint)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, testenv.S3URL(endpoint, name, ""))
	})
}

func TestS3BucketWithPrefix(t *testing.T) {
	endpoint := testenv.S3Endpoint(t)
	name := testenv.TempS3Bucket(t, endpoint)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, testenv.S3URL(endpoint, name, "prefix=pre/"))
	})

	t.Run("KeysUnderPrefix", func(t *testing.T) {
		b := openBucket(t, testenv.S3URL(endpoint, name, "prefix=pre/"))
		if err := b.Put(t.Context(), "k", strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
		whole := openBucket(t, testenv.S3URL(endpoint, name, ""))
		if ok, err := whole.Blob().Exists(t.Context(), "pre/k"); err != nil || !ok {
			t.Errorf("Exists(pre/k) = %v, %v; want the object under the prefix", ok, err)
		}
	})
}

func TestS3ContentType(t *testing.T) {
	endpoint := testenv.S3Endpoint(t)
	b := openBucket(t, testenv.S3URL(endpoint, testenv.TempS3Bucket(t, endpoint), ""))
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
}

func TestS3OpenMissingBucket(t *testing.T) {
	endpoint := testenv.S3Endpoint(t)
	name := testenv.BucketName()
	b, err := storage.Open(t.Context(), testenv.S3URL(endpoint, name, "kmskeyid=hunter2secret"))
	if err == nil {
		b.Close()
		t.Fatalf("Open of the missing bucket %s succeeded", name)
	}
	msg := err.Error()
	if !strings.Contains(msg, "s3://"+name) || !strings.Contains(msg, "does not exist") {
		t.Errorf("error = %q; want it to name s3://%s and say it does not exist", msg, name)
	}
	if strings.Contains(msg, "hunter2secret") {
		t.Errorf("error reveals the URL's query: %s", msg)
	}
}

// TestS3OpenWrongCredentials changes the process's environment, so it does
// not run in parallel.
func TestS3OpenWrongCredentials(t *testing.T) {
	endpoint := testenv.S3Endpoint(t)
	name := testenv.TempS3Bucket(t, endpoint)
	for _, tc := range []struct{ name, keyID, secret string }{
		{"UnknownKey", "carcosa-no-such-key", "wrong-secret-hunter2"},
		{"WrongSecret", os.Getenv("AWS_ACCESS_KEY_ID"), "wrong-secret-hunter2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", tc.keyID)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			t.Setenv("AWS_SESSION_TOKEN", "")
			b, err := storage.Open(t.Context(), testenv.S3URL(endpoint, name, ""))
			if err == nil {
				b.Close()
				t.Fatal("Open with wrong credentials succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, "s3://"+name) || !strings.Contains(msg, "access to the bucket denied") {
				t.Errorf("error = %q; want it to name s3://%s and say access is denied", msg, name)
			}
			if strings.Contains(msg, tc.secret) {
				t.Errorf("error reveals the secret key: %s", msg)
			}
		})
	}
}

// Objects larger than one part go up as multipart uploads; a failed one
// must leave neither an object nor an upload behind (tempS3Bucket checks
// the latter).
func TestS3Multipart(t *testing.T) {
	endpoint := testenv.S3Endpoint(t)
	b := openBucket(t, testenv.S3URL(endpoint, testenv.TempS3Bucket(t, endpoint), ""))
	ctx := t.Context()
	const size = 17 << 20 // three parts of 8 MiB
	data := make([]byte, size)
	rand.Read(data)

	if err := b.Put(ctx, "big", bytes.NewReader(data), &storage.PutOptions{Size: size}); err != nil {
		t.Fatal(err)
	}
	checkObject(t, b, "big", data)

	r := io.MultiReader(bytes.NewReader(data[:12<<20]), errReader{})
	if err := b.Put(ctx, "failed", r, nil); err == nil {
		t.Fatal("Put from a reader failing after the first part succeeded")
	}
	if _, err := b.Open(ctx, "failed"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open after a failed multipart Put = %v; want ErrNotFound", err)
	}

	path := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.ImportFile(ctx, "imported", path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source still there after ImportFile: %v", err)
	}
	checkObject(t, b, "imported", data)
}

func checkObject(t *testing.T, b *storage.Bucket, key string, want []byte) {
	t.Helper()
	r, err := b.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(want)) || !bytes.Equal(got, want) {
		t.Errorf("%q: size %d, %d bytes read, differing from the %d written", key, r.Size(), len(got), len(want))
	}
}
