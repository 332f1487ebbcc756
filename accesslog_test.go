package carcosa_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// logLines parses the JSON lines of a log.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// accessLine waits for the access log line of the request whose response
// is resp.
func accessLine(t *testing.T, access *syncBuffer, resp *http.Response) map[string]any {
	t.Helper()
	id := resp.Header.Get("X-Request-ID")
	if id == "" {
		t.Fatal("a response without X-Request-ID")
	}
	var line map[string]any
	waitFor(t, "the access log line of request "+id, func() bool {
		for _, l := range logLines(t, access.String()) {
			if l["request_id"] == id {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

// wantAccess checks the fields of an access log line.
func wantAccess(t *testing.T, l map[string]any, method, path string, status int, uploadID string) {
	t.Helper()
	if l["msg"] != "request" || l["level"] != "INFO" || l["method"] != method || l["path"] != path ||
		l["status"] != float64(status) || l["upload_id"] != nilIfEmpty(uploadID) {
		t.Errorf("access log line %v; want %s %s %d upload %q", l, method, path, status, uploadID)
	}
	for _, k := range []string{"bytes_in", "bytes_out", "duration"} {
		if _, ok := l[k].(float64); !ok {
			t.Errorf("access log line without %s: %v", k, l)
		}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Config.AccessLog gets one line per request, with its path and never its
// query, and the uploads it is about; every line of Config.Logger written
// during a request names the request's ID, once.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var logs, access syncBuffer
	ds := &downStore{Store: memstore.New()}
	tb := setupConfig(t, ds, func(c *carcosa.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.AccessLog = slog.New(slog.NewJSONHandler(&access, nil))
	})

	// Multipart: the upload it created.
	data := randomBytes(3000)
	body, ct := multipartBody(t, part{field: "file", name: "a.bin", data: data})
	n := int64(body.(*bytes.Buffer).Len())
	resp, raw := tb.do(t, "POST", tb.url("/routes/files"), "alice", body, map[string]string{"Content-Type": ct})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("multipart: %d %s", resp.StatusCode, raw)
	}
	var mp multipartResult
	if err := json.Unmarshal(raw, &mp); err != nil || len(mp.Uploads) != 1 {
		t.Fatalf("multipart answer %s: %v", raw, err)
	}
	l := accessLine(t, &access, resp)
	wantAccess(t, l, "POST", base+"/routes/files", http.StatusCreated, mp.Uploads[0].ID)
	if l["bytes_in"] != float64(n) || l["bytes_out"] != float64(len(raw)) {
		t.Errorf("multipart: bytes_in %v, bytes_out %v; want %d and %d", l["bytes_in"], l["bytes_out"], n, len(raw))
	}

	// tus: the creation names the upload it created, the PATCH the one
	// its path names.
	tdata := randomBytes(5000)
	resp, raw = tb.tusCreate(t, "alice", int64(len(tdata)), tusMetadata("route", "files", "filename", "b.bin"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("tus creation: %d %s", resp.StatusCode, raw)
	}
	loc := resp.Header.Get("Location")
	tusID := loc[strings.LastIndexByte(loc, '/')+1:]
	wantAccess(t, accessLine(t, &access, resp), "POST", base+"/tus/", http.StatusCreated, tusID)
	resp, raw = tb.tusPatch(t, loc, "alice", 0, tdata, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("PATCH: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), raw)
	}
	l = accessLine(t, &access, resp)
	wantAccess(t, l, "PATCH", base+"/tus/"+tusID, http.StatusNoContent, tusID)
	if l["bytes_in"] != float64(len(tdata)) {
		t.Errorf("PATCH: bytes_in %v, want %d", l["bytes_in"], len(tdata))
	}

	// A signed URL: the path, not the signature.
	p, err := tb.router.SignedURL(t.Context(), tusID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(p)
	if err != nil || pu.RawQuery == "" {
		t.Fatalf("signed URL %q without a query (%v)", p, err)
	}
	resp, raw = tb.do(t, "GET", tb.server.URL+p, "", nil, nil)
	if resp.StatusCode != http.StatusOK || sha(raw) != sha(tdata) {
		t.Fatalf("GET the signed URL: %d", resp.StatusCode)
	}
	l = accessLine(t, &access, resp)
	wantAccess(t, l, "GET", pu.Path, http.StatusOK, "")
	if l["bytes_out"] != float64(len(tdata)) || l["bytes_in"] != float64(0) {
		t.Errorf("GET: bytes_out %v, bytes_in %v; want %d and 0", l["bytes_out"], l["bytes_in"], len(tdata))
	}

	// The store fails: the error logged names the request.
	ds.down.Store(true)
	resp, raw = tb.do(t, "GET", tb.url("/uploads/"+tusID), "alice", nil, nil)
	ds.down.Store(false)
	wantError(t, resp, raw, http.StatusServiceUnavailable, "unavailable")
	reqID := resp.Header.Get("X-Request-ID")
	wantAccess(t, accessLine(t, &access, resp), "GET", base+"/uploads/"+tusID, http.StatusServiceUnavailable, tusID)
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, reqID) {
			continue
		}
		found = true
		if c := strings.Count(line, `"request_id"`); c != 1 {
			t.Errorf("the error line names request_id %d times: %s", c, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["request_id"] != reqID {
			t.Errorf("the error line's request_id is not %q: %s", reqID, line)
		}
	}
	if !found {
		t.Errorf("no error line names request %s:\n%s", reqID, logs.String())
	}

	for _, leak := range []string{pu.RawQuery, "sig=", "exp=", "?"} {
		if strings.Contains(access.String(), leak) {
			t.Errorf("the access log holds %q:\n%s", leak, access.String())
		}
	}
	if strings.Contains(logs.String(), pu.Query().Get("sig")) {
		t.Errorf("the log holds the signature:\n%s", logs.String())
	}
}
