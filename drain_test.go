package carcosa_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A draining Router refuses new uploads, 503 unavailable with Retry-After,
// and says so in /readyz, while the uploads in flight finish.
func TestDrain(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(6000)
	resp, body := tb.tusCreate(t, "alice", int64(len(data)), tusMetadata("route", "files", "filename", "a.bin"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	if resp, body := tb.tusPatch(t, loc, "alice", 0, data[:2000], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first PATCH: %d %s", resp.StatusCode, body)
	}
	p1, p2 := randomBytes(100), randomBytes(200)
	parts := tb.tusPartials(t, "alice", "files", p1, p2)

	owner := tb.openStream(t, tb.url("/events?route=files"), "alice", nil)

	tb.router.Drain()
	tb.router.Drain() // twice is once
	// An owner's event stream would hold the server's shutdown: it ends.
	if !owner.ended() {
		t.Error("the owner's event stream did not end at Drain")
	}

	code, rz, raw := readyz(t, tb.router)
	if code != http.StatusServiceUnavailable || rz.Status != "draining" {
		t.Errorf("/readyz while draining: %d %s", code, raw)
	}

	refused := func(what string, resp *http.Response, body []byte) {
		t.Helper()
		wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
		if ra := resp.Header.Get("Retry-After"); ra != "5" {
			t.Errorf("%s: Retry-After %q, want 5", what, ra)
		}
	}
	resp, body = tb.tusCreate(t, "alice", 10, tusMetadata("route", "files", "filename", "b.bin"), nil)
	refused("tus creation", resp, body)
	if resp.Header.Get("Tus-Resumable") != "1.0.0" {
		t.Error("the refused tus creation has no Tus-Resumable header")
	}
	mb, ctype := multipartBody(t, part{field: "file", name: "c.bin", data: data})
	resp, body = tb.do(t, "POST", tb.url("/routes/files"), "alice", mb, map[string]string{"Content-Type": ctype})
	refused("multipart", resp, body)
	pb, _ := json.Marshal(map[string]any{"files": []map[string]any{{"name": "d.bin", "size": 10, "type": "application/octet-stream"}}})
	resp, body = tb.do(t, "POST", tb.url("/routes/files/presign"), "alice", strings.NewReader(string(pb)), map[string]string{"Content-Type": "application/json"})
	refused("presign", resp, body)

	// What is in flight goes on: reads, tus HEAD and PATCH, a
	// concatenation of parts already sent.
	if resp, body := tb.do(t, "GET", tb.url("/routes"), "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /routes while draining: %d %s", resp.StatusCode, body)
	}
	resp, body = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "2000" {
		t.Fatalf("HEAD while draining: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-Offset"), body)
	}
	resp, body = tb.tusPatch(t, loc, "alice", 2000, data[2000:], nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("last PATCH while draining: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), body)
	}
	if rec := tb.record(t, id, "alice"); rec.State != "ready" || rec.SHA256 != sha(data) {
		t.Fatalf("record %+v; want ready with the data's SHA-256", rec)
	}
	resp, body = tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "whole.bin"),
		map[string]string{"Upload-Concat": "final;" + strings.Join(parts, " ")})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("concatenation while draining: %d %s", resp.StatusCode, body)
	}
	loc = resp.Header.Get("Location")
	whole := append(append([]byte{}, p1...), p2...)
	if rec := tb.record(t, loc[strings.LastIndexByte(loc, '/')+1:], "alice"); rec.State != "ready" || rec.SHA256 != sha(whole) {
		t.Fatalf("concatenated record %+v", rec)
	}
}

// A presigned upload whose URL was given before Drain is completed after
// it; a new presign is refused.
func TestDrainCompletesPresigned(t *testing.T) {
	t.Parallel()
	pb := newPresignBundle(t, s3Bucket(t))
	img := pngBytes(t, 32)
	ups := pb.presign(t, map[string]any{"name": "a.png", "size": len(img), "type": "image/png"})
	pb.r.Drain()
	resp, body := pb.post(t, "/routes/images/presign", map[string]any{"files": []map[string]any{{"name": "b.png", "size": len(img), "type": "image/png"}}})
	wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	put(t, ups[0], img)
	resp, body = pb.post(t, "/uploads/"+ups[0].ID+"/complete", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("complete while draining: %d %s", resp.StatusCode, body)
	}
	var rec struct{ State, SHA256 string }
	if err := json.Unmarshal(body, &rec); err != nil || rec.State != "ready" || rec.SHA256 != sha(img) {
		t.Fatalf("record %s", body)
	}
}
