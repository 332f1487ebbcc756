package carcosa_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// concat is the Upload-Concat header of a final upload of urls.
func concat(urls ...string) map[string]string {
	return map[string]string{"Upload-Concat": "final;" + strings.Join(urls, " ")}
}

// wantNoFinal checks that no upload but the partial ones was recorded.
func (tb *testBundle) wantNoFinal(t *testing.T) {
	t.Helper()
	recs, err := tb.store.List(t.Context(), store.Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if !rec.Partial {
			t.Fatalf("a refused concatenation left a record: %+v", rec)
		}
	}
}

// A concatenation that names a partial upload twice is refused: one
// partial named a thousand times made a file a thousand times its size.
func TestTusConcatDuplicatePart(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	parts := tb.tusPartials(t, "alice", "files", randomBytes(10_000), randomBytes(100))
	for _, urls := range [][]string{
		{parts[0], parts[0]},
		{parts[0], parts[1], parts[0]},
		{parts[0], strings.TrimPrefix(parts[0], tb.server.URL)}, // the same ID by another URL
	} {
		resp, body := tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(urls...))
		wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	}
	tb.wantNoFinal(t)
	// The parts are intact and still make a file.
	resp, body := tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(parts...))
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "" && resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("final: %d %s", resp.StatusCode, body)
	}
	if rec := tb.record(t, lastSegment(resp.Header.Get("Location")), "alice"); rec.State != "ready" || rec.Size != 10_100 {
		t.Fatalf("final: %+v", rec)
	}
}

// A concatenation joins at most carcosa.MaxConcatParts partial uploads; the
// count is refused before any of them is looked up.
func TestTusConcatTooManyParts(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	urls := make([]string, carcosa.MaxConcatParts+1)
	for i := range urls {
		urls[i] = tb.url(fmt.Sprintf("/tus/%032x", i+1))
	}
	resp, body := tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(urls...))
	e := wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	if !strings.Contains(e.Error.Message, fmt.Sprint(carcosa.MaxConcatParts)) {
		t.Errorf("message %q does not name the limit", e.Error.Message)
	}
	// At the limit, the count is not what refuses it: the IDs are unknown.
	resp, body = tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(urls[:carcosa.MaxConcatParts]...))
	wantError(t, resp, body, http.StatusNotFound, "not_found")
	tb.wantNoFinal(t)
}

// A final upload reserves its whole size when it is created, so a
// concatenation cannot take an owner past its quota.
func TestQuotaConcatenationOverLimit(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{Owner: quota.Limits{Bytes: 25_000}}
	})
	a, b := randomBytes(10_000), randomBytes(2_000)
	parts := tb.tusPartials(t, "alice", "files", a, b)
	wantUsed(t, "the parts", tb.usage(t, "alice", "files")["owner/"], 12_000, 2)

	// Naming the parts twice cannot stretch them.
	resp, body := tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(parts[0], parts[1], parts[0], parts[1]))
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	c := tb.tusPartials(t, "alice", "files", randomBytes(1_000))[0]
	d := tb.tusPartials(t, "alice", "files", randomBytes(1_000))[0]
	// The parts hold 14,000 bytes; a final of all four would add 14,000.
	resp, body = tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(parts[0], parts[1], c, d))
	wantError(t, resp, body, http.StatusTooManyRequests, "quota_exceeded")
	wantUsed(t, "after the refusal", tb.usage(t, "alice", "files")["owner/"], 14_000, 4)
	// Of three, 13,000: still over.
	resp, body = tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(parts[0], parts[1], c))
	wantError(t, resp, body, http.StatusTooManyRequests, "quota_exceeded")
	tb.wantNoFinal(t)
	// Without d's 1,000 bytes held, a final of a and b fits exactly:
	// 13,000 held and 12,000 reserved.
	resp, body = tb.do(t, "DELETE", d, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("terminating a part: %d %s", resp.StatusCode, body)
	}
	resp, body = tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "x.bin"), concat(parts[0], parts[1]))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("final: %d %s", resp.StatusCode, body)
	}
	if rec := tb.record(t, lastSegment(resp.Header.Get("Location")), "alice"); rec.State != "ready" || rec.Size != 12_000 {
		t.Fatalf("final: %+v", rec)
	}
	// The file counts once, beside the part left over (c).
	wantUsed(t, "after the final", tb.usage(t, "alice", "files")["owner/"], 13_000, 2)
}

// chunkedPatch sends data as a PATCH whose length is not declared
// (Transfer-Encoding: chunked).
func (tb *testBundle) chunkedPatch(t *testing.T, loc, user string, offset int64, data []byte) (*http.Response, []byte) {
	t.Helper()
	return tb.do(t, "PATCH", loc, user, io.MultiReader(bytes.NewReader(data)), map[string]string{
		"Tus-Resumable": "1.0.0",
		"Upload-Offset": strconv.FormatInt(offset, 10),
		"Content-Type":  "application/offset+octet-stream",
	})
}

// A chunked PATCH that sends more than the upload's length is refused, and
// the upload does not end ready with the bytes that fitted.
func TestTusChunkedPatchTooLong(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		offset int // bytes sent before, with a length
		extra  int
	}{
		{"whole", 0, 500},
		{"rest", 400, 1},
		{"one byte over", 999, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			data := randomBytes(1000)
			loc := tb.tusStart(t, len(data))
			if tc.offset > 0 {
				if resp, body := tb.tusPatch(t, loc, "alice", 0, data[:tc.offset], nil); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
				}
			}
			resp, body := tb.chunkedPatch(t, loc, "alice", int64(tc.offset), append(data[tc.offset:], bytes.Repeat([]byte{7}, tc.extra)...))
			wantError(t, resp, body, http.StatusRequestEntityTooLarge, "too_large")
			rec, err := tb.store.Get(t.Context(), tusID(loc))
			if err != nil {
				t.Fatal(err)
			}
			if rec.State != store.Rejected || rec.ErrorCode != "too_large" {
				t.Fatalf("record after a PATCH longer than the upload: %s %s", rec.State, rec.ErrorCode)
			}
			if keys := tb.storedKeys(t); len(keys) != 0 {
				t.Fatalf("stored %v", keys)
			}
			if left := tb.stagedFiles(t, tusID(loc)); len(left) != 0 {
				t.Fatalf("staged files left: %v", left)
			}
		})
	}
}

// Chunked PATCHes that keep within the upload's length make the file.
func TestTusChunkedPatch(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(100_000)
	loc := tb.tusStart(t, len(data))
	for _, end := range [][2]int{{0, 1}, {1, 60_000}, {60_000, 99_999}, {99_999, 100_000}} {
		resp, body := tb.chunkedPatch(t, loc, "alice", int64(end[0]), data[end[0]:end[1]])
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(end[1]) {
			t.Fatalf("PATCH %v: %d %v %s", end, resp.StatusCode, resp.Header, body)
		}
	}
	tb.wantReady(t, tusID(loc), data)
}

// A creation with upload whose body is spooled for its checksum is admitted
// first: a caller the route refuses, or one over its quota, is answered
// without a byte of the body being read or spooled.
func TestTusChecksumCreationAdmittedFirst(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{Owner: quota.Limits{Bytes: 1 << 20}}
	})
	hdr := func(user string, length int) map[string]string {
		return map[string]string{
			"X-User":          user,
			"Tus-Resumable":   "1.0.0",
			"Content-Type":    "application/offset+octet-stream",
			"Upload-Length":   strconv.Itoa(length),
			"Upload-Metadata": tusMetadata("route", "files", "filename", "a.bin"),
			"Upload-Checksum": uploadChecksum("sha256", []byte("x")),
		}
	}
	for _, c := range []struct {
		user   string
		length int
		status int
		code   string
	}{
		{"", 4 << 20, http.StatusUnauthorized, "unauthorized"},
		{"banned", 4 << 20, http.StatusForbidden, "forbidden"},
		{"alice", 9 << 20, http.StatusRequestEntityTooLarge, "too_large"},      // over the route's limit
		{"alice", 2 << 20, http.StatusRequestEntityTooLarge, "quota_exceeded"}, // over the whole quota
	} {
		// The body never comes: only an answer before reading it ends
		// the request before the test's 10 s.
		resp, body := tb.stall(t, "POST", "/tus/", c.length, hdr(c.user, c.length), make([]byte, 100))
		wantError(t, resp, body, c.status, c.code)
		if left := tb.spooled(t); len(left) != 0 {
			t.Fatalf("spooled for a refused creation: %v", left)
		}
	}
	// Over what is left of the quota, after a file that holds some of it.
	data := randomBytes(600 << 10)
	resp, body := tb.do(t, "POST", tb.url("/tus/"), "alice", bytes.NewReader(data), map[string]string{
		"Tus-Resumable":   "1.0.0",
		"Content-Type":    "application/offset+octet-stream",
		"Upload-Length":   strconv.Itoa(len(data)),
		"Upload-Metadata": tusMetadata("route", "files", "filename", "a.bin"),
		"Upload-Checksum": uploadChecksum("sha256", data),
	})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("creation with upload: %d %s", resp.StatusCode, body)
	}
	tb.wantReady(t, lastSegment(resp.Header.Get("Location")), data)
	resp, body = tb.stall(t, "POST", "/tus/", 600<<10, hdr("alice", 600<<10), make([]byte, 100))
	wantError(t, resp, body, http.StatusTooManyRequests, "quota_exceeded")
	// A checksum that does not match gives the reservation back.
	resp, body = tb.do(t, "POST", tb.url("/tus/"), "alice", bytes.NewReader(data[:1000]), map[string]string{
		"Tus-Resumable":   "1.0.0",
		"Content-Type":    "application/offset+octet-stream",
		"Upload-Length":   "1000",
		"Upload-Metadata": tusMetadata("route", "files", "filename", "a.bin"),
		"Upload-Checksum": uploadChecksum("sha256", data[1:1001]),
	})
	wantError(t, resp, body, 460, "checksum_mismatch")
	wantUsed(t, "after the refusals", tb.usage(t, "alice", "files")["owner/"], 600<<10, 1)
}
