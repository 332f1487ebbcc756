package uploadthing

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

// FuzzParseRange: any Range header is a start of at least 0 or a
// bad_request, and a start is read back from exactly its digits.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-", "bytes=1048576-", "bytes=-5", "bytes=1-2", "bytes=+1-", "bytes= 1-", "items=1-", "bytes=99999999999999999999-", "bytes=0x10-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := ParseRange(v)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Code != "bad_request" {
				t.Fatalf("ParseRange(%q): %v", v, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseRange(%q) = %d", v, n)
		}
		if v != "" {
			digits := strings.TrimSuffix(strings.TrimPrefix(v, "bytes="), "-")
			if m, _ := strconv.ParseInt(digits, 10, 64); m != n {
				t.Fatalf("ParseRange(%q) = %d", v, n)
			}
		}
	})
}

// FuzzDecodeAction: any body is an upload request whose every file has
// a whole positive size, or a bad_request; nothing panics.
func FuzzDecodeAction(f *testing.F) {
	for _, s := range []string{
		`{"files":[{"name":"a.png","size":10,"type":"image/png","lastModified":1700000000000}]}`,
		`{"input":{"caption":"x"},"files":[{"name":"a","size":1,"type":""}]}`,
		`{"input":null,"files":[]}`,
		`{"files":[{"name":"a","size":1.5,"type":"x"}]}`,
		`{"files":[{"name":"a","size":-1}]}`,
		`{"files":[{"name":"a","size":1e300}]}`,
		`{"files":null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ar, err := decodeAction(bytes.NewReader(body))
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Code != "bad_request" {
				t.Fatalf("decodeAction: %v", err)
			}
			return
		}
		for _, fl := range ar.Files {
			if n := int64(fl.Size); n < 1 || float64(n) != fl.Size {
				t.Fatalf("size %v accepted", fl.Size)
			}
		}
	})
}
