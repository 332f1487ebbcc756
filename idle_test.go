package carcosa_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

const idle = 300 * time.Millisecond

// stall sends a request's head (as alice, unless hdr has an X-User, "" for
// none) and the first bytes of its body, then nothing more, and returns the response the server sends while the
// connection stays open (the test fails if none comes within 10 s).
func (tb *testBundle) stall(t *testing.T, method, path string, length int, hdr map[string]string, first []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tb.server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", method, base+path, length)
	if _, ok := hdr["X-User"]; !ok {
		head.WriteString("X-User: alice\r\n")
	}
	for k, v := range hdr {
		if v != "" {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(first); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// A multipart upload whose body stops arriving is cut off after
// IdleTimeout with 408, and leaves nothing stored.
func TestIdleMultipart(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.IdleTimeout = idle })
	const boundary = "b0undary"
	first := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n" + strings.Repeat("x", 5000)
	resp, body := tb.stall(t, "POST", "/routes/files", 10<<20, map[string]string{"Content-Type": "multipart/form-data; boundary=" + boundary}, []byte(first))
	wantError(t, resp, body, http.StatusRequestTimeout, "request_timeout")
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("a stalled upload stored %v", keys)
	}
	recs, err := tb.store.List(t.Context(), store.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].State != store.Rejected || recs[0].ErrorCode != "request_timeout" {
		t.Fatalf("records after a stalled upload: %+v", recs)
	}
}

// A tus request whose body is spooled for its Upload-Checksum is cut off
// the same way, and its spool removed: a PATCH, and a creation with upload.
func TestIdleTusChecksum(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.IdleTimeout = idle })
	loc := tb.tusStart(t, 4<<20)
	sum := uploadChecksum("sha256", []byte("whatever"))
	tus := map[string]string{
		"Tus-Resumable":   "1.0.0",
		"Content-Type":    "application/offset+octet-stream",
		"Upload-Checksum": sum,
	}
	patch := map[string]string{"Upload-Offset": "0"}
	create := map[string]string{
		"Upload-Length":   fmt.Sprint(4 << 20),
		"Upload-Metadata": tusMetadata("route", "files", "filename", "b.bin"),
	}
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
	}{
		{"PATCH", strings.TrimPrefix(loc, tb.url("")), patch},
		{"POST", "/tus/", create},
	} {
		for k, v := range tus {
			c.hdr[k] = v
		}
		start := time.Now()
		resp, body := tb.stall(t, c.method, c.path, 4<<20, c.hdr, make([]byte, 5000))
		wantError(t, resp, body, http.StatusRequestTimeout, "request_timeout")
		if d := time.Since(start); d < idle {
			t.Errorf("%s cut off after %v, before the idle timeout", c.method, d)
		}
		if left := tb.spooled(t); len(left) != 0 {
			t.Fatalf("%s: spool files left: %v", c.method, left)
		}
	}
	// The upload goes on from where it was.
	resp, _ := tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("HEAD after a stalled PATCH: %d %v", resp.StatusCode, resp.Header)
	}
}

// A plain tus PATCH (no checksum) is left to tusd, which takes the same
// timeout and answers with the same error.
func TestIdleTusPatch(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.IdleTimeout = idle })
	loc := tb.tusStart(t, 4<<20)
	resp, body := tb.stall(t, "PATCH", strings.TrimPrefix(loc, tb.url("")), 4<<20, map[string]string{
		"Tus-Resumable": "1.0.0",
		"Content-Type":  "application/offset+octet-stream",
		"Upload-Offset": "0",
	}, make([]byte, 5000))
	wantError(t, resp, body, http.StatusRequestTimeout, "request_timeout")
	// What arrived is kept, as tus promises.
	resp, _ = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "5000" {
		t.Fatalf("HEAD after a stalled PATCH: %d %v", resp.StatusCode, resp.Header)
	}
}
