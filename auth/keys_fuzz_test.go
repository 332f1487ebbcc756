package auth

import "testing"

// FuzzKeyParse feeds arbitrary text to the parser of API keys: it must not
// panic, and whatever it accepts must be the one spelling of a key, the
// text formatKey makes of its decoded ID and secret. The seed corpus in
// testdata/fuzz/FuzzKeyParse holds keys and near misses.
func FuzzKeyParse(f *testing.F) {
	f.Add(formatKey(make([]byte, keyIDBytes), make([]byte, keySecretSize)))
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseKey(s)
		if !ok {
			if id != "" {
				t.Fatalf("parseKey(%q) refused the key but gave ID %q", s, id)
			}
			return
		}
		rawID, err := keyEncoding.DecodeString(id)
		if err != nil || len(rawID) != keyIDBytes {
			t.Fatalf("parseKey(%q) accepted ID %q, which decodes to %d bytes, %v", s, id, len(rawID), err)
		}
		secret, err := keyEncoding.DecodeString(s[len(keyPrefix)+keyIDLen+1:])
		if err != nil || len(secret) != keySecretSize {
			t.Fatalf("parseKey(%q) accepted a secret that decodes to %d bytes, %v", s, len(secret), err)
		}
		if again := formatKey(rawID, secret); again != s {
			t.Fatalf("parseKey(%q) accepted a key that formats as %q", s, again)
		}
	})
}
