package tusext

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strings"
)

// Algorithms is the value of Tus-Checksum-Algorithm: the algorithms
// ParseChecksum accepts, as tus names them.
const Algorithms = "sha1,sha256,md5"

// StatusMismatch is tus's "460 Checksum Mismatch", which net/http does not
// name.
const StatusMismatch = 460

var (
	// ErrMismatch means the body's digest differs from Upload-Checksum (460).
	ErrMismatch = errors.New("tusext: checksum mismatch")
	// ErrUnsupported means Upload-Checksum names an algorithm not in
	// Algorithms (400).
	ErrUnsupported = errors.New("tusext: unsupported checksum algorithm")
	// ErrMalformed means Upload-Checksum is not "<algorithm> <base64 digest>"
	// or the digest's length does not fit the algorithm (400).
	ErrMalformed = errors.New("tusext: malformed Upload-Checksum")
	// ErrTooLarge means the body is longer than Spool's limit (413).
	ErrTooLarge = errors.New("tusext: body exceeds the size limit")
	// ErrSpoolWrite means the spool file could not be created or written:
	// the server's fault, such as a full disk (503), never the client's.
	ErrSpoolWrite = errors.New("tusext: the spool file could not be written")
)

// algorithm is one entry of Algorithms.
type algorithm struct {
	name string
	size int // digest length in bytes
	new  func() hash.Hash
}

var algorithms = []algorithm{
	{"sha1", sha1.Size, sha1.New},
	{"sha256", sha256.Size, sha256.New},
	{"md5", md5.Size, md5.New},
}

// lookup finds an algorithm by name, ignoring ASCII case only: Unicode case
// folding (strings.EqualFold) would accept "ſha1" for "sha1".
func lookup(name string) (algorithm, bool) {
	for _, a := range algorithms {
		if len(name) != len(a.name) {
			continue
		}
		match := true
		for i := range len(name) {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != a.name[i] {
				match = false
				break
			}
		}
		if match {
			return a, true
		}
	}
	return algorithm{}, false
}

// Checksum is a parsed Upload-Checksum header.
type Checksum struct {
	Algorithm string // one of Algorithms, lowercase
	Sum       []byte // the expected digest
}

// String formats c as an Upload-Checksum value, with a padded digest.
func (c Checksum) String() string {
	return c.Algorithm + " " + base64.StdEncoding.EncodeToString(c.Sum)
}

// ParseChecksum parses an Upload-Checksum header value.
//
// The value must be exactly "<algorithm> <digest>", one space between, none
// around (net/http has already trimmed the header's outer whitespace). The
// algorithm is matched case-insensitively (tus asks for lowercase, but
// "SHA1" is unambiguous) and returned lowercase. The digest is standard
// base64, padded or not: the padding carries no information once the length
// is fixed by the algorithm, and some clients drop it. Anything else the Go
// decoder would tolerate is rejected, so each digest has one spelling per
// padding choice: the URL alphabet, embedded CR/LF, and non-zero trailing
// bits.
//
// It returns ErrUnsupported for an algorithm not in Algorithms and
// ErrMalformed for any other fault.
func ParseChecksum(h string) (Checksum, error) {
	name, digest, ok := strings.Cut(h, " ")
	if !ok || name == "" || digest == "" {
		return Checksum{}, ErrMalformed
	}
	alg, ok := lookup(name)
	if !ok {
		return Checksum{}, ErrUnsupported
	}
	enc := base64.RawStdEncoding
	if len(digest) == base64.StdEncoding.EncodedLen(alg.size) {
		enc = base64.StdEncoding
	} else if len(digest) != base64.RawStdEncoding.EncodedLen(alg.size) {
		return Checksum{}, ErrMalformed
	}
	for i := range len(digest) {
		if !isBase64(digest[i]) {
			return Checksum{}, ErrMalformed
		}
	}
	sum, err := enc.Strict().DecodeString(digest)
	if err != nil || len(sum) != alg.size {
		return Checksum{}, ErrMalformed
	}
	return Checksum{Algorithm: alg.name, Sum: sum}, nil
}

// isBase64 reports whether c belongs to the standard alphabet or is padding;
// the decoder places the padding.
func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '+' || c == '/' || c == '='
}
