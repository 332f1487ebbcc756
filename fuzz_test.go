package carcosa

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
)

// FuzzTusMetadata feeds Upload-Metadata headers through tusd's parser and
// Carcosa's: no panic, and whatever is accepted names a well-formed route
// and stays within the limits.
func FuzzTusMetadata(f *testing.F) {
	f.Add("route aW1hZ2Vz,filename Y2F0LnBuZw==,filetype aW1hZ2UvcG5n")
	f.Add("route ZmlsZXM=,name YS50eHQ=,type dGV4dC9wbGFpbg==,input eyJhIjoxfQ==")
	f.Add("filename Y2F0LnBuZw==")
	f.Add("route Li4vZXRj")
	f.Add("route ,input")
	f.Add("route aW1hZ2Vz,input ew==")
	f.Add("route aW1hZ2Vz route aW1hZ2Vz,,,")
	f.Fuzz(func(t *testing.T, header string) {
		md := tusd.ParseMetadataHeader(header)
		m, err := parseTusMeta(md)
		if err != nil {
			if clientError(err).Status >= 500 {
				t.Fatalf("metadata error is a server error: %v", err)
			}
			return
		}
		if !routeName.MatchString(m.route) {
			t.Fatalf("accepted route %q", m.route)
		}
		if len(m.typ) > 255 || len(m.input) > maxInputSize {
			t.Fatalf("limits passed: type %d bytes, input %d bytes", len(m.typ), len(m.input))
		}
	})
}

// FuzzCheckRange compares checkRange with what net/http serves for the same
// header: where Carcosa lets a Range through, net/http never answers 416, and
// where Carcosa answers 416, so would net/http.
func FuzzCheckRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=100-", "bytes=1-2,4-5", "bytes=-0", "bytes=", "bytes=a-b", "bytes=5-1", "items=1-2", "bytes= 1 - 2 ", "bytes=-", "bytes=0-0,-1", "bytes=+1-2"} {
		f.Add(s, int64(10))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 || size > 1<<20 {
			return
		}
		v := checkRange(h, size)
		if v == rangeMalformed {
			return
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Range", h)
		http.ServeContent(rec, req, "", time.Time{}, strings.NewReader(strings.Repeat("x", int(size))))
		refused := rec.Code == http.StatusRequestedRangeNotSatisfiable
		if v == rangeSatisfiable && refused {
			t.Fatalf("checkRange(%q, %d) passed a range net/http refuses", h, size)
		}
		if v == rangeUnsatisfiable && !refused {
			t.Fatalf("checkRange(%q, %d) refused a range net/http serves (%d)", h, size, rec.Code)
		}
	})
}

// FuzzVerifySignature checks that no query verifies but the one made by
// signature, and that verification never panics.
func FuzzVerifySignature(f *testing.F) {
	r := &Router{key: []byte("0123456789abcdef0123456789abcdef")}
	now := time.Unix(1_800_000_000, 0)
	good := r.signature("images/a.png", now.Unix()+60)
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
		err = r.verifySignature(key, q, now)
		if err == nil {
			exp, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
			if q.Get("sig") != r.signature(key, exp) || exp < now.Unix() {
				t.Fatalf("verified a query it did not sign: key %q query %q", key, rawQuery)
			}
		} else if clientError(err).Status != http.StatusForbidden {
			t.Fatalf("status %d", clientError(err).Status)
		}
	})
}
