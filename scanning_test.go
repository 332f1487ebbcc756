package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/scan/scantest"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// The scanning tests run against a real clamd (CARCOSA_TEST_CLAMD), whose
// signature database holds the EICAR test string.

// fastQueue retries at once, so that tests need not wait for backoff.
func fastQueue() *queue.Memory {
	return queue.NewMemory(&queue.MemoryOptions{Backoff: func(int) time.Duration { return 20 * time.Millisecond }})
}

// setupScanning is setup with the shared clamd as the scanner.
func setupScanning(t *testing.T, configure func(*carcosa.Config)) *testBundle {
	t.Helper()
	addr := testenv.ClamdAddr(t)
	cl, err := scan.NewClamd(addr, scan.ClamdOptions{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Scanner = cl
		c.Queue = fastQueue()
		if configure != nil {
			configure(c)
		}
	})
}

// scanRecord is the part of an upload record about its scan.
type scanRecord struct {
	State     string `json:"state"`
	Scan      string `json:"scan"`
	Signature string `json:"signature"`
	Error     *struct{ Code, Message string }
}

func (tb *testBundle) scanRecord(t *testing.T, id string) scanRecord {
	t.Helper()
	resp, body := tb.do(t, "GET", tb.url("/uploads/"+id), "alice", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET record: %d %s", resp.StatusCode, body)
	}
	var r scanRecord
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// multipartUpload posts one file to route as alice.
func (tb *testBundle) multipartUpload(t *testing.T, route, name string, data []byte) (*http.Response, []byte) {
	t.Helper()
	body, ct := multipartBody(t, part{field: "file", name: name, data: data})
	return tb.do(t, "POST", tb.url("/routes/"+route), "alice", body, map[string]string{"Content-Type": ct})
}

// uploadedID is the ID of the first upload of a multipart answer.
func uploadedID(t *testing.T, body []byte) string {
	t.Helper()
	var out struct {
		Uploads []struct{ ID string } `json:"uploads"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Uploads) == 0 {
		t.Fatalf("no upload in %s", body)
	}
	return out.Uploads[0].ID
}

// requireQuarantined checks that upload id is quarantined as infected,
// with the signature's name (which depends on clamd's database), that its
// bytes are not at its key but in quarantine, that it is not served,
// and that Quarantined lists it.
func (tb *testBundle) requireQuarantined(t *testing.T, id string, data []byte) {
	t.Helper()
	rec := tb.scanRecord(t, id)
	if rec.State != "quarantined" || rec.Scan != "infected" || rec.Signature == "" ||
		rec.Error == nil || rec.Error.Code != "malware_detected" {
		t.Fatalf("record = %+v, want quarantined for EICAR", rec)
	}
	u, err := tb.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.storage.Open(context.Background(), u.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the infected file is still at its key %s: %v", u.Key, err)
	}
	if got := readObject(t, tb.storage, ".quarantine/"+u.Key); !bytes.Equal(got, data) {
		t.Fatalf("quarantined bytes differ: %d bytes, want %d", len(got), len(data))
	}
	resp, body := tb.do(t, "GET", tb.url("/files/"+u.Key), "", nil, nil)
	wantError(t, resp, body, 404, "not_found")
	resp, body = tb.do(t, "GET", tb.url("/files/.quarantine/"+u.Key), "", nil, nil)
	wantError(t, resp, body, 404, "not_found")
	list, err := tb.router.Quarantined(context.Background(), store.Cursor{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range list {
		if q.ID == id {
			if q.Signature != rec.Signature || q.SHA256 != sha(data) {
				t.Fatalf("Quarantined lists %+v", q)
			}
			return
		}
	}
	t.Fatalf("Quarantined does not list %s", id)
}

func readObject(t *testing.T, st storage.Storage, key string) []byte {
	t.Helper()
	obj, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eicarFamily is the EICAR test file in the forms a scanner must see
// through, by file name.
func eicarFamily() map[string][]byte {
	return map[string][]byte{
		"eicar.txt":  []byte(scan.EICAR),
		"zipped.zip": scantest.Zip("eicar.com", []byte(scan.EICAR)),
		"nested.zip": scantest.Zip("inner.zip", scantest.Zip("eicar.com", []byte(scan.EICAR))),
	}
}

func TestScanEICARMultipart(t *testing.T) {
	t.Parallel()
	tb := setupScanning(t, nil)
	for name, data := range eicarFamily() {
		t.Run(name, func(t *testing.T) {
			resp, body := tb.multipartUpload(t, "files", name, data)
			wantError(t, resp, body, 422, "malware_detected")
			id := tb.onlyRecordWith(t, sha(data))
			tb.requireQuarantined(t, id, data)
		})
	}
	if n := len(tb.completed); n != 0 {
		t.Fatalf("OnComplete ran %d times for infected files", n)
	}
}

// onlyRecordWith finds the one record whose SHA-256 is sum.
func (tb *testBundle) onlyRecordWith(t *testing.T, sum string) string {
	t.Helper()
	var found []string
	for _, st := range []store.State{store.Quarantined, store.Ready, store.Failed, store.Rejected, store.Processing} {
		recs, err := tb.store.List(context.Background(), store.Query{State: st, Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.SHA256 == sum {
				found = append(found, r.ID)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d records with SHA-256 %s, want 1", len(found), sum)
	}
	return found[0]
}

func TestScanEICARTusChunks(t *testing.T) {
	t.Parallel()
	tb := setupScanning(t, nil)
	for name, data := range eicarFamily() {
		t.Run(name, func(t *testing.T) {
			// EICAR split across many PATCHes of 10 bytes.
			id, resp, body := tb.tusUpload(t, "alice", "files", name, data, 10)
			wantError(t, resp, body, 422, "malware_detected")
			tb.requireQuarantined(t, id, data)
			// Nothing of it is left in staging.
			staged, _ := filepath.Glob(filepath.Join(tb.dataDir, "tus", id+"*"))
			if len(staged) != 0 {
				t.Fatalf("staged files left: %v", staged)
			}
		})
	}
}

func TestScanEICARConcatenated(t *testing.T) {
	t.Parallel()
	tb := setupScanning(t, nil)
	// EICAR cut in two, each half a partial upload of its own.
	eicar := []byte(scan.EICAR)
	urls := tb.tusPartials(t, "alice", "files", eicar[:30], eicar[30:])
	resp, body := tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "whole.txt"), map[string]string{"Upload-Concat": "final;" + strings.Join(urls, " ")})
	wantError(t, resp, body, 422, "malware_detected")
	tb.requireQuarantined(t, tb.onlyRecordWith(t, sha(eicar)), eicar)
}

func TestScanCleanFilesPass(t *testing.T) {
	t.Parallel()
	tb := setupScanning(t, nil)
	clean := randomBytes(3<<20 + 17)
	resp, body := tb.multipartUpload(t, "files", "clean.bin", clean)
	if resp.StatusCode != 201 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	mid := uploadedID(t, body)
	tid, resp, body := tb.tusUpload(t, "alice", "files", "clean.bin", clean, 1<<20)
	if resp.StatusCode != 204 {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	for _, id := range []string{mid, tid} {
		if r := tb.scanRecord(t, id); r.State != "ready" || r.Scan != "clean" || r.Signature != "" {
			t.Fatalf("record = %+v, want ready and clean", r)
		}
		rec := tb.record(t, id, "alice")
		if got := tb.fetch(t, rec.URL); sha(got) != sha(clean) {
			t.Fatal("served bytes differ")
		}
	}
}

// TestScanOverLimit: files larger than the scanner examines are refused,
// or accepted unscanned where the route says so.
func TestScanOverLimit(t *testing.T) {
	t.Parallel()
	cl, err := scan.NewClamd(testenv.ClamdAddr(t), scan.ClamdOptions{MaxSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.Scanner = cl; c.Queue = fastQueue() })
	carcosa.Handle(tb.router, "archive", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"any"}, MaxFileSize: 1 << 20, AcceptUnscannable: true,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	big := randomBytes(100 << 10)

	// Refused by default, while streaming (multipart) and at the end (tus).
	resp, body := tb.multipartUpload(t, "files", "big.bin", big)
	wantError(t, resp, body, 413, "too_large_to_scan")
	_, resp, body = tb.tusUpload(t, "alice", "files", "big.bin", big, 32<<10)
	wantError(t, resp, body, 413, "too_large_to_scan")
	assertNoObjects(t, tb)

	// Accepted unscanned, and said so, where the route allows it.
	resp, body = tb.multipartUpload(t, "archive", "big.bin", big)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	id, resp, body := tb.tusUpload(t, "alice", "archive", "big.bin", big, 32<<10)
	if resp.StatusCode != 204 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, id := range []string{uploadedID(t, body0(t, tb, "archive", big)), id} {
		if r := tb.scanRecord(t, id); r.State != "ready" || r.Scan != "unscanned" {
			t.Fatalf("record = %+v, want ready and unscanned", r)
		}
	}

	// A small file is still scanned on that route.
	resp, body = tb.multipartUpload(t, "archive", "eicar.txt", []byte(scan.EICAR))
	wantError(t, resp, body, 422, "malware_detected")
}

// body0 uploads data to route by multipart and returns the answer's body.
func body0(t *testing.T, tb *testBundle, route string, data []byte) []byte {
	t.Helper()
	resp, body := tb.multipartUpload(t, route, "f.bin", data)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	return body
}

// switchable is a scanner whose clamd can be replaced while the Router
// runs, as an operator restarts one.
type switchable struct{ cur atomic.Pointer[scan.Clamd] }

func (s *switchable) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	return s.cur.Load().Scan(ctx, r)
}
func (s *switchable) MaxSize() int64 { return s.cur.Load().MaxSize() }

func newClamd(t *testing.T, addr string) *scan.Clamd {
	t.Helper()
	cl, err := scan.NewClamd(addr, scan.ClamdOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestScanFailsClosed kills clamd while a multipart upload streams through
// it: the upload fails, is never served, and keeps its bytes; once a clamd
// answers again the queue's retry makes it ready, with OnComplete run once.
func TestScanFailsClosed(t *testing.T) {
	t.Parallel()
	addr, proc := testenv.StartClamd(t, testenv.ClamdConfig{})
	addr2, _ := testenv.StartClamd(t, testenv.ClamdConfig{}) // the one that comes back
	sw := &switchable{}
	sw.cur.Store(newClamd(t, addr))
	// Retries far enough apart that they do not run out during the test.
	q := queue.NewMemory(&queue.MemoryOptions{Backoff: func(int) time.Duration { return time.Second }})
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.Scanner = sw; c.Queue = q })

	data := randomBytes(6 << 20)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormFile("file", "data.bin")
		fw.Write(data[:2<<20])
		time.Sleep(200 * time.Millisecond) // the scan is under way
		proc.Kill()
		proc.Wait()
		fw.Write(data[2<<20:])
		mw.Close()
		pw.Close()
	}()
	resp, body := tb.do(t, "POST", tb.url("/routes/files"), "alice", pr, map[string]string{"Content-Type": mw.FormDataContentType()})
	wantError(t, resp, body, 503, "scan_unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	id := tb.onlyRecordWith(t, sha(data))
	// The record is failed, but for the moments a retry runs (processing).
	if r := tb.waitState(t, id, "failed", 10*time.Second); r.Error == nil || r.Error.Code != "scan_unavailable" {
		t.Fatalf("record = %+v, want failed with scan_unavailable", r)
	}
	u, _ := tb.store.Get(context.Background(), id)
	resp, body = tb.do(t, "GET", tb.url("/files/"+u.Key), "", nil, nil)
	wantError(t, resp, body, 404, "not_found")
	if got := readObject(t, tb.storage, u.Key); sha(got) != sha(data) {
		t.Fatal("the bytes of the file waiting for its scan were not kept")
	}

	// A clamd answers again: the retry finds the file clean.
	sw.cur.Store(newClamd(t, addr2))
	rec := tb.waitState(t, id, "ready", 30*time.Second)
	if rec.Scan != "clean" {
		t.Fatalf("record = %+v", rec)
	}
	select {
	case f := <-tb.completed:
		t.Fatalf("OnComplete of the images route ran for %s", f.ID)
	default:
	}
	if got := tb.fetch(t, tb.record(t, id, "alice").URL); sha(got) != sha(data) {
		t.Fatal("served bytes differ")
	}
}

// waitState polls upload id until it reaches state.
func (tb *testBundle) waitState(t *testing.T, id, state string, within time.Duration) scanRecord {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := tb.scanRecord(t, id)
		if r.State == state {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload %s still %+v after %s, want %s", id, r, within, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScanGivesUp: when clamd stays down, the queue's last attempt removes
// the bytes and ends the upload failed.
func TestScanGivesUp(t *testing.T) {
	t.Parallel()
	addr, proc := testenv.StartClamd(t, testenv.ClamdConfig{})
	proc.Kill()
	proc.Wait()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.Scanner = newClamd(t, addr); c.Queue = fastQueue() })
	data := []byte("a file that no scanner will ever see\n")
	id, resp, body := tb.tusUpload(t, "alice", "files", "f.txt", data, 1<<20)
	wantError(t, resp, body, 503, "scan_unavailable")
	// A HEAD says so too, and may be retried.
	loc := tb.url("/tus/" + id)
	resp, body = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != 503 && resp.StatusCode != 200 {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	rec := tb.waitState(t, id, "failed", 30*time.Second)
	for deadline := time.Now().Add(30 * time.Second); rec.Error == nil || rec.Error.Code != "scan_failed"; {
		if time.Now().After(deadline) {
			t.Fatalf("record = %+v after 30s, want failed with scan_failed", rec)
		}
		time.Sleep(50 * time.Millisecond)
		rec = tb.scanRecord(t, id)
	}
	assertNoObjects(t, tb)
	if _, err := tb.router.Quarantined(context.Background(), store.Cursor{}, 0); err != nil {
		t.Fatal(err)
	}
}

// TestScanAsync: a large file's last PATCH answers processing at once; the
// upload becomes ready or quarantined in the background.
func TestScanAsync(t *testing.T) {
	t.Parallel()
	completed := make(chan string, 10)
	tb := setupScanning(t, nil)
	carcosa.Handle(tb.router, "videos", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"any"}, MaxFileSize: 8 << 20, AsyncAbove: 1 << 10,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
		OnComplete: func(_ context.Context, _ struct{}, f carcosa.File) (any, error) {
			completed <- f.ID
			return nil, nil
		},
	})
	clean := randomBytes(2 << 20)
	infected := append(randomBytes(4<<10), scan.EICAR...)
	cid, resp, body := tb.tusUpload(t, "alice", "videos", "clean.bin", clean, 1<<20)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "processing" {
		t.Fatalf("last PATCH: %d %s %q", resp.StatusCode, body, resp.Header.Get("Upload-State"))
	}
	iid, resp, body := tb.tusUpload(t, "alice", "videos", "infected.bin", infected, 1<<20)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "processing" {
		t.Fatalf("last PATCH: %d %s %q", resp.StatusCode, body, resp.Header.Get("Upload-State"))
	}
	tb.waitState(t, cid, "ready", 30*time.Second)
	tb.waitState(t, iid, "quarantined", 30*time.Second)
	tb.requireQuarantined(t, iid, infected)
	// A HEAD on the ready upload reports it complete.
	resp, _ = tb.do(t, "HEAD", tb.url("/tus/"+cid), "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != 200 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Upload-State"))
	}
	if got := <-completed; got != cid {
		t.Fatalf("OnComplete ran for %s", got)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(completed); n != 0 {
		t.Fatalf("OnComplete ran %d more times", n)
	}
}

// TestQuarantineReleaseAndDelete: an operator releases one quarantined file
// (it becomes ready and is served) and deletes another (nothing is left).
func TestQuarantineReleaseAndDelete(t *testing.T) {
	t.Parallel()
	tb := setupScanning(t, nil)
	var ids []string
	for i := range 2 {
		data := fmt.Appendf([]byte(scan.EICAR), "\n%d\n", i)
		resp, body := tb.multipartUpload(t, "files", "e.txt", data)
		wantError(t, resp, body, 422, "malware_detected")
		ids = append(ids, tb.onlyRecordWith(t, sha(data)))
	}
	// The owner cannot delete a quarantined file.
	resp, body := tb.do(t, "DELETE", tb.url("/uploads/"+ids[0]), "alice", nil, nil)
	wantError(t, resp, body, 409, "conflict")

	ops := carcosa.WithActor(context.Background(), "ops@example.com")
	up, err := tb.router.Release(ops, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if up.State != "ready" || up.Scan != "released" || up.Signature == "" {
		t.Fatalf("released record = %+v", up)
	}
	want := fmt.Appendf([]byte(scan.EICAR), "\n%d\n", 0)
	if got := tb.fetch(t, up.URL); !bytes.Equal(got, want) {
		t.Fatal("released bytes differ")
	}
	if _, err := tb.router.Release(context.Background(), ids[0]); !errors.Is(err, carcosa.ErrNotQuarantined) {
		t.Fatalf("second Release: %v", err)
	}

	if err := tb.router.DeleteQuarantined(ops, ids[1]); err != nil {
		t.Fatal(err)
	}
	// Both are in the audit log, with who did them.
	for action, id := range map[string]string{store.AuditQuarantineReleased: ids[0], store.AuditQuarantineDeleted: ids[1]} {
		events, err := tb.router.AuditLog(context.Background(), store.AuditQuery{Action: action})
		if err != nil || len(events) != 1 || events[0].Subject != id || events[0].Actor != "ops@example.com" {
			t.Fatalf("audit log of %s: %+v (%v)", action, events, err)
		}
	}
	if _, err := tb.store.Get(context.Background(), ids[1]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record after DeleteQuarantined: %v", err)
	}
	list, err := tb.router.Quarantined(context.Background(), store.Cursor{}, 0)
	if err != nil || len(list) != 0 {
		t.Fatalf("Quarantined = %v, %v; want none", list, err)
	}
	// What is left is the released file, at its key.
	u, _ := tb.store.Get(context.Background(), ids[0])
	keys := tb.storedKeys(t)
	if len(keys) != 1 || keys[0] != u.Key {
		t.Fatalf("objects %v, want only %s", keys, u.Key)
	}
}

// TestScanPresigned: a presigned file is scanned in the read that verifies
// it at completion; EICAR is quarantined in the bucket, a clean file is
// ready, and a large one is processed in the background (202).
func TestScanPresigned(t *testing.T) {
	t.Parallel()
	st, err := storage.Open(t.Context(), s3Bucket(t))
	if err != nil {
		t.Fatal(err)
	}
	cl := newClamd(t, testenv.ClamdAddr(t))
	db := memstore.New()
	r, err := carcosa.New(carcosa.Config{DataDir: t.TempDir(), Storage: st, Store: db, Scanner: cl, Queue: fastQueue()})
	if err != nil {
		t.Fatal(err)
	}
	carcosa.Handle(r, "files", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"any"}, MaxFileSize: 4 << 20, MaxFiles: 3, AsyncAbove: 1 << 20,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	srv := httptest.NewServer(r)
	t.Cleanup(func() { srv.Close(); r.Close(); st.Close() })
	pb := &presignBundle{srv: srv, st: st, db: db}

	eicar, clean, big := []byte(scan.EICAR), randomBytes(64<<10), randomBytes(2<<20)
	resp, body := pb.post(t, "/routes/files/presign", map[string]any{"files": []map[string]any{
		{"name": "eicar.txt", "size": len(eicar), "type": "text/plain"},
		{"name": "clean.bin", "size": len(clean), "type": "application/octet-stream"},
		{"name": "big.bin", "size": len(big), "type": "application/octet-stream"},
	}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("presign: %d %s", resp.StatusCode, body)
	}
	var out struct{ Uploads []presigned }
	if err := json.Unmarshal(body, &out); err != nil || len(out.Uploads) != 3 {
		t.Fatalf("presign answer %s", body)
	}
	for i, data := range [][]byte{eicar, clean, big} {
		put(t, out.Uploads[i], data)
	}
	resp, body = pb.post(t, "/uploads/"+out.Uploads[0].ID+"/complete", nil)
	wantError(t, resp, body, 422, "malware_detected")
	u, err := db.Get(t.Context(), out.Uploads[0].ID)
	if err != nil || u.State != store.Quarantined {
		t.Fatalf("record %+v, %v", u, err)
	}
	if _, err := st.Open(t.Context(), u.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the infected object is still at its key: %v", err)
	}
	if got := readObject(t, st, ".quarantine/"+u.Key); !bytes.Equal(got, eicar) {
		t.Fatal("quarantined bytes differ")
	}

	resp, body = pb.post(t, "/uploads/"+out.Uploads[1].ID+"/complete", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"scan":"clean"`) {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}
	resp, body = pb.post(t, "/uploads/"+out.Uploads[2].ID+"/complete", nil)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), `"state":"processing"`) {
		t.Fatalf("complete of a large file: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := db.Get(t.Context(), out.Uploads[2].ID)
		if err != nil {
			t.Fatal(err)
		}
		if u.State == store.Ready && u.Scan == store.ScanClean && u.SHA256 == sha(big) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("large presigned file still %s", u.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseRunsWaitingJobs: with the in-process queue, Close runs the
// background processing still waiting, so a clean shutdown loses nothing.
func TestCloseRunsWaitingJobs(t *testing.T) {
	t.Parallel()
	tb := setupScanning(t, func(c *carcosa.Config) {
		c.Queue = queue.NewMemory(&queue.MemoryOptions{Workers: 1})
	})
	carcosa.Handle(tb.router, "videos", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"any"}, MaxFileSize: 8 << 20, AsyncAbove: 1 << 10,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	var ids []string
	for range 4 {
		data := randomBytes(1 << 20)
		id, resp, body := tb.tusUpload(t, "alice", "videos", "v.bin", data, 1<<20)
		if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "processing" {
			t.Fatalf("last PATCH: %d %s", resp.StatusCode, body)
		}
		ids = append(ids, id)
	}
	tb.server.Close()
	if err := tb.router.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		u, err := tb.store.Get(context.Background(), id)
		if err != nil || u.State != store.Ready || u.Scan != store.ScanClean {
			t.Fatalf("after Close: %+v, %v; want ready and clean", u, err)
		}
	}
}
