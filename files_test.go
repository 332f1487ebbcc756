package carcosa_test

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestServeFile(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := []byte("0123456789abcdefghij plain text for ranges\n")
	id, resp, body := tb.tusUpload(t, "alice", "docs", "notes.txt", data, 1<<20)
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.record(t, id, "alice")
	u := tb.server.URL + rec.URL

	resp, body = tb.do(t, "GET", u, "", nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	h := resp.Header
	if h.Get("ETag") != `"`+sha(data)+`"` || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(h.Get("Content-Type"), "text/plain") || h.Get("Last-Modified") == "" ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "inline") || !strings.Contains(h.Get("Content-Disposition"), "notes.txt") {
		t.Fatalf("headers %v", h)
	}

	resp, body = tb.do(t, "GET", u, "", nil, map[string]string{"Range": "bytes=10-19"})
	if resp.StatusCode != 206 || string(body) != "abcdefghij" {
		t.Fatalf("range: %d %q", resp.StatusCode, body)
	}
	resp, body = tb.do(t, "GET", u, "", nil, map[string]string{"Range": "bytes=-5"})
	if resp.StatusCode != 206 || string(body) != string(data[len(data)-5:]) {
		t.Fatalf("suffix range: %d %q", resp.StatusCode, body)
	}
	resp, body = tb.do(t, "GET", u, "", nil, map[string]string{"Range": "bytes=1000-"})
	wantError(t, resp, body, 416, "range_not_satisfiable")
	if resp.Header.Get("Content-Range") != "bytes */"+strconv.Itoa(len(data)) {
		t.Fatalf("Content-Range %q", resp.Header.Get("Content-Range"))
	}
	resp, body = tb.do(t, "GET", u, "", nil, map[string]string{"Range": "bytes=oops"})
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("malformed range: %d", resp.StatusCode)
	}
	resp, _ = tb.do(t, "GET", u, "", nil, map[string]string{"If-None-Match": `"` + sha(data) + `"`})
	if resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}

	// Signatures.
	pu, _ := url.Parse(rec.URL)
	bare := tb.server.URL + pu.Path
	resp, body = tb.do(t, "GET", bare, "", nil, nil)
	wantError(t, resp, body, 403, "invalid_signature")
	q := pu.Query()
	q.Set("sig", q.Get("sig")[:10]+"AAAA"+q.Get("sig")[14:])
	resp, body = tb.do(t, "GET", bare+"?"+q.Encode(), "", nil, nil)
	wantError(t, resp, body, 403, "invalid_signature")
	q = pu.Query()
	q.Set("exp", strconv.FormatInt(time.Now().Add(time.Hour*24).Unix(), 10))
	resp, body = tb.do(t, "GET", bare+"?"+q.Encode(), "", nil, nil)
	wantError(t, resp, body, 403, "invalid_signature")
	expired := tb.router.SignURL(rec.Key, -time.Minute)
	resp, body = tb.do(t, "GET", tb.server.URL+expired, "", nil, nil)
	wantError(t, resp, body, 403, "url_expired")
	// A signature is for one key only.
	resp, body = tb.do(t, "GET", tb.server.URL+strings.Replace(rec.URL, rec.Key, "docs/"+strings.Repeat("0", 32)+".txt", 1), "", nil, nil)
	wantError(t, resp, body, 404, "not_found")
}

// TestServeFileRanges checks that no Range header makes a response much
// larger than the file: many ranges are ignored, overlapping and close ones
// are merged, and a range that selects nothing is refused.
func TestServeFileRanges(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(10 << 10)
	id, resp, body := tb.tusUpload(t, "alice", "files", "blob.bin", data, 1<<20)
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	u := tb.server.URL + tb.record(t, id, "alice").URL
	spaced := make([]string, 16)
	for i := range spaced {
		spaced[i] = strconv.Itoa(i*600) + "-" + strconv.Itoa(i*600)
	}
	for _, c := range []struct {
		name, rg string
		status   int
		want     string // Content-Range of a single-part answer
	}{
		{"a thousand duplicates", "bytes=" + strings.Repeat("0-0,", 999) + "0-0", 200, ""},
		{"seventeen ranges", "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,28-28,30-30,32-32", 200, ""},
		{"sixteen duplicates", "bytes=" + strings.Repeat("5-9,", 15) + "5-9", 206, "bytes 5-9/10240"},
		{"overlapping", "bytes=0-8191,100-10239,-5000", 206, "bytes 0-10239/10240"},
		{"close together", "bytes=30-30,0-0,10-19", 206, "bytes 0-30/10240"},
		{"far apart", "bytes=" + strings.Join(spaced, ","), 206, ""},
		{"empty suffix", "bytes=-0", 416, ""},
		{"empty suffix and a range", "bytes=-0,0-4", 206, "bytes 0-4/10240"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := tb.do(t, "GET", u, "", nil, map[string]string{"Range": c.rg})
			if c.status == 416 {
				wantError(t, resp, body, 416, "range_not_satisfiable")
				if cr := resp.Header.Get("Content-Range"); cr != "bytes */10240" {
					t.Fatalf("Content-Range %q", cr)
				}
				return
			}
			if resp.StatusCode != c.status || len(body) > len(data)+512 {
				t.Fatalf("%d, %d bytes for a file of %d (Content-Range %q)", resp.StatusCode, len(body), len(data), resp.Header.Get("Content-Range"))
			}
			if c.status == 200 && !bytes.Equal(body, data) {
				t.Fatal("not the file")
			}
			if c.want != "" && resp.Header.Get("Content-Range") != c.want {
				t.Fatalf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), c.want)
			}
		})
	}
}

func TestServeFileAttachment(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(1000)
	id, resp, body := tb.tusUpload(t, "alice", "files", "blob.bin", data, 1<<20)
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.record(t, id, "alice")
	resp, body = tb.do(t, "GET", tb.server.URL+rec.URL, "", nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("%d", resp.StatusCode)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Fatalf("Content-Disposition %q", cd)
	}
}

func TestNotReadyIsNeverServed(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, _ := tb.tusCreate(t, "alice", 100, tusMetadata("route", "files", "filename", "a.bin"), nil)
	loc := resp.Header.Get("Location")
	tb.tusPatch(t, loc, "alice", 0, randomBytes(50), nil)
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	rec := tb.record(t, id, "alice")
	if rec.State != "uploading" || rec.URL != "" || rec.Key != "" {
		t.Fatalf("record = %+v", rec)
	}
	resp, body := tb.do(t, "GET", tb.server.URL+tb.router.SignURL("files/"+id+".bin", time.Hour), "", nil, nil)
	wantError(t, resp, body, 404, "not_found")
}

func TestDeleteUpload(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	img := pngBytes(t, 30)
	body, ct := multipartBody(t, part{field: "input", data: []byte(`{"album":"x"}`)}, part{field: "file", name: "a.png", data: img})
	resp, raw := tb.do(t, "POST", tb.url("/routes/images"), "alice", body, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	id := between(string(raw), `"id":"`, `"`)
	rec := tb.record(t, id, "alice")
	resp, raw = tb.do(t, "DELETE", tb.url("/uploads/"+id), "mallory", nil, nil)
	wantError(t, resp, raw, 404, "not_found")
	resp, _ = tb.do(t, "DELETE", tb.url("/uploads/"+id), "alice", nil, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, raw = tb.do(t, "GET", tb.server.URL+rec.URL, "", nil, nil)
	wantError(t, resp, raw, 404, "not_found")
	resp, raw = tb.do(t, "GET", tb.url("/uploads/"+id), "alice", nil, nil)
	wantError(t, resp, raw, 404, "not_found")
	assertNoObjects(t, tb)
}

func between(s, a, b string) string {
	_, s, _ = strings.Cut(s, a)
	s, _, _ = strings.Cut(s, b)
	return s
}
