package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/gcs"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
)

// gcsEmulator returns the emulator's host and sets STORAGE_EMULATOR_HOST to
// it, skipping the test when there is none, or failing it on CI, where the
// emulator must be set up. Tests that call it do not run in parallel.
func gcsEmulator(t *testing.T) string {
	t.Helper()
	h := testenv.Require(t, testenv.GCS, "the host:port of a GCS emulator serving HTTP, e.g. 127.0.0.1:4443 (fake-gcs-server -scheme http)")
	t.Setenv("STORAGE_EMULATOR_HOST", h)
	return h
}

// gcsAPI makes a request of the emulator's JSON API, failing the test
// unless the status is one of ok.
func gcsAPI(t *testing.T, method, u string, body any, ok ...int) {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	for _, s := range ok {
		if resp.StatusCode == s {
			return
		}
	}
	t.Fatalf("%s %s: %s: %s", method, u, resp.Status, msg)
}

// tempGCSBucket creates a bucket of a new name in the emulator at host,
// and empties and removes it when the test ends.
func tempGCSBucket(t *testing.T, host string) string {
	t.Helper()
	name := testenv.BucketName()
	gcsAPI(t, http.MethodPost, "http://"+host+"/storage/v1/b?project=test",
		map[string]string{"name": name}, http.StatusOK, http.StatusCreated)
	t.Cleanup(func() {
		ctx := context.Background()
		bb, err := blob.OpenBucket(ctx, "gs://"+name)
		if err != nil {
			t.Errorf("opening bucket %s: %v", name, err)
			return
		}
		defer bb.Close()
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
		gcsAPI(t, http.MethodDelete, "http://"+host+"/storage/v1/b/"+url.PathEscape(name), nil,
			http.StatusOK, http.StatusNoContent)
	})
	return name
}

func TestGCSBucket(t *testing.T) {
	host := gcsEmulator(t)
	name := tempGCSBucket(t, host)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, "gs://"+name)
	})
}

func TestGCSContentType(t *testing.T) {
	host := gcsEmulator(t)
	b := openBucket(t, "gs://"+tempGCSBucket(t, host))
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

func TestGCSOpenMissingBucket(t *testing.T) {
	gcsEmulator(t)
	name := testenv.BucketName()
	b, err := storage.Open(t.Context(), "gs://"+name)
	if err == nil {
		b.Close()
		t.Fatalf("Open of the missing bucket %s succeeded", name)
	}
	msg := err.Error()
	if !strings.Contains(msg, "gs://"+name) || !strings.Contains(msg, "does not exist") {
		t.Errorf("error = %q; want it to name gs://%s and say it does not exist", msg, name)
	}
}
