package carcosa_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// A creation whose Upload-Metadata is too large is refused before anything
// is staged or recorded.
func TestTusMetadataTooLarge(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	md := tusMetadata("route", "files", "filename", "a.bin", "note", strings.Repeat("x", 520<<10))
	resp, body := tb.tusCreate(t, "alice", 10, md, nil)
	wantError(t, resp, body, http.StatusRequestHeaderFieldsTooLarge, "metadata_too_large")

	// Without the input entry, the rest is bounded on its own.
	md = tusMetadata("route", "files", "filename", strings.Repeat("y", carcosa.MaxTusMetadata))
	resp, body = tb.tusCreate(t, "alice", 10, md, nil)
	wantError(t, resp, body, http.StatusRequestHeaderFieldsTooLarge, "metadata_too_large")

	if staged, _ := filepath.Glob(filepath.Join(tb.dataDir, "tus", "*")); len(staged) != 0 {
		t.Errorf("staged: %v", staged)
	}
	recs, err := tb.store.List(context.Background(), store.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("recorded: %+v", recs)
	}
}

// Metadata Carcosa does not read is not kept in the staging area.
func TestTusMetadataUnknownKeysDropped(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	md := tusMetadata("route", "files", "filename", "a.bin", "filetype", "application/octet-stream", "note", strings.Repeat("n", 10<<10))
	resp, body := tb.tusCreate(t, "alice", 10, md, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	id := tusID(resp.Header.Get("Location"))
	b, err := os.ReadFile(filepath.Join(tb.dataDir, "tus", id+".info"))
	if err != nil {
		t.Fatalf("staged: %v, %v", tb.stagedFiles(t, id), err)
	}
	var info struct{ MetaData map[string]string }
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if _, ok := info.MetaData["note"]; ok || len(b) > 4<<10 {
		t.Errorf("staged .info keeps the unknown key (%d bytes)", len(b))
	}
	if info.MetaData["route"] != "files" || info.MetaData["filename"] != "a.bin" || info.MetaData["filetype"] != "application/octet-stream" {
		t.Errorf("staged metadata: %v", info.MetaData)
	}
	data := randomBytes(10)
	if resp, body := tb.tusPatch(t, resp.Header.Get("Location"), "alice", 0, data, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	tb.wantReady(t, id, data)
}

// The route input keeps its own limit (64 KiB), above the other metadata's.
func TestTusMetadataLargeInput(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	input := `{"album":"a"` + strings.Repeat(" ", 60<<10) + `}`
	img := pngBytes(t, 100)
	md := tusMetadata("route", "images", "filename", "a.png", "filetype", "image/png", "input", input)
	resp, body := tb.tusCreate(t, "alice", int64(len(img)), md, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if resp, body := tb.tusPatch(t, loc, "alice", 0, img, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	tb.wantReady(t, tusID(loc), img)
}

// idleTTL is the IdleUploadTTL of the idle expiration tests.
const idleTTL = 800 * time.Millisecond

// Uploads that received no byte within IdleUploadTTL expire, whole ones,
// partial ones and ones of deferred length alike; an upload with some
// bytes keeps its UploadTTL.
func TestTusIdleUploadExpires(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.IdleUploadTTL = idleTTL })
	created := time.Now()
	data := randomBytes(50000)
	partly := tb.tusStart(t, len(data))
	if resp, body := tb.tusPatch(t, partly, "alice", 0, data[:20000], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	} else if at := expiresAt(t, resp); at.Before(created.Add(23 * time.Hour)) {
		t.Errorf("Upload-Expires %v with bytes received, want UploadTTL after creation", at)
	}
	empty := tb.tusStart(t, len(data))
	idle := map[string]string{"empty": tusID(empty)}
	resp, _ := tb.do(t, "HEAD", empty, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if at := expiresAt(t, resp); resp.StatusCode != http.StatusOK || at.After(created.Add(time.Minute)) {
		t.Errorf("HEAD of an upload with no byte: %d, Upload-Expires %v, want IdleUploadTTL after creation", resp.StatusCode, at)
	}
	resp, body := tb.tusCreate(t, "alice", 100, tusMetadata("route", "files"), map[string]string{"Upload-Concat": "partial"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create partial: %d %s", resp.StatusCode, body)
	}
	idle["partial"] = tusID(resp.Header.Get("Location"))
	resp, body = tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "d.bin"), map[string]string{"Upload-Defer-Length": "1"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create deferred: %d %s", resp.StatusCode, body)
	}
	idle["deferred"] = tusID(resp.Header.Get("Location"))
	headed := tb.tusStart(t, len(data))
	for name, id := range idle {
		if len(tb.stagedFiles(t, id)) == 0 {
			t.Fatalf("%s: nothing staged", name)
		}
	}
	time.Sleep(time.Until(created.Add(idleTTL + 300*time.Millisecond)))

	resp, body = tb.do(t, "HEAD", headed, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusGone {
		t.Errorf("HEAD of an idle upload: %d %s, want 410", resp.StatusCode, body)
	}
	idle["headed"] = tusID(headed)
	if err := tb.router.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, id := range idle {
		rec := tb.record(t, id, "alice")
		if rec.State != "rejected" || rec.Error == nil || rec.Error.Code != "upload_expired" {
			t.Errorf("%s: record = %+v", name, rec)
		}
		if left := tb.stagedFiles(t, id); len(left) != 0 {
			t.Errorf("%s: staged files left after expiry: %v", name, left)
		}
	}
	if rec := tb.record(t, tusID(partly), "alice"); rec.State != "uploading" {
		t.Fatalf("upload with bytes: record = %+v", rec)
	}
	if resp, body := tb.tusPatch(t, partly, "alice", 20000, data[20000:], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("last PATCH: %d %s", resp.StatusCode, body)
	}
	tb.wantReady(t, tusID(partly), data)
}
