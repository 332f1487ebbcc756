package transform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Sign returns the signature of transform s of the file at key, so that
// only transforms the application issued are run, as imgproxy does: an
// HMAC-SHA256 with secret over key and s.Canonical(), base64url without
// padding. Specs with the same canonical form share a signature.
func Sign(secret []byte, key string, s Spec) string {
	m := hmac.New(sha256.New, secret)
	// A label keeps these signatures apart from others made with the same
	// secret; the canonical spec has no NUL, so the message splits one way.
	m.Write([]byte("carcosa/transform\x00"))
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write([]byte(s.Canonical()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is Sign(secret, key, s), in constant time.
func Verify(secret []byte, key string, s Spec, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, key, s)))
}
