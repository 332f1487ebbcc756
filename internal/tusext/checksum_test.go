package tusext

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

var (
	hello       = []byte("hello")
	sha1Hello   = sha1.Sum(hello)
	sha256Hello = sha256.Sum256(hello)
	md5Hello    = md5.Sum(hello)
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func raw64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

func TestParseChecksum(t *testing.T) {
	t.Parallel()

	// 22 base64 characters carry 132 bits, 4 more than an md5 digest; the
	// encoder leaves them zero and the next character sets the lowest.
	md5Bits := raw64(md5Hello[:])
	last := strings.IndexByte(alphabet, md5Bits[len(md5Bits)-1])
	md5Bits = md5Bits[:len(md5Bits)-1] + string(alphabet[last+1])

	sha1URL := b64(bytes.Repeat([]byte{0xff}, sha1.Size)) // "////…"
	sha1URL = strings.ReplaceAll(sha1URL, "/", "_")

	tests := []struct {
		name    string
		header  string
		wantAlg string
		wantSum []byte
		wantErr error
	}{
		{"sha1", "sha1 " + b64(sha1Hello[:]), "sha1", sha1Hello[:], nil},
		{"sha256", "sha256 " + b64(sha256Hello[:]), "sha256", sha256Hello[:], nil},
		{"md5", "md5 " + b64(md5Hello[:]), "md5", md5Hello[:], nil},
		{"sha1 unpadded", "sha1 " + raw64(sha1Hello[:]), "sha1", sha1Hello[:], nil},
		{"sha256 unpadded", "sha256 " + raw64(sha256Hello[:]), "sha256", sha256Hello[:], nil},
		{"md5 unpadded", "md5 " + raw64(md5Hello[:]), "md5", md5Hello[:], nil},
		{"upper case", "SHA1 " + b64(sha1Hello[:]), "sha1", sha1Hello[:], nil},
		{"mixed case", "Sha256 " + b64(sha256Hello[:]), "sha256", sha256Hello[:], nil},

		{"empty", "", "", nil, ErrMalformed},
		{"algorithm only", "sha1", "", nil, ErrMalformed},
		{"unknown algorithm only", "crc32", "", nil, ErrMalformed},
		{"digest only", b64(sha1Hello[:]), "", nil, ErrMalformed},
		{"empty digest", "sha1 ", "", nil, ErrMalformed},
		{"empty algorithm", " " + b64(sha1Hello[:]), "", nil, ErrMalformed},
		{"two spaces", "sha1  " + b64(sha1Hello[:]), "", nil, ErrMalformed},
		{"trailing space", "sha1 " + b64(sha1Hello[:]) + " ", "", nil, ErrMalformed},
		{"tab", "sha1\t" + b64(sha1Hello[:]), "", nil, ErrMalformed},
		{"third field", "sha1 " + b64(sha1Hello[:]) + " x", "", nil, ErrMalformed},
		{"sha256 digest for sha1", "sha1 " + b64(sha256Hello[:]), "", nil, ErrMalformed},
		{"sha1 digest for sha256", "sha256 " + b64(sha1Hello[:]), "", nil, ErrMalformed},
		{"md5 digest for sha1", "sha1 " + b64(md5Hello[:]), "", nil, ErrMalformed},
		{"truncated", "sha1 " + b64(sha1Hello[:])[:20], "", nil, ErrMalformed},
		{"one byte short", "sha1 " + b64(sha1Hello[:sha1.Size-1]), "", nil, ErrMalformed},
		{"one byte long", "sha1 " + b64(append(sha1Hello[:], 0)), "", nil, ErrMalformed},
		{"not base64", "sha1 " + strings.Repeat("!", 27) + "=", "", nil, ErrMalformed},
		{"url alphabet", "sha1 " + sha1URL, "", nil, ErrMalformed},
		{"padding inside", "md5 " + raw64(md5Hello[:])[:20] + "==AA", "", nil, ErrMalformed},
		{"too much padding", "sha1 " + raw64(sha1Hello[:]) + "==", "", nil, ErrMalformed},
		{"newline", "sha1 " + raw64(sha1Hello[:]) + "\n", "", nil, ErrMalformed},
		{"non-zero trailing bits", "md5 " + md5Bits, "", nil, ErrMalformed},

		{"unknown algorithm", "crc32 AAAAAA==", "", nil, ErrUnsupported},
		{"sha512", "sha512 " + b64(make([]byte, 64)), "", nil, ErrUnsupported},
		{"IANA spelling", "sha-1 " + b64(sha1Hello[:]), "", nil, ErrUnsupported},
		{"unicode fold", "ſha1 " + b64(sha1Hello[:]), "", nil, ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseChecksum(tt.header)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseChecksum(%q) = %+v, %v; want %v", tt.header, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseChecksum(%q): %v", tt.header, err)
			}
			if got.Algorithm != tt.wantAlg || !bytes.Equal(got.Sum, tt.wantSum) {
				t.Fatalf("ParseChecksum(%q) = %s %x; want %s %x", tt.header, got.Algorithm, got.Sum, tt.wantAlg, tt.wantSum)
			}
		})
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Every advertised algorithm parses, and nothing else does.
func TestAlgorithmsAdvertised(t *testing.T) {
	t.Parallel()
	names := strings.Split(Algorithms, ",")
	if len(names) != len(algorithms) {
		t.Fatalf("Algorithms = %q; the package implements %d", Algorithms, len(algorithms))
	}
	for _, name := range names {
		a, ok := lookup(name)
		if !ok {
			t.Fatalf("advertised %q is not implemented", name)
		}
		h := name + " " + b64(a.new().Sum(nil))
		if _, err := ParseChecksum(h); err != nil {
			t.Errorf("ParseChecksum(%q): %v", h, err)
		}
	}
}

func TestChecksumString(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"SHA1 " + raw64(sha1Hello[:]),
		"sha256 " + b64(sha256Hello[:]),
		"Md5 " + raw64(md5Hello[:]),
	} {
		c, err := ParseChecksum(h)
		if err != nil {
			t.Fatalf("ParseChecksum(%q): %v", h, err)
		}
		s := c.String()
		if !strings.HasPrefix(s, strings.ToLower(h[:strings.IndexByte(h, ' ')+1])) || !strings.HasSuffix(s, "=") {
			t.Errorf("%q re-formats as %q; want a lowercase name and a padded digest", h, s)
		}
		again, err := ParseChecksum(s)
		if err != nil || again.Algorithm != c.Algorithm || !bytes.Equal(again.Sum, c.Sum) {
			t.Errorf("ParseChecksum(%q) = %+v, %v; want %+v", s, again, err, c)
		}
	}
}

func FuzzParseChecksum(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseChecksum(h)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("ParseChecksum(%q): unexpected error %v", h, err)
			}
			return
		}
		a, ok := lookup(c.Algorithm)
		if !ok || a.name != c.Algorithm {
			t.Fatalf("ParseChecksum(%q): algorithm %q is not a canonical name", h, c.Algorithm)
		}
		if len(c.Sum) != a.size {
			t.Fatalf("ParseChecksum(%q): %d-byte %s digest", h, len(c.Sum), c.Algorithm)
		}

		// The header is the canonical form up to the algorithm's ASCII case
		// and the digest's padding: nothing was skipped or tolerated.
		name, digest, _ := strings.Cut(h, " ")
		s := c.String()
		cname, cdigest, _ := strings.Cut(s, " ")
		if strings.ToLower(name) != cname || strings.TrimRight(digest, "=") != strings.TrimRight(cdigest, "=") {
			t.Fatalf("ParseChecksum(%q) re-formats as %q, which is not equivalent", h, s)
		}
		again, err := ParseChecksum(s)
		if err != nil || again.Algorithm != c.Algorithm || !bytes.Equal(again.Sum, c.Sum) {
			t.Fatalf("ParseChecksum(%q) = %+v, %v; want %+v", s, again, err, c)
		}
	})
}
