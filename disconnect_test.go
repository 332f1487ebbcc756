package carcosa_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// rawRequest writes a request's head and the first sent bytes of body on a
// new connection to tb's server. With halfClose, the write side is closed
// and the response read; otherwise the connection is dropped at once and
// the response is nil.
func (tb *testBundle) rawRequest(t *testing.T, head string, body []byte, sent int, halfClose bool) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", tb.server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body[:sent]); err != nil {
		t.Fatal(err)
	}
	if !halfClose {
		return nil
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func patchHead(path string, offset int64, contentLength int) string {
	return fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: test\r\nX-User: alice\r\nTus-Resumable: 1.0.0\r\n"+
		"Upload-Offset: %d\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n",
		path, offset, contentLength)
}

// tusOffset asks for the upload's offset with HEAD.
func (tb *testBundle) tusOffset(t *testing.T, loc string) int64 {
	t.Helper()
	resp, body := tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %d %s", resp.StatusCode, body)
	}
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD: Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return n
}

// storedKeys lists every object in tb's storage.
func (tb *testBundle) storedKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	it := tb.storage.(*storage.Bucket).Blob().List(&blob.ListOptions{})
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
}

// finishTus sends data[offset:] and checks that the upload ends ready with
// data's bytes.
func (tb *testBundle) finishTus(t *testing.T, loc string, offset int64, data []byte) {
	t.Helper()
	resp, body := tb.tusPatch(t, loc, "alice", offset, data[offset:], nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("resumed PATCH: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), body)
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	rec := tb.record(t, id, "alice")
	if rec.State != "ready" || rec.SHA256 != sha(data) {
		t.Fatalf("record: %s %s, want ready %s", rec.State, rec.SHA256, sha(data))
	}
	if got := tb.fetch(t, rec.URL); !bytes.Equal(got, data) {
		t.Fatalf("served %d bytes (sha %s), want %d (sha %s)", len(got), sha(got), len(data), sha(data))
	}
}

func (tb *testBundle) tusStart(t *testing.T, n int) string {
	t.Helper()
	resp, body := tb.tusCreate(t, "alice", int64(n), tusMetadata("route", "files", "filename", "x.bin"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// A client that drops the connection in the middle of a PATCH keeps what
// the server received, and resumes from there.
func TestTusClientDisconnectsMidStream(t *testing.T) {
	tb := setup(t)
	data := testenv.RandomBytes(4 << 20)
	loc := tb.tusStart(t, len(data))
	path := loc[strings.Index(loc, base):]

	tb.rawRequest(t, patchHead(path, 0, len(data)), data, len(data)/2, false)
	// The server handles the dropped request in its own time: wait until
	// the staged bytes stop growing, so that the HEAD below does not
	// interrupt it. (An interrupted PATCH trips a data race inside tusd
	// v2.10, between newContext's goroutine and writeChunk setting the
	// body reader.)
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	staged := filepath.Join(tb.dataDir, "tus", id)
	var size int64 = -1
	for still, deadline := 0, time.Now().Add(10*time.Second); still < 6; {
		var n int64
		if fi, err := os.Stat(staged); err == nil {
			n = fi.Size()
		}
		if n > 0 && n == size {
			still++
		} else {
			still = 0
		}
		size = n
		if time.Now().After(deadline) {
			t.Fatalf("the staged bytes did not settle: %d", size)
		}
		time.Sleep(50 * time.Millisecond)
	}
	off := tb.tusOffset(t, loc)
	if off < 0 || off > int64(len(data)/2) {
		t.Fatalf("offset after a dropped PATCH = %d, want 0..%d", off, len(data)/2)
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("storage holds %v before the upload is complete", keys)
	}
	tb.finishTus(t, loc, off, data)
}

// A PATCH whose body ends before its Content-Length gets a JSON answer; the
// bytes that arrived are kept and the upload resumes.
func TestTusShortBody(t *testing.T) {
	tb := setup(t)
	data := testenv.RandomBytes(1 << 20)
	loc := tb.tusStart(t, len(data))
	path := loc[strings.Index(loc, base):]

	resp := tb.rawRequest(t, patchHead(path, 0, len(data)), data, len(data)/2, true)
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("short PATCH: %s with %q body %q, want JSON", resp.Status, resp.Header.Get("Content-Type"), b)
		}
	}
	off := tb.tusOffset(t, loc)
	if off > int64(len(data)/2) {
		t.Fatalf("offset %d after sending %d bytes", off, len(data)/2)
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	if rec := tb.record(t, id, "alice"); rec.State != "uploading" {
		t.Fatalf("state %s after a short PATCH, want uploading", rec.State)
	}
	tb.finishTus(t, loc, off, data)
}

// An upload that stops short of its Upload-Length stays uploading: nothing is
// stored, served or reported ready.
func TestTusFewerBytesThanDeclared(t *testing.T) {
	tb := setup(t)
	data := testenv.RandomBytes(256 << 10)
	loc := tb.tusStart(t, len(data))
	resp, body := tb.tusPatch(t, loc, "alice", 0, data[:100<<10], nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "" {
		t.Fatalf("partial PATCH: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), body)
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	if rec := tb.record(t, id, "alice"); rec.State != "uploading" || rec.URL != "" {
		t.Fatalf("record %+v, want uploading without a URL", rec)
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("storage holds %v", keys)
	}
	// A PATCH that claims more than is left is refused as a whole.
	resp, body = tb.tusPatch(t, loc, "alice", 100<<10, make([]byte, 200<<10), nil)
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, "too_large")
	tb.finishTus(t, loc, 100<<10, data)
}

// multipartHead is the head of a multipart upload of n body bytes.
func multipartHead(ctype string, n int) string {
	return fmt.Sprintf("POST %s/routes/files HTTP/1.1\r\nHost: test\r\nX-User: alice\r\n"+
		"Content-Type: %s\r\nContent-Length: %d\r\n\r\n", base, ctype, n)
}

// records lists every record of tb's store.
func (tb *testBundle) records(t *testing.T) []*store.Upload {
	t.Helper()
	var all []*store.Upload
	for _, s := range []store.State{store.Uploading, store.Processing, store.Ready, store.Rejected, store.Failed, store.Quarantined} {
		recs, err := tb.store.List(context.Background(), store.Query{State: s, Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return all
}

// A multipart body that ends early, or whose connection drops, stores
// nothing and leaves no upload ready.
func TestMultipartShortBodyAndDisconnect(t *testing.T) {
	tb := setup(t)
	data := testenv.RandomBytes(2 << 20)
	body, ctype := multipartBody(t, part{field: "file", name: "x.bin", data: data})
	raw, _ := io.ReadAll(body)

	resp := tb.rawRequest(t, multipartHead(ctype, len(raw)), raw, len(raw)/2, true)
	b, _ := io.ReadAll(resp.Body)
	wantError(t, resp, b, http.StatusBadRequest, "bad_request")

	tb.rawRequest(t, multipartHead(ctype, len(raw)), raw, len(raw)/2, false)
	// The server notices the drop when it reads; wait for both records to
	// settle.
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := tb.records(t)
		settled := len(recs) == 2
		for _, r := range recs {
			if r.State == store.Uploading || r.State == store.Processing {
				settled = false
			}
			if r.State == store.Ready {
				t.Fatalf("upload %s is ready after its request broke", r.ID)
			}
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records did not settle: %d records", len(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("storage holds %v after broken requests", keys)
	}
}
