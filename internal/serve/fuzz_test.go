package serve

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

// FuzzFilterRange checks filterRange against net/http: the header it
// hands ServeContent is served as a 206 of at most maxRanges disjoint parts
// that costs about the file's size at most; where it serves, net/http would
// not have refused the original header; and where it answers 416, the
// original header selects no byte.
func FuzzFilterRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=100-", "bytes=1-2,4-5", "bytes=-0", "bytes=", "bytes=a-b", "bytes=5-1", "items=1-2", "bytes= 1 - 2 ", "bytes=-", "bytes=0-0,-1", "bytes=+1-2", "bytes=-0,-0", "bytes=9-,-3,0-1,4-4"} {
		f.Add(s, int64(10))
	}
	f.Add("bytes=0-", int64(0))
	f.Add("bytes=-1", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 || size > 1<<20 {
			return
		}
		ranges, v := filterRange(h, size)
		content := strings.Repeat("x", int(size))
		serve := func(rg string) *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Range", rg)
			http.ServeContent(rec, req, "", time.Time{}, strings.NewReader(content))
			return rec
		}
		orig := serve(h)
		switch v {
		case rangeUnsatisfiable:
			if orig.Code != http.StatusRequestedRangeNotSatisfiable && (orig.Code != http.StatusPartialContent || rangeBytes(t, orig) != 0) {
				t.Fatalf("filterRange(%q, %d) refused a range net/http serves (%d)", h, size, orig.Code)
			}
		case rangeSatisfiable:
			if orig.Code == http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("filterRange(%q, %d) passed a range net/http refuses", h, size)
			}
			if n := strings.Count(ranges, ",") + 1; n > maxRanges {
				t.Fatalf("filterRange(%q, %d) = %q: %d ranges", h, size, ranges, n)
			}
			rec := serve(ranges)
			if rec.Code != http.StatusPartialContent {
				t.Fatalf("filterRange(%q, %d) = %q, served with %d", h, size, ranges, rec.Code)
			}
			if n := rangeBytes(t, rec); n > int(size) || rec.Body.Len() > int(size)+2*partOverhead {
				t.Fatalf("filterRange(%q, %d) = %q: %d bytes of the file in an answer of %d", h, size, ranges, n, rec.Body.Len())
			}
		}
	})
}

// rangeBytes is how many bytes of the file a 206 answer holds, over all
// its parts.
func rangeBytes(t *testing.T, rec *httptest.ResponseRecorder) int {
	t.Helper()
	mt, params, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if mt != "multipart/byteranges" {
		return rec.Body.Len()
	}
	mr := multipart.NewReader(bytes.NewReader(rec.Body.Bytes()), params["boundary"])
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("a multipart answer: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("a multipart answer: %v", err)
		}
		n += len(b)
	}
}

// FuzzVerifySignature checks that no query verifies but the one made by
// signature, and that verification never panics.
func FuzzVerifySignature(f *testing.F) {
	fs := New(Options{Key: []byte("0123456789abcdef0123456789abcdef")})
	now := time.Unix(1_800_000_000, 0)
	good := fs.signature("images/a.png", now.Unix()+60)
	f.Add("images/a.png", "exp="+strconv.FormatInt(now.Unix()+60, 10)+"&sig="+good)
	f.Add("images/a.png", "exp=1&sig="+good)
	f.Add("images/b.png", "exp="+strconv.FormatInt(now.Unix()+60, 10)+"&sig="+good)
	f.Add("", "exp=&sig=")
	f.Add("x", "exp=-1&sig=%00")
	f.Add("x", "exp=99999999999999999999&sig=a")
	f.Fuzz(func(t *testing.T, key, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		err = fs.verifySignature(key, q, now)
		if err == nil {
			exp, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
			if q.Get("sig") != fs.signature(key, exp) || exp < now.Unix() {
				t.Fatalf("verified a query it did not sign: key %q query %q", key, rawQuery)
			}
		} else if apierr.Client(err).Status != http.StatusForbidden {
			t.Fatalf("status %d", apierr.Client(err).Status)
		}
	})
}
