package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
)

// envS3 names the environment variable holding the S3 endpoint of the S3
// tests, such as a MinIO at http://127.0.0.1:9000. The credentials come
// from the AWS SDK's usual sources, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY. Every test makes buckets of its own, with random
// names, and removes them when it ends.
const envS3 = "CARCOSA_TEST_S3_ENDPOINT"

// s3Endpoint returns the test endpoint, skipping the test when there is
// none, or failing it on CI, where the endpoint must be set up.
func s3Endpoint(t *testing.T) string {
	t.Helper()
	e := os.Getenv(envS3)
	if e == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must provide an S3 endpoint (.ci/run starts MinIO)", envS3)
		}
		t.Skipf("set %s to an S3 endpoint, e.g. http://127.0.0.1:9000 (a MinIO), and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to its credentials, to run this test", envS3)
	}
	return e
}

// s3URL is the URL of the bucket name at endpoint, path-style as MinIO
// needs, with the extra parameters of query.
func s3URL(endpoint, name, query string) string {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	q := url.Values{}
	q.Set("endpoint", endpoint)
	q.Set("use_path_style", "true")
	q.Set("region", region)
	u := "s3://" + name + "?" + q.Encode()
	if query != "" {
		u += "&" + query
	}
	return u
}

func randomBucketName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "carcosa-test-" + hex.EncodeToString(b)
}

// tempS3Bucket creates a bucket of a new name at endpoint, and empties and
// removes it when the test ends.
func tempS3Bucket(t *testing.T, endpoint string) string {
	t.Helper()
	name := randomBucketName()
	bb, err := blob.OpenBucket(t.Context(), s3URL(endpoint, name, ""))
	if err != nil {
		t.Fatal(err)
	}
	var client *s3.Client
	if !bb.As(&client) {
		bb.Close()
		t.Fatal("the s3 bucket gives no *s3.Client")
	}
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		bb.Close()
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer bb.Close()
		ctx := context.Background()
		it := bb.List(nil)
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("listing bucket %s: %v", name, err)
				return
			}
			if err := bb.Delete(ctx, obj.Key); err != nil {
				t.Errorf("emptying bucket %s: %v", name, err)
			}
		}
		// Failed and cancelled Puts abort their multipart uploads; any
		// left would keep the bucket from being removed on some services.
		if ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &name}); err == nil {
			for _, up := range ups.Uploads {
				t.Errorf("multipart upload of %q left behind", *up.Key)
				_, _ = client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &name, Key: up.Key, UploadId: up.UploadId})
			}
		}
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
			t.Errorf("removing bucket %s: %v", name, err)
		}
	})
	return name
}

func TestS3Bucket(t *testing.T) {
	endpoint := s3Endpoint(t)
	name := tempS3Bucket(t, endpoint)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, s3URL(endpoint, name, ""))
	})
}

func TestS3BucketWithPrefix(t *testing.T) {
	endpoint := s3Endpoint(t)
	name := tempS3Bucket(t, endpoint)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, s3URL(endpoint, name, "prefix=pre/"))
	})

	t.Run("KeysUnderPrefix", func(t *testing.T) {
		b := openBucket(t, s3URL(endpoint, name, "prefix=pre/"))
		if err := b.Put(t.Context(), "k", strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
		whole := openBucket(t, s3URL(endpoint, name, ""))
		if ok, err := whole.Blob().Exists(t.Context(), "pre/k"); err != nil || !ok {
			t.Errorf("Exists(pre/k) = %v, %v; want the object under the prefix", ok, err)
		}
	})
}

func TestS3ContentType(t *testing.T) {
	endpoint := s3Endpoint(t)
	b := openBucket(t, s3URL(endpoint, tempS3Bucket(t, endpoint), ""))
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
	endpoint := s3Endpoint(t)
	name := randomBucketName()
	b, err := storage.Open(t.Context(), s3URL(endpoint, name, "kmskeyid=hunter2secret"))
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
	endpoint := s3Endpoint(t)
	name := tempS3Bucket(t, endpoint)
	for _, tc := range []struct{ name, keyID, secret string }{
		{"UnknownKey", "carcosa-no-such-key", "wrong-secret-hunter2"},
		{"WrongSecret", os.Getenv("AWS_ACCESS_KEY_ID"), "wrong-secret-hunter2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", tc.keyID)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			t.Setenv("AWS_SESSION_TOKEN", "")
			b, err := storage.Open(t.Context(), s3URL(endpoint, name, ""))
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
	endpoint := s3Endpoint(t)
	b := openBucket(t, s3URL(endpoint, tempS3Bucket(t, endpoint), ""))
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
