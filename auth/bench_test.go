package auth_test

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carcosa-dev/carcosa/auth"
)

func benchmarkVerify(b *testing.B, j *auth.JWT, token string) {
	ctx := context.Background()
	if _, err := j.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	benchmarkVerify(b, newJWT(b, auth.JWTOptions{HMACKey: hmacKey}),
		sign(b, jwt.SigningMethodHS256, hmacKey, "", claims()))
}

func BenchmarkVerifyRS256(b *testing.B) {
	benchmarkVerify(b, publicKeysJWT(b), sign(b, jwt.SigningMethodRS256, keys().rsa, "rsa", claims()))
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	benchmarkVerify(b, publicKeysJWT(b), sign(b, jwt.SigningMethodEdDSA, keys().ed, "ed", claims()))
}

// BenchmarkKeysVerify verifies one API key over and over, on each store
// (postgres only when CARCOSA_TEST_POSTGRES is set), with LastUsedAt written once a minute (the default).
func BenchmarkKeysVerify(b *testing.B) {
	for _, s := range keyStores {
		b.Run(s.name, func(b *testing.B) {
			keys, err := auth.NewKeys(auth.KeysOptions{Store: s.open(b)})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			secret, _, err := keys.Create(ctx, auth.KeySpec{Owner: "user-42", Tenant: "acme", Routes: []string{"docs"}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := keys.Verify(ctx, secret); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keys.Verify(ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
