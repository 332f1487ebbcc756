package tusadapter

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/iotest"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
)

// FuzzExactBody reads bodies of every length, in reads of every size,
// through exactBody: it never gives more than its limit, gives the whole
// body when it fits, and refuses it before the last allowed byte when it
// does not.
func FuzzExactBody(f *testing.F) {
	f.Add([]byte("hello"), int64(5), uint8(1))
	f.Add([]byte("hello"), int64(4), uint8(3))
	f.Add([]byte("hello!"), int64(5), uint8(64))
	f.Add([]byte(""), int64(0), uint8(1))
	f.Add([]byte("x"), int64(0), uint8(2))
	f.Add([]byte("ab"), int64(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, left int64, step uint8) {
		if left < 0 || step == 0 {
			return
		}
		b := &exactBody{ReadCloser: io.NopCloser(iotest.OneByteReader(bytes.NewReader(data))), left: left}
		var got []byte
		buf := make([]byte, step)
		var err error
		for range len(data) + 3 {
			var n int
			n, err = b.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if int64(len(got)) > left {
			t.Fatalf("gave %d bytes, limit %d", len(got), left)
		}
		var mbe *http.MaxBytesError
		if int64(len(data)) > left {
			if !errors.As(err, &mbe) || !b.exceeded || int64(len(got)) >= left && left > 0 {
				t.Fatalf("%d bytes over a limit of %d: gave %d, err %v", len(data), left, len(got), err)
			}
			return
		}
		if err != io.EOF || b.exceeded || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes within a limit of %d: gave %d, err %v", len(data), left, len(got), err)
		}
	})
}

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
			if apierr.Client(err).Status >= 500 {
				t.Fatalf("metadata error is a server error: %v", err)
			}
			return
		}
		if !lifecycle.ValidRouteName(m.route) {
			t.Fatalf("accepted route %q", m.route)
		}
		if len(m.typ) > 255 || len(m.input) > lifecycle.MaxInputSize {
			t.Fatalf("limits passed: type %d bytes, input %d bytes", len(m.typ), len(m.input))
		}
	})
}
