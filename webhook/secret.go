package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// The bounds of a secret's decoded length, in bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// secretBytes is the length of the secrets NewSecret makes.
const secretBytes = 32

// ErrBadSecret is returned for a secret that is not "whsec_" followed by
// the standard base64 of 24 to 64 bytes.
var ErrBadSecret = errors.New("webhook: malformed secret")

// NewSecret returns a new random secret, "whsec_" and the base64 of 32
// bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret returns the key of secret s: the bytes its base64 encodes. It
// returns an error matching ErrBadSecret when s is malformed.
func ParseSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it does not start with %q", ErrBadSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64 after %q", ErrBadSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: %d bytes, want %d to %d", ErrBadSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}
