package companion

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

// The parsers of what clients send: each either refuses its input with a
// client error (400) or returns values within their bounds. The seed
// corpora are in testdata/fuzz.

func clientError(t *testing.T, err error) {
	t.Helper()
	if e := apierr.Client(err); e.Status != 400 {
		t.Fatalf("error %v is not a client error: %d", err, e.Status)
	}
}

func FuzzDecodeParts(f *testing.F) {
	f.Add([]byte(`{"parts":[{"PartNumber":1,"ETag":"abc"},{"PartNumber":2,"ETag":"\"def\""}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, err := decodeParts(bytes.NewReader(body))
		if err != nil {
			clientError(t, err)
			return
		}
		if len(parts) == 0 || len(parts) > maxParts {
			t.Fatalf("%d parts", len(parts))
		}
		for i, p := range parts {
			if p.Number < 1 || p.Number > maxParts || i > 0 && p.Number <= parts[i-1].Number {
				t.Fatalf("part numbers out of order or range: %v", parts)
			}
			if !strings.HasPrefix(p.ETag, `"`) || !strings.HasSuffix(p.ETag, `"`) || !etagOK(strings.Trim(p.ETag, `"`)) {
				t.Fatalf("ETag %q", p.ETag)
			}
		}
	})
}

func FuzzParsePartNumbers(f *testing.F) {
	f.Add("1,2,3")
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := parsePartNumbers(s)
		if err != nil {
			clientError(t, err)
			return
		}
		seen := map[int32]bool{}
		for _, n := range ns {
			if n < 1 || n > maxParts || seen[n] {
				t.Fatalf("part numbers %v", ns)
			}
			seen[n] = true
		}
		if len(ns) == 0 || len(ns) > maxBatch {
			t.Fatalf("%d part numbers", len(ns))
		}
	})
}

func FuzzDecodeCreate(f *testing.F) {
	f.Add([]byte(`{"filename":"a.png","type":"image/png","metadata":{"route":"images","relativePath":null,"input":"{\"album\":\"cats\"}"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeCreate(bytes.NewReader(body))
		if err != nil {
			clientError(t, err)
			return
		}
		if d.Route == "" || d.Input != nil && !json.Valid(d.Input) {
			t.Fatalf("declared %+v", d)
		}
	})
}

func FuzzDecodeParams(f *testing.F) {
	f.Add("filename=a.png&type=image%2Fpng&metadata%5Broute%5D=images&metadata%5Binput%5D=%7B%7D")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		d, err := decodeParams(q)
		if err != nil {
			clientError(t, err)
			return
		}
		if d.Route == "" || d.Input != nil && !json.Valid(d.Input) {
			t.Fatalf("declared %+v", d)
		}
	})
}

func FuzzParseUploadID(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef.ZTIzNDU2Nzg5MGFiY2RlZg")
	f.Fuzz(func(t *testing.T, s string) {
		id, s3ID, ok := parseUploadID(s)
		if !ok {
			return
		}
		if uploadID(id, s3ID) != s {
			t.Fatalf("%q parsed as %q and %q", s, id, s3ID)
		}
	})
}
