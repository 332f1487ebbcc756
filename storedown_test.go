package carcosa_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// downStore is a Store whose database can be switched off.
type downStore struct {
	*memstore.Store
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (s *downStore) Create(ctx context.Context, u *store.Upload) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Create(ctx, u)
}

func (s *downStore) Get(ctx context.Context, id string) (*store.Upload, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Get(ctx, id)
}

func (s *downStore) GetByKey(ctx context.Context, key string) (*store.Upload, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.GetByKey(ctx, key)
}

func (s *downStore) Update(ctx context.Context, id string, fn func(*store.Upload) error) (*store.Upload, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Update(ctx, id, fn)
}

// With the database down, every request that needs it gets 503 unavailable,
// nothing reaches storage, and work resumes once it is back.
func TestStoreDown(t *testing.T) {
	ds := &downStore{Store: memstore.New()}
	tb := setupWith(t, ds)

	data := pngBytes(t, 16)
	// An upload that began before the outage.
	resp, body := tb.tusCreate(t, "alice", int64(len(data)), tusMetadata("route", "files", "filename", "a.png"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")

	ds.down.Store(true)
	resp, body = tb.tusCreate(t, "alice", 10, tusMetadata("route", "files", "filename", "b.png"), nil)
	wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	mb, ctype := multipartBody(t, part{field: "file", name: "c.png", data: data})
	resp, body = tb.do(t, "POST", tb.url("/routes/files"), "alice", mb, map[string]string{"Content-Type": ctype})
	wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	resp, body = tb.tusPatch(t, loc, "alice", 0, data, nil)
	wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("storage holds %v while the database is down", keys)
	}

	ds.down.Store(false)
	resp, body = tb.tusPatch(t, loc, "alice", 0, data, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("PATCH after the outage: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), body)
	}
}
