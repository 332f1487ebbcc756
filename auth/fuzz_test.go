package auth_test

import (
	"context"
	"crypto"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/auth"
)

// FuzzVerify feeds arbitrary text to verifiers of every kind of key: none
// may panic, accept, or quote the text in its error. The seed corpus in
// testdata/fuzz/FuzzVerify holds tokens of every shape, signed with keys
// the verifiers do not hold, and the classic forgeries.
func FuzzVerify(f *testing.F) {
	k := keys()
	verifiers := []*auth.JWT{
		newJWT(f, auth.JWTOptions{HMACKey: hmacKey}),
		newJWT(f, auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{
			"rsa": &k.rsa.PublicKey, "ed": k.ed.Public(), "": k.ed.Public(),
		}}),
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, j := range verifiers {
			id, err := j.Verify(context.Background(), token)
			if err == nil {
				t.Fatalf("verified %q: %+v", token, id)
			}
			if code := auth.Code(err); !strings.HasPrefix(code, "token_") || code == "token_invalid" {
				t.Fatalf("error %v has code %q", err, code)
			}
			// No message of these verifiers holds a dot, so one that
			// contains a dotted token quotes it.
			if strings.Contains(token, ".") && strings.Contains(err.Error(), token) {
				t.Fatalf("error %q quotes the token", err)
			}
		}
	})
}
