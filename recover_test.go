package carcosa_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// A multipart upload left in progress by a process that died, for longer
// than a request may last, is failed by Recover and its bytes removed; a
// recent one is left alone, since its request may still be running.
func TestRecoverAbandonedMultipart(t *testing.T) {
	tb := setup(t)
	ctx := context.Background()
	old := time.Now().Add(-time.Hour)
	for _, u := range []*store.Upload{
		{ID: "00000000000000000000000000000001", Route: "files", Owner: "alice", Via: "multipart",
			Name: "a.bin", Size: -1, Key: "files/00000000000000000000000000000001.bin", State: store.Uploading, UpdatedAt: old},
		{ID: "00000000000000000000000000000002", Route: "files", Owner: "alice", Via: "multipart",
			Name: "b.bin", Size: 3, Key: "files/00000000000000000000000000000002.bin", State: store.Processing, UpdatedAt: old},
		{ID: "00000000000000000000000000000003", Route: "files", Owner: "alice", Via: "multipart",
			Name: "c.bin", Size: -1, Key: "files/00000000000000000000000000000003.bin", State: store.Uploading},
	} {
		if err := tb.store.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := tb.storage.Put(ctx, u.Key, bytes.NewReader([]byte("abc")), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.router.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []store.State{store.Failed, store.Failed, store.Uploading} {
		id := "0000000000000000000000000000000" + string(rune('1'+i))
		rec, err := tb.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != want {
			t.Errorf("%s: state %s, want %s", id, rec.State, want)
		}
		_, err = tb.storage.Open(ctx, rec.Key)
		if gone := errors.Is(err, storage.ErrNotFound); gone != (want == store.Failed) {
			t.Errorf("%s: object gone = %v, want %v", id, gone, want == store.Failed)
		}
		if want == store.Failed && rec.ErrorCode != "interrupted" {
			t.Errorf("%s: error code %q, want interrupted", id, rec.ErrorCode)
		}
	}
}
