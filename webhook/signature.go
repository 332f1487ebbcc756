package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook request.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock, either way, when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// The longest header values Verify reads: a signature header of a few
// signatures is far shorter.
const (
	maxIDLen        = 256
	maxSignatureLen = 4096
)

// Errors of Verify. Compare with errors.Is.
var (
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is absent, empty or too long.
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrBadTimestamp: webhook-timestamp is not Unix seconds, or is
	// further from now than the tolerance.
	ErrBadTimestamp = errors.New("webhook: timestamp outside the tolerance")
	// ErrNoMatch: no v1 signature of the header matches any secret.
	ErrNoMatch = errors.New("webhook: no matching signature")
)

// Sign returns the webhook-signature header value of a request: one
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per secret, separated by
// spaces. It returns an error matching ErrBadSecret when a secret is
// malformed, and one when there is none.
func Sign(id string, timestamp time.Time, body []byte, secrets []string) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: no secret to sign with")
	}
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return "", err
		}
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts, body))
	}
	return strings.Join(sigs, " "), nil
}

// Header returns the three headers of a request sent at timestamp, signed
// by secrets (see Sign).
func Header(id string, timestamp time.Time, body []byte, secrets []string) (http.Header, error) {
	sig, err := Sign(id, timestamp, body, secrets)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a webhook request: its headers, its body exactly as
// received, and the endpoint's secrets (any of them may have signed, as
// during a rotation). A tolerance of 0 means DefaultTolerance. It returns
// nil when a v1 signature matches (compared in constant time) and the
// timestamp is within tolerance of now, otherwise an error matching
// ErrMissingHeader, ErrBadTimestamp, ErrNoMatch or ErrBadSecret.
// Signatures of other versions are ignored. Receivers should also dedupe
// by webhook-id: a delivery may arrive more than once.
func Verify(header http.Header, body []byte, secrets []string, tolerance time.Duration) error {
	return verify(header, body, secrets, tolerance, time.Now())
}

func verify(header http.Header, body []byte, secrets []string, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, ts, sig := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	switch {
	case id == "" || len(id) > maxIDLen:
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderID)
	case ts == "":
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderTimestamp)
	case sig == "" || len(sig) > maxSignatureLen:
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSignature)
	}
	sent, err := parseTimestamp(ts)
	if err != nil {
		return err
	}
	if d := now.Sub(sent); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %v from now", ErrBadTimestamp, ts, d.Round(time.Second))
	}
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return err
		}
		keys = append(keys, key)
	}
	sigs := ParseSignatures(sig)
	for _, key := range keys {
		want := mac(key, id, ts, body)
		for _, got := range sigs {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// parseTimestamp reads Unix seconds: decimal digits only.
func parseTimestamp(ts string) (time.Time, error) {
	if len(ts) > 12 || strings.TrimLeft(ts, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("%w: %q is not Unix seconds", ErrBadTimestamp, ts)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n > math.MaxInt64/int64(time.Second) {
		return time.Time{}, fmt.Errorf("%w: %q is not Unix seconds", ErrBadTimestamp, ts)
	}
	return time.Unix(n, 0), nil
}

// ParseSignatures returns the decoded v1 signatures of a webhook-signature
// header value: space-separated "v1,<base64>" items. Items of other
// versions, and malformed ones, are skipped; at most 16 are read.
func ParseSignatures(value string) [][]byte {
	const maxSignatures = 16
	var out [][]byte
	for item := range strings.FieldsSeq(value) {
		if len(out) == maxSignatures {
			break
		}
		enc, ok := strings.CutPrefix(item, "v1,")
		if !ok || len(enc) != base64.StdEncoding.EncodedLen(sha256.Size) {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		out = append(out, b)
	}
	return out
}
