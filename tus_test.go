package carcosa_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/testenv"
)

func randomBytes(n int) []byte {
	b := testenv.RandomBytes(n)
	return b
}

func TestTusUploadRoundTrip(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(3<<20 + 17)
	id, resp, body := tb.tusUpload(t, "alice", "files", "data.bin", data, 1<<20)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("final PATCH: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	rec := tb.record(t, id, "alice")
	if rec.State != "ready" || rec.Size != int64(len(data)) || rec.SHA256 != sha(data) || rec.Name != "data.bin" {
		t.Fatalf("record = %+v", rec)
	}
	if !strings.Contains(rec.URL, "sig=") {
		t.Fatalf("private file URL is not signed: %s", rec.URL)
	}
	if !bytes.Equal(tb.fetch(t, rec.URL), data) {
		t.Fatal("served bytes differ")
	}
	// A HEAD after the end reports the upload complete.
	resp, _ = tb.do(t, "HEAD", tb.url("/tus/"+id), "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD after ready: %d %v", resp.StatusCode, resp.Header)
	}
	// Other owners learn nothing.
	for _, m := range []string{"HEAD", "PATCH", "DELETE"} {
		resp, _ = tb.do(t, m, tb.url("/tus/"+id), "mallory", nil, map[string]string{"Tus-Resumable": "1.0.0"})
		if resp.StatusCode != 404 {
			t.Fatalf("%s by another owner: %d", m, resp.StatusCode)
		}
	}
}

func TestTusResumeAfterInterruption(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(2 << 20)
	resp, body := tb.tusCreate(t, "alice", int64(len(data)), tusMetadata("route", "files", "name", "r.bin"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	// First PATCH sends only part of the data and stops.
	resp, body = tb.tusPatch(t, loc, "alice", 0, data[:700000], nil)
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, _ = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	off, _ := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if off != 700000 {
		t.Fatalf("offset %d", off)
	}
	// A PATCH at the wrong offset is a JSON 409.
	resp, body = tb.tusPatch(t, loc, "alice", 5, data[5:10], nil)
	wantError(t, resp, body, 409, "tus_mismatched_offset")
	resp, body = tb.tusPatch(t, loc, "alice", int64(off), data[off:], nil)
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	if rec := tb.record(t, id, "alice"); rec.SHA256 != sha(data) || rec.State != "ready" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestTusCreationWithUpload(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	img := pngBytes(t, 40)
	resp, body := tb.do(t, "POST", tb.url("/tus/"), "alice", bytes.NewReader(img), map[string]string{
		"Tus-Resumable":   "1.0.0",
		"Upload-Length":   strconv.Itoa(len(img)),
		"Upload-Metadata": tusMetadata("route", "images", "filename", "pic.png", "filetype", "image/png", "input", `{"album":"a"}`),
		"Content-Type":    "application/offset+octet-stream",
	})
	if resp.StatusCode != 201 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
	}
	loc := resp.Header.Get("Location")
	rec := tb.record(t, loc[strings.LastIndexByte(loc, '/')+1:], "alice")
	if rec.Type != "image/png" || rec.SHA256 != sha(img) || !strings.HasSuffix(rec.Key, ".png") {
		t.Fatalf("record = %+v", rec)
	}
	if strings.Contains(rec.URL, "sig=") {
		t.Fatalf("public file URL is signed: %s", rec.URL)
	}
	select {
	case f := <-tb.completed:
		if f.SHA256 != sha(img) || f.Owner != "alice" {
			t.Fatalf("OnComplete got %+v", f)
		}
	default:
		t.Fatal("OnComplete did not run")
	}
}

func TestTusCreationRefusals(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cases := []struct {
		name   string
		user   string
		length int64
		md     string
		status int
		code   string
	}{
		{"no route", "alice", 10, tusMetadata("filename", "a.txt"), 400, "bad_request"},
		{"unknown route", "alice", 10, tusMetadata("route", "nope"), 404, "unknown_route"},
		{"bad route name", "alice", 10, tusMetadata("route", "../x"), 404, "unknown_route"},
		{"too large", "alice", 9 << 20, tusMetadata("route", "files"), 413, "too_large"},
		{"no user", "", 10, tusMetadata("route", "files"), 401, "unauthorized"},
		{"input not JSON", "alice", 10, tusMetadata("route", "images", "input", "{"), 400, "bad_request"},
		{"input invalid", "alice", 10, tusMetadata("route", "images", "input", `{"album":""}`), 422, "invalid_input"},
		{"malformed metadata", "alice", 10, "route !!!notbase64", 400, "bad_request"},
		{"no length", "alice", -1, tusMetadata("route", "files"), 400, "tus_invalid_upload_length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := tb.tusCreate(t, c.user, c.length, c.md, nil)
			wantError(t, resp, body, c.status, c.code)
		})
	}
}

func TestTusVerificationRefusesAtTheEnd(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cases := []struct {
		route, name string
		data        []byte
		status      int
		code        string
	}{
		{"images", "cat.png", peBytes(), 415, "executable_not_allowed"},
		{"docs", "notes.txt", pngBytes(t, 20), 415, "type_not_allowed"},
		{"files", "photo.jpg", pngBytes(t, 20), 415, "type_mismatch"},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			md := tusMetadata("route", c.route, "filename", c.name)
			if c.route == "images" {
				md = tusMetadata("route", c.route, "filename", c.name, "input", `{"album":"a"}`)
			}
			resp, body := tb.tusCreate(t, "alice", int64(len(c.data)), md, nil)
			if resp.StatusCode != 201 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			loc := resp.Header.Get("Location")
			resp, body = tb.tusPatch(t, loc, "alice", 0, c.data, nil)
			wantError(t, resp, body, c.status, c.code)
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			rec := tb.record(t, id, "alice")
			if rec.State != "rejected" || rec.Error == nil || rec.Error.Code != c.code || rec.URL != "" {
				t.Fatalf("record = %+v", rec)
			}
			// The tus resource is gone and answers with the refusal.
			resp, body = tb.do(t, "PATCH", loc, "alice", bytes.NewReader(nil), map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
			wantError(t, resp, body, c.status, c.code)
		})
	}
	assertNoObjects(t, tb)
	select {
	case err := <-tb.failed:
		if !errors.Is(err, carcosa.ErrExecutable) {
			t.Fatalf("OnError got %v", err)
		}
	default:
		t.Fatal("OnError did not run for the refused image")
	}
}

func TestTusDeferredLengthOverLimit(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, body := tb.tusCreate(t, "alice", -1, tusMetadata("route", "docs", "filename", "a.txt"), map[string]string{"Upload-Defer-Length": "1"})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	resp, body = tb.tusPatch(t, loc, "alice", 0, bytes.Repeat([]byte("a"), 1<<20+10), nil)
	wantError(t, resp, body, 413, "too_large")
	rec := tb.record(t, loc[strings.LastIndexByte(loc, '/')+1:], "alice")
	if rec.State != "rejected" || rec.Error.Code != "too_large" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestTusTermination(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, _ := tb.tusCreate(t, "alice", 100, tusMetadata("route", "files", "filename", "a.bin"), nil)
	loc := resp.Header.Get("Location")
	tb.tusPatch(t, loc, "alice", 0, randomBytes(50), nil)
	resp, body := tb.do(t, "DELETE", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+id), "alice", nil, nil)
	wantError(t, resp, body, 404, "not_found")
	resp, body = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != 404 {
		t.Fatalf("HEAD after termination: %d", resp.StatusCode)
	}
}

func TestTusConcatenation(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	p1, p2 := randomBytes(1<<20+3), randomBytes(777)
	urls := tb.tusPartials(t, "alice", "files", p1, p2)
	// Another owner cannot claim alice's parts.
	resp, body := tb.tusCreate(t, "mallory", -1, tusMetadata("route", "files", "filename", "x.bin"), map[string]string{"Upload-Concat": "final;" + strings.Join(urls, " ")})
	wantError(t, resp, body, 404, "not_found")

	resp, body = tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "whole.bin"), map[string]string{"Upload-Concat": "final;" + strings.Join(urls, " ")})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	rec := tb.record(t, loc[strings.LastIndexByte(loc, '/')+1:], "alice")
	whole := append(append([]byte{}, p1...), p2...)
	if rec.State != "ready" || rec.SHA256 != sha(whole) || rec.Size != int64(len(whole)) {
		t.Fatalf("record = %+v", rec)
	}
	if !bytes.Equal(tb.fetch(t, rec.URL), whole) {
		t.Fatal("served bytes differ")
	}
	// The parts are gone.
	for _, u := range urls {
		resp, _ := tb.do(t, "HEAD", u, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
		if resp.StatusCode != 404 {
			t.Fatalf("partial upload still answers %d", resp.StatusCode)
		}
	}
}
