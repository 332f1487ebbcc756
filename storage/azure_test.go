package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/azure"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
)

// Azurite's development account, the same in every installation.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azurite returns the Azurite host and sets the account's credentials in
// the environment, skipping the test when there is no Azurite, or failing
// it on CI, where Azurite must be set up. Tests that call it do not run in
// parallel.
func azurite(t *testing.T) string {
	t.Helper()
	h := testenv.Require(t, testenv.Azurite, "the host:port of an Azurite blob service, e.g. 127.0.0.1:10000")
	t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
	return h
}

// azureURL is the URL of the container name at the Azurite host.
func azureURL(host, name string) string {
	q := url.Values{}
	q.Set("protocol", "http")
	q.Set("domain", host)
	q.Set("localemu", "true")
	return "azblob://" + name + "?" + q.Encode()
}

// tempAzureContainer creates a container of a new name at the Azurite host,
// and removes it, with its blobs, when the test ends.
func tempAzureContainer(t *testing.T, host string) string {
	t.Helper()
	name := testenv.BucketName()
	bb, err := blob.OpenBucket(t.Context(), azureURL(host, name))
	if err != nil {
		t.Fatal(err)
	}
	var c *container.Client
	if !bb.As(&c) {
		bb.Close()
		t.Fatal("the azblob bucket gives no *container.Client")
	}
	if _, err := c.Create(t.Context(), nil); err != nil {
		bb.Close()
		t.Fatalf("creating container %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer bb.Close()
		if _, err := c.Delete(context.Background(), nil); err != nil {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
	return name
}

func TestAzureBucket(t *testing.T) {
	host := azurite(t)
	name := tempAzureContainer(t, host)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return openBucket(t, azureURL(host, name))
	})
}

func TestAzureContentType(t *testing.T) {
	host := azurite(t)
	b := openBucket(t, azureURL(host, tempAzureContainer(t, host)))
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

func TestAzureOpenMissingContainer(t *testing.T) {
	host := azurite(t)
	name := testenv.BucketName()
	b, err := storage.Open(t.Context(), azureURL(host, name))
	if err == nil {
		b.Close()
		t.Fatalf("Open of the missing container %s succeeded", name)
	}
	msg := err.Error()
	if !strings.Contains(msg, "azblob://"+name) || !strings.Contains(msg, "does not exist") {
		t.Errorf("error = %q; want it to name azblob://%s and say it does not exist", msg, name)
	}
	if strings.Contains(msg, azuriteKey) {
		t.Errorf("error reveals the account key: %s", msg)
	}
}

// The Azure driver crashes when an upload written through its writer
// fails; Put must instead return the reader's error and leave no blob,
// whether the failure comes within the first block or after several.
func TestAzureFailingReader(t *testing.T) {
	host := azurite(t)
	b := openBucket(t, azureURL(host, tempAzureContainer(t, host)))
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		size int
	}{
		{"WithinFirstBlock", 1 << 20},
		{"AfterSeveralBlocks", 17 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			rand.Read(data)
			key := "failed-" + tc.name
			r := io.MultiReader(bytes.NewReader(data), errReader{})
			if err := b.Put(ctx, key, r, nil); err == nil {
				t.Fatal("Put from a failing reader succeeded")
			}
			if _, err := b.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Open after a failed Put = %v; want ErrNotFound", err)
			}

			// A failed overwrite keeps the blob already there.
			if err := b.Put(ctx, key, bytes.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
			r = io.MultiReader(bytes.NewReader(make([]byte, tc.size)), errReader{})
			if err := b.Put(ctx, key, r, nil); err == nil {
				t.Fatal("overwriting Put from a failing reader succeeded")
			}
			checkObject(t, b, key, data)
		})
	}
}
