package carcosa_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// The tus extensions the Router adds to tusd's: checksum and expiration.

// uploadChecksum is the Upload-Checksum of data under algorithm alg.
func uploadChecksum(alg string, data []byte) string {
	var h hash.Hash
	switch alg {
	case "sha1":
		h = sha1.New()
	case "sha256":
		h = sha256.New()
	case "md5":
		h = md5.New()
	default:
		panic("unknown algorithm " + alg)
	}
	h.Write(data)
	return alg + " " + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// tusID is the ID of the tus upload at loc.
func tusID(loc string) string { return loc[strings.LastIndexByte(loc, '/')+1:] }

// stagedFiles lists what the local staging area (DataDir/tus) holds for
// upload id: its data, .info and hash state.
func (tb *testBundle) stagedFiles(t *testing.T, id string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tb.dataDir, "tus", id+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// spooled lists the request bodies left in DataDir/tmp, where they wait
// while their checksum is verified.
func (tb *testBundle) spooled(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(tb.dataDir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// wantReady checks that upload id ended ready with data's bytes.
func (tb *testBundle) wantReady(t *testing.T, id string, data []byte) {
	t.Helper()
	rec := tb.record(t, id, "alice")
	if rec.State != "ready" || rec.Size != int64(len(data)) || rec.SHA256 != sha(data) {
		t.Fatalf("record = %+v, want ready with %d bytes of SHA-256 %s", rec, len(data), sha(data))
	}
	if !bytes.Equal(tb.fetch(t, rec.URL), data) {
		t.Fatal("served bytes differ")
	}
}

func TestTusChecksumAdvertised(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, body := tb.do(t, "OPTIONS", tb.url("/tus/"), "", nil, nil)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		t.Fatalf("OPTIONS: %d %s", resp.StatusCode, body)
	}
	ext := strings.Split(resp.Header.Get("Tus-Extension"), ",")
	for _, want := range []string{"creation", "creation-with-upload", "termination", "concatenation", "checksum", "expiration"} {
		found := false
		for _, e := range ext {
			found = found || e == want
		}
		if !found {
			t.Errorf("Tus-Extension %q lacks %s", resp.Header.Get("Tus-Extension"), want)
		}
	}
	if got := resp.Header.Get("Tus-Checksum-Algorithm"); got != "sha1,sha256,md5" {
		t.Errorf("Tus-Checksum-Algorithm %q", got)
	}
}

// Each chunk of one upload carries a checksum of another algorithm.
func TestTusChecksumEachAlgorithm(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(3<<20 + 1234)
	loc := tb.tusStart(t, len(data))
	id := tusID(loc)
	chunks := []struct {
		alg        string
		start, end int
	}{
		{"sha1", 0, 1 << 20},
		{"sha256", 1 << 20, 2<<20 + 7},
		{"md5", 2<<20 + 7, len(data)},
	}
	for _, c := range chunks {
		chunk := data[c.start:c.end]
		resp, body := tb.tusPatch(t, loc, "alice", int64(c.start), chunk, map[string]string{"Upload-Checksum": uploadChecksum(c.alg, chunk)})
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(c.end) {
			t.Fatalf("%s chunk: %d offset %q %s", c.alg, resp.StatusCode, resp.Header.Get("Upload-Offset"), body)
		}
	}
	tb.wantReady(t, id, data)
	if left := tb.spooled(t); len(left) != 0 {
		t.Errorf("spooled bodies left behind: %v", left)
	}
	if left := tb.stagedFiles(t, id); len(left) != 0 {
		t.Errorf("staged files left behind: %v", left)
	}
}

// A chunk corrupted on its way is refused with 460 and not written; sent
// again intact, it completes the upload. The corrupted chunk is the last
// one, which must not set off the upload's verification either.
func TestTusChecksumMismatch(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(1<<20 + 500)
	loc := tb.tusStart(t, len(data))
	id := tusID(loc)
	first, last := data[:1<<20], data[1<<20:]
	resp, body := tb.tusPatch(t, loc, "alice", 0, first, map[string]string{"Upload-Checksum": uploadChecksum("sha256", first)})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first chunk: %d %s", resp.StatusCode, body)
	}

	corrupted := bytes.Clone(last)
	corrupted[len(corrupted)/2] ^= 0x01
	resp, body = tb.tusPatch(t, loc, "alice", 1<<20, corrupted, map[string]string{"Upload-Checksum": uploadChecksum("sha256", last)})
	wantError(t, resp, body, 460, "checksum_mismatch")
	if off := tb.tusOffset(t, loc); off != 1<<20 {
		t.Fatalf("offset after a mismatch %d, want %d", off, 1<<20)
	}
	if rec := tb.record(t, id, "alice"); rec.State != "uploading" {
		t.Fatalf("record after a mismatch = %+v", rec)
	}
	if left := tb.spooled(t); len(left) != 0 {
		t.Errorf("spooled bodies left behind: %v", left)
	}

	resp, body = tb.tusPatch(t, loc, "alice", 1<<20, last, map[string]string{"Upload-Checksum": uploadChecksum("sha256", last)})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("resent chunk: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), body)
	}
	tb.wantReady(t, id, data)
}

// An Upload-Checksum that cannot be checked is a 400, and the chunk is not
// written.
func TestTusChecksumRefused(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(4096)
	loc := tb.tusStart(t, len(data))
	id := tusID(loc)
	first := data[:1000]
	if resp, body := tb.tusPatch(t, loc, "alice", 0, first, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first chunk: %d %s", resp.StatusCode, body)
	}
	chunk := data[1000:2000]
	sha1Digest := strings.TrimPrefix(uploadChecksum("sha1", chunk), "sha1 ")
	for _, h := range []string{
		"crc32 AAAA",
		"sha1",
		"sha1 ",
		"sha1 not*base64!",
		"sha256 " + sha1Digest, // a digest of the wrong length
		"sha1  " + sha1Digest,
		"sha1:" + sha1Digest,
	} {
		resp, body := tb.tusPatch(t, loc, "alice", 1000, chunk, map[string]string{"Upload-Checksum": h})
		wantError(t, resp, body, http.StatusBadRequest, "bad_request")
		if off := tb.tusOffset(t, loc); off != 1000 {
			t.Fatalf("offset after Upload-Checksum %q: %d, want 1000", h, off)
		}
	}
	// The upload goes on.
	resp, body := tb.tusPatch(t, loc, "alice", 1000, data[1000:], map[string]string{"Upload-Checksum": uploadChecksum("md5", data[1000:])})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("last chunk: %d %s", resp.StatusCode, body)
	}
	tb.wantReady(t, id, data)
}

// Creation with upload checks the body too: a corrupted one creates
// nothing.
func TestTusChecksumCreationWithUpload(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(70000)
	post := func(sum string) (*http.Response, []byte) {
		return tb.do(t, "POST", tb.url("/tus/"), "alice", bytes.NewReader(data), map[string]string{
			"Tus-Resumable":   "1.0.0",
			"Upload-Length":   strconv.Itoa(len(data)),
			"Upload-Metadata": tusMetadata("route", "files", "filename", "data.bin"),
			"Content-Type":    "application/offset+octet-stream",
			"Upload-Checksum": sum,
		})
	}
	resp, body := post(uploadChecksum("sha1", data[1:]))
	wantError(t, resp, body, 460, "checksum_mismatch")
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("a refused creation answers Location %s", loc)
	}
	ctx := context.Background()
	for _, st := range []store.State{store.Uploading, store.Processing, store.Ready, store.Rejected, store.Failed, store.Quarantined} {
		recs, err := tb.store.List(ctx, store.Query{State: st})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 0 {
			t.Fatalf("a refused creation left a record: %+v", recs[0])
		}
	}
	if staged, _ := filepath.Glob(filepath.Join(tb.dataDir, "tus", "*")); len(staged) != 0 {
		t.Fatalf("a refused creation staged %v", staged)
	}
	if left := tb.spooled(t); len(left) != 0 {
		t.Errorf("spooled bodies left behind: %v", left)
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("a refused creation stored %v", keys)
	}

	resp, body = post(uploadChecksum("sha1", data))
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("creation with a matching checksum: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), body)
	}
	loc := resp.Header.Get("Location")
	tb.wantReady(t, tusID(loc), data)
}

// expiresAt parses an Upload-Expires header.
func expiresAt(t *testing.T, resp *http.Response) time.Time {
	t.Helper()
	v := resp.Header.Get("Upload-Expires")
	at, err := http.ParseTime(v)
	if err != nil {
		t.Fatalf("Upload-Expires %q: %v", v, err)
	}
	return at
}

// An unfinished upload tells when it expires: IdleUploadTTL after its
// creation while it has no byte, UploadTTL after once it has some.
func TestTusExpiresHeader(t *testing.T) {
	t.Parallel()
	tb := setup(t) // the default TTLs, 1 and 24 hours
	data := randomBytes(3000)
	start := time.Now().Truncate(time.Second)
	loc := tb.tusStart(t, len(data))
	id := tusID(loc)
	resp, _ := tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if at, want := expiresAt(t, resp), start.Add(time.Hour); at.Before(want) || at.After(want.Add(time.Minute)) {
		t.Fatalf("Upload-Expires %v with no byte, want about %v", at, want)
	}

	resp, body := tb.tusPatch(t, loc, "alice", 0, data[:1000], nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	full := expiresAt(t, resp)
	if want := start.Add(24 * time.Hour); full.Before(want) || full.After(want.Add(time.Minute)) {
		t.Fatalf("PATCH: Upload-Expires %v, want about %v", full, want)
	}
	resp, _ = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	if at := expiresAt(t, resp); at.Sub(full).Abs() > time.Second {
		t.Errorf("HEAD: Upload-Expires %v, PATCH said %v", at, full)
	}

	// A finished upload no longer expires.
	if resp, body := tb.tusPatch(t, loc, "alice", 1000, data[1000:], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("last PATCH: %d %s", resp.StatusCode, body)
	}
	resp, _ = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Expires") != "" {
		t.Errorf("HEAD of a ready upload: %d, Upload-Expires %q", resp.StatusCode, resp.Header.Get("Upload-Expires"))
	}
	tb.wantReady(t, id, data)
}

// The creation response says when the upload expires: IdleUploadTTL
// later, or UploadTTL later when the creation brought bytes.
func TestTusExpiresOnCreation(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.UploadTTL = 2 * time.Hour
		c.IdleUploadTTL = 30 * time.Minute
	})
	start := time.Now().Truncate(time.Second)
	resp, body := tb.tusCreate(t, "alice", 10, tusMetadata("route", "files", "filename", "a.bin"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if at, want := expiresAt(t, resp), start.Add(30*time.Minute); at.Before(want) || at.After(want.Add(time.Minute)) {
		t.Fatalf("Upload-Expires %v, want about %v", at, want)
	}
	resp, body = tb.do(t, "POST", tb.url("/tus/"), "alice", bytes.NewReader([]byte("abc")), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Content-Type": "application/offset+octet-stream",
		"Upload-Metadata": tusMetadata("route", "files", "filename", "b.bin"),
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create with upload: %d %s", resp.StatusCode, body)
	}
	if at, want := expiresAt(t, resp), start.Add(2*time.Hour); at.Before(want) || at.After(want.Add(time.Minute)) {
		t.Fatalf("creation with upload: Upload-Expires %v, want about %v", at, want)
	}
}

// ttl is the UploadTTL of the expiration tests: long enough for a few
// requests under the race detector, short enough to wait for.
const ttl = time.Second

// waitExpiry sleeps until an upload created at created is past ttl.
func waitExpiry(created time.Time) {
	time.Sleep(time.Until(created.Add(ttl + 200*time.Millisecond)))
}

// An upload past its TTL answers 410 to HEAD and PATCH alike, and is gone:
// bytes unstaged, record rejected, OnError told.
func TestTusExpiredUpload(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"HEAD", "PATCH"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.UploadTTL = ttl })
			img := pngBytes(t, 300)
			created := time.Now()
			resp, body := tb.tusCreate(t, "alice", int64(len(img)), tusMetadata("route", "images", "filename", "a.png", "input", `{"album":"a"}`), nil)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("create: %d %s", resp.StatusCode, body)
			}
			loc := resp.Header.Get("Location")
			id := tusID(loc)
			half := len(img) / 2
			if resp, body := tb.tusPatch(t, loc, "alice", 0, img[:half], nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
			}
			if len(tb.stagedFiles(t, id)) == 0 {
				t.Fatal("nothing staged before the expiry")
			}
			waitExpiry(created)

			if method == "HEAD" {
				resp, body = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
				if resp.StatusCode != http.StatusGone || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("HEAD after expiry: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
			} else {
				resp, body = tb.tusPatch(t, loc, "alice", int64(half), img[half:], nil)
				wantError(t, resp, body, http.StatusGone, "upload_expired")
			}
			if left := tb.stagedFiles(t, id); len(left) != 0 {
				t.Fatalf("staged files left after expiry: %v", left)
			}
			rec := tb.record(t, id, "alice")
			if rec.State != "rejected" || rec.Error == nil || rec.Error.Code != "upload_expired" || rec.URL != "" {
				t.Fatalf("record = %+v", rec)
			}
			select {
			case err := <-tb.failed:
				if !errors.Is(err, carcosa.ErrUploadExpired) {
					t.Errorf("OnError got %v", err)
				}
			default:
				t.Error("OnError did not run")
			}
			// Later requests keep answering that it expired.
			resp, body = tb.tusPatch(t, loc, "alice", int64(half), img[half:], nil)
			wantError(t, resp, body, http.StatusGone, "upload_expired")
			if keys := tb.storedKeys(t); len(keys) != 0 {
				t.Fatalf("an expired upload stored %v", keys)
			}
		})
	}
}

// Recover expires abandoned uploads with no request from their clients,
// and leaves finished ones alone.
func TestTusExpiredBySweep(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.UploadTTL = ttl })
	created := time.Now()
	data := randomBytes(50000)
	partly := tb.tusStart(t, len(data))
	partlyID := tusID(partly)
	if resp, body := tb.tusPatch(t, partly, "alice", 0, data[:20000], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	emptyID := tusID(tb.tusStart(t, len(data))) // not one byte sent
	done := tb.tusStart(t, len(data))
	doneID := tusID(done)
	if resp, body := tb.tusPatch(t, done, "alice", 0, data, nil); resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("PATCH: %d %q %s", resp.StatusCode, resp.Header.Get("Upload-State"), body)
	}
	for _, id := range []string{partlyID, emptyID} {
		if len(tb.stagedFiles(t, id)) == 0 {
			t.Fatalf("upload %s: nothing staged before the expiry", id)
		}
	}
	waitExpiry(created)

	if err := tb.router.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{partlyID, emptyID} {
		rec := tb.record(t, id, "alice")
		if rec.State != "rejected" || rec.Error == nil || rec.Error.Code != "upload_expired" {
			t.Errorf("upload %s: record = %+v", id, rec)
		}
		if left := tb.stagedFiles(t, id); len(left) != 0 {
			t.Errorf("upload %s: staged files left after expiry: %v", id, left)
		}
	}
	tb.wantReady(t, doneID, data)
	resp, _ := tb.do(t, "HEAD", done, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD of the finished upload after its TTL: %d %v", resp.StatusCode, resp.Header)
	}
}

// updatesDown is a memstore whose Update fails while down is set.
type updatesDown struct {
	*memstore.Store
	down atomic.Bool
}

func (s *updatesDown) Update(ctx context.Context, id string, fn func(*store.Upload) error) (*store.Upload, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Update(ctx, id, fn)
}

// TestTusCompleteUploadNotExpired: an upload whose every byte arrived
// before its expiry, but whose finishing failed on a passing store fault,
// is finished after its TTL, not expired.
func TestTusCompleteUploadNotExpired(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"HEAD", "Recover"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			st := &updatesDown{Store: memstore.New()}
			tb := setupConfig(t, st, func(c *carcosa.Config) { c.UploadTTL = ttl })
			created, data := time.Now(), randomBytes(5000)
			loc := tb.tusStart(t, len(data))
			st.down.Store(true)
			resp, body := tb.tusPatch(t, loc, "alice", 0, data, nil)
			wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
			st.down.Store(false)
			waitExpiry(created)
			if via == "HEAD" {
				if resp, _ = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"}); resp.StatusCode != http.StatusOK {
					t.Errorf("HEAD: %d", resp.StatusCode)
				}
			} else if err := tb.router.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			tb.wantReady(t, tusID(loc), data)
		})
	}
}
