package carcosa_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// transitions records the state changes an Observer is told, per upload.
type transitions struct {
	mu sync.Mutex
	by map[string][]string
}

func (tr *transitions) Observe(_ context.Context, e carcosa.Event) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	step := fmt.Sprintf("%s→%s", e.From, e.To)
	if e.Deleted {
		step = fmt.Sprintf("%s→deleted", e.From)
	}
	if e.Record == nil || e.Record.ID != e.ID || e.Route == "" {
		step += " (incomplete event)"
	}
	if e.Err != nil {
		step += " " + e.Err.Code
	}
	tr.by[e.ID] = append(tr.by[e.ID], step)
}

func (tr *transitions) of(id string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.by[id])
}

// Every upload's life, as the README's state diagram draws it, reaches the
// Observer: one event per change, in order, none twice.
func TestObserverSeesEveryTransition(t *testing.T) {
	t.Parallel()
	tr := &transitions{by: map[string][]string{}}
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.Observer = tr })
	want := func(id string, steps ...string) {
		t.Helper()
		if got := tr.of(id); !slices.Equal(got, steps) {
			t.Errorf("upload %s: transitions %q, want %q", id, got, steps)
		}
	}

	// A resumable upload in chunks.
	id, resp, body := tb.tusUpload(t, "alice", "files", "a.bin", randomBytes(300_000), 100_000)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	want(id, "→uploading", "uploading→processing", "processing→ready")

	// A multipart upload.
	mb, ct := multipartBody(t, part{field: "file", name: "b.bin", data: randomBytes(5000)})
	resp, body = tb.do(t, "POST", tb.url("/routes/files"), "alice", mb, map[string]string{"Content-Type": ct})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	mid := uploadIDs(t, body)[0]
	want(mid, "→uploading", "uploading→processing", "processing→ready")

	// Refused by its type: rejected, with the client's error.
	mb, ct = multipartBody(t, part{field: "file", name: "c.exe", data: peBytes()})
	resp, body = tb.do(t, "POST", tb.url("/routes/docs"), "alice", mb, map[string]string{"Content-Type": ct})
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("refused multipart: %d %s", resp.StatusCode, body)
	}
	all := tr.snapshot()
	if len(all) != 3 {
		t.Fatalf("events of %d uploads, want 3: %q", len(all), all)
	}
	for up, steps := range all {
		if up != id && up != mid && !slices.Equal(steps, []string{"→uploading", "uploading→rejected executable_not_allowed"}) {
			t.Errorf("refused upload %s: transitions %q", up, steps)
		}
	}

	// Deleted by its owner.
	resp, body = tb.do(t, "DELETE", tb.url("/uploads/"+mid), "alice", nil, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	want(mid, "→uploading", "uploading→processing", "processing→ready", "ready→deleted")
}

func (tr *transitions) snapshot() map[string][]string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[string][]string, len(tr.by))
	for k, v := range tr.by {
		out[k] = slices.Clone(v)
	}
	return out
}
