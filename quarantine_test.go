package carcosa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// infectedPrefix starts the files that prefixScanner finds infected.
const infectedPrefix = "INFECTED"

// prefixScanner finds infected every file that starts with infectedPrefix:
// a scanner without clamd.
var prefixScanner = scan.Func(func(_ context.Context, r io.Reader) (scan.Verdict, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return scan.Verdict{}, err
	}
	if bytes.HasPrefix(b, []byte(infectedPrefix)) {
		return scan.Verdict{Infected: true, Signature: "Test.Prefix"}, nil
	}
	return scan.Verdict{}, nil
})

// TestReleaseRacesDeleteQuarantined: Release and DeleteQuarantined of one
// quarantined file at the same moment. One of them wins; the other finds
// the file no longer quarantined, and what is left is what the winner
// made: a ready file served at its key, or nothing at all.
func TestReleaseRacesDeleteQuarantined(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.Scanner = prefixScanner })
	ctx := context.Background()
	released, deleted := 0, 0
	for i := range 40 {
		data := fmt.Appendf(nil, "%s %d\n", infectedPrefix, i)
		resp, body := tb.multipartUpload(t, "files", "f.bin", data)
		wantError(t, resp, body, 422, "malware_detected")
		id := tb.onlyRecordWith(t, sha(data))
		u, err := tb.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}

		var (
			wg        sync.WaitGroup
			start     = make(chan struct{})
			up        carcosa.Upload
			relErr    error
			deleteErr error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			up, relErr = tb.router.Release(ctx, id)
		}()
		go func() {
			defer wg.Done()
			<-start
			deleteErr = tb.router.DeleteQuarantined(ctx, id)
		}()
		close(start)
		wg.Wait()

		switch {
		case relErr == nil && errors.Is(deleteErr, carcosa.ErrNotQuarantined):
			released++
			if up.State != "ready" || up.Scan != "released" {
				t.Fatalf("released record = %+v", up)
			}
			if got := tb.fetch(t, up.URL); !bytes.Equal(got, data) {
				t.Fatal("released bytes differ")
			}
			if _, err := tb.storage.Open(ctx, ".quarantine/"+u.Key); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the released file is still in quarantine: %v", err)
			}
		case deleteErr == nil && (errors.Is(relErr, carcosa.ErrNotFound) || errors.Is(relErr, carcosa.ErrNotQuarantined)):
			deleted++
			if _, err := tb.store.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("record after DeleteQuarantined: %v", err)
			}
			for _, key := range []string{u.Key, ".quarantine/" + u.Key} {
				if _, err := tb.storage.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("%s is still stored: %v", key, err)
				}
			}
		default:
			t.Fatalf("Release: %+v, %v; DeleteQuarantined: %v", up, relErr, deleteErr)
		}
	}
	t.Logf("released %d, deleted %d", released, deleted)
}
