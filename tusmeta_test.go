package carcosa_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store"
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
