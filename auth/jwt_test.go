package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carcosa-dev/carcosa/auth"
)

// now is the tests' clock: every token is judged at this instant.
var now = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

var hmacKey = []byte("0123456789abcdef0123456789abcdef")

// testKeys are generated once: RSA generation is slow under -race.
type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ed, edOther   ed25519.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	gen := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	}
	edKey := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	return testKeys{rsa: gen(), rsaOther: gen(), ed: edKey(), edOther: edKey()}
})

// claims are valid claims for the tests' clock.
func claims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":    "user-1",
		"iss":    "https://id.example/",
		"aud":    "uploads",
		"exp":    now.Add(time.Hour).Unix(),
		"iat":    now.Add(-time.Minute).Unix(),
		"tenant": "acme",
		"scope":  "files:read files:write",
	}
}

// sign returns a compact token; kid is set in the header unless empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken assembles a token from a header and claims as given, with sig
// as the signature segment.
func rawToken(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func newJWT(t testing.TB, opts auth.JWTOptions) *auth.JWT {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	if opts.Issuer == "" {
		opts.Issuer = "https://id.example/"
	}
	if opts.Audience == "" {
		opts.Audience = "uploads"
	}
	j, err := auth.NewJWT(opts)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// publicKeysJWT verifies with the tests' RSA key under kid "rsa" and its
// Ed25519 key under "ed" and "".
func publicKeysJWT(t testing.TB) *auth.JWT {
	k := keys()
	return newJWT(t, auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{
		"rsa": &k.rsa.PublicKey, "ed": k.ed.Public(), "": k.ed.Public(),
	}})
}

// with returns valid claims changed by set; a nil value deletes a claim.
func with(set map[string]any) jwt.MapClaims {
	c := claims()
	for k, v := range set {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// checkRefused asserts that err matches want, has want's code, and does not
// quote the token.
func checkRefused(t *testing.T, token string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	var e *auth.Error
	errors.As(want, &e)
	if got := auth.Code(err); got != e.Code() {
		t.Errorf("Code = %q, want %q", got, e.Code())
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) > 4 && strings.Contains(err.Error(), part) {
			t.Errorf("error %q quotes the token", err)
		}
	}
}

func TestVerifyValid(t *testing.T) {
	t.Parallel()
	k := keys()
	hs := newJWT(t, auth.JWTOptions{HMACKey: hmacKey})
	pk := publicKeysJWT(t)
	for _, tc := range []struct {
		name  string
		j     *auth.JWT
		token string
	}{
		{"HS256", hs, sign(t, jwt.SigningMethodHS256, hmacKey, "", claims())},
		{"HS256 with a kid", hs, sign(t, jwt.SigningMethodHS256, hmacKey, "any", claims())},
		{"RS256", pk, sign(t, jwt.SigningMethodRS256, k.rsa, "rsa", claims())},
		{"EdDSA", pk, sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims())},
		{"EdDSA without kid", pk, sign(t, jwt.SigningMethodEdDSA, k.ed, "", claims())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := tc.j.Verify(context.Background(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "user-1" || id.Tenant != "acme" || !slices.Equal(id.Scopes, []string{"files:read", "files:write"}) {
				t.Errorf("identity = %+v", id)
			}
			if id.Claims["iss"] != "https://id.example/" {
				t.Errorf("claims = %v", id.Claims)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	j := newJWT(t, auth.JWTOptions{HMACKey: hmacKey})
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   error // nil: verifies
	}{
		{"expired", with(map[string]any{"exp": at(-time.Minute)}), auth.ErrExpired},
		{"expired within leeway", with(map[string]any{"exp": at(-10 * time.Second)}), nil},
		{"exp zero", with(map[string]any{"exp": 0}), auth.ErrExpired},
		{"exp missing", with(map[string]any{"exp": nil}), auth.ErrMissingClaim},
		{"exp a string", with(map[string]any{"exp": "tomorrow"}), auth.ErrMalformed},
		{"exp beyond year 9999", with(map[string]any{"exp": 1e300}), auth.ErrMalformed},
		{"nbf in the future", with(map[string]any{"nbf": at(time.Minute)}), auth.ErrNotYetValid},
		{"nbf within leeway", with(map[string]any{"nbf": at(20 * time.Second)}), nil},
		{"iat in the future", with(map[string]any{"iat": at(time.Minute)}), auth.ErrNotYetValid},
		{"wrong iss", with(map[string]any{"iss": "https://evil.example/"}), auth.ErrWrongIssuer},
		{"iss missing", with(map[string]any{"iss": nil}), auth.ErrWrongIssuer},
		{"wrong aud", with(map[string]any{"aud": "billing"}), auth.ErrWrongAudience},
		{"aud missing", with(map[string]any{"aud": nil}), auth.ErrWrongAudience},
		{"aud among several", with(map[string]any{"aud": []string{"billing", "uploads"}}), nil},
		{"aud with spaces is one value", with(map[string]any{"aud": "billing uploads"}), auth.ErrWrongAudience},
		{"aud not strings", with(map[string]any{"aud": []int{1}}), auth.ErrMalformed},
		{"sub missing", with(map[string]any{"sub": nil}), auth.ErrMissingClaim},
		{"sub empty", with(map[string]any{"sub": ""}), auth.ErrMissingClaim},
		{"sub a number", with(map[string]any{"sub": 7}), auth.ErrMalformed},
		{"tenant a number", with(map[string]any{"tenant": 7}), auth.ErrMalformed},
		{"scope an array", with(map[string]any{"scope": []string{"a", "b"}}), nil},
		{"scope a number", with(map[string]any{"scope": 7}), auth.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token := sign(t, jwt.SigningMethodHS256, hmacKey, "", tc.claims)
			_, err := j.Verify(context.Background(), token)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkRefused(t, token, err, tc.want)
		})
	}
}

func TestVerifyScopes(t *testing.T) {
	t.Parallel()
	j := newJWT(t, auth.JWTOptions{HMACKey: hmacKey})
	id, err := j.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, hmacKey, "",
		with(map[string]any{"scope": nil, "scp": []string{"a", "b"}})))
	if err != nil || !slices.Equal(id.Scopes, []string{"a", "b"}) {
		t.Fatalf("scp: %v, %v", id.Scopes, err)
	}
	custom := newJWT(t, auth.JWTOptions{HMACKey: hmacKey, ScopeClaim: "perms", TenantClaim: "org"})
	id, err = custom.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, hmacKey, "",
		with(map[string]any{"perms": "x y", "org": "o-1"})))
	if err != nil || !slices.Equal(id.Scopes, []string{"x", "y"}) || id.Tenant != "o-1" {
		t.Fatalf("custom claims: %+v, %v", id, err)
	}
}

func TestVerifyNoLeeway(t *testing.T) {
	t.Parallel()
	j := newJWT(t, auth.JWTOptions{HMACKey: hmacKey, Leeway: -1})
	token := sign(t, jwt.SigningMethodHS256, hmacKey, "", with(map[string]any{"exp": now.Unix()}))
	_, err := j.Verify(context.Background(), token)
	checkRefused(t, token, err, auth.ErrExpired)
}

func TestVerifyRefused(t *testing.T) {
	t.Parallel()
	k := keys()
	hs := newJWT(t, auth.JWTOptions{HMACKey: hmacKey})
	pk := publicKeysJWT(t)
	rsaOnly := newJWT(t, auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{"": &k.rsa.PublicKey}})

	valid := sign(t, jwt.SigningMethodHS256, hmacKey, "", claims())
	parts := strings.Split(valid, ".")
	forged, _ := json.Marshal(with(map[string]any{"sub": "admin"}))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]

	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims())
	noneWithKid := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa", claims())

	// The classic confusion: an HS256 token whose HMAC key is the bytes of
	// the verifier's RSA public key, which the attacker knows.
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	confusion := sign(t, jwt.SigningMethodHS256, pemKey, "", claims())
	confusionDER := sign(t, jwt.SigningMethodHS256, der, "rsa", claims())

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		j     *auth.JWT
		token string
		want  error
	}{
		{"empty", hs, "", auth.ErrMalformed},
		{"one segment", hs, "abc", auth.ErrMalformed},
		{"four segments", hs, valid + ".x", auth.ErrMalformed},
		{"bad base64", hs, "!!." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"padded base64", hs, parts[0] + "=." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"header not JSON", hs, base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"too long", hs, strings.Repeat("a", 40<<10), auth.ErrMalformed},
		{"no alg", hs, rawToken(t, map[string]any{"typ": "JWT"}, claims(), []byte("x")), auth.ErrMalformed},
		{"tampered payload", hs, tampered, auth.ErrBadSignature},
		{"HS256 wrong key", hs, sign(t, jwt.SigningMethodHS256, []byte("another key of at least 32 bytes!!"), "", claims()), auth.ErrBadSignature},
		{"RS256 wrong key", pk, sign(t, jwt.SigningMethodRS256, k.rsaOther, "rsa", claims()), auth.ErrBadSignature},
		{"EdDSA wrong key", pk, sign(t, jwt.SigningMethodEdDSA, k.edOther, "ed", claims()), auth.ErrBadSignature},
		{"signature stripped", pk, strings.Join(strings.Split(sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims()), ".")[:2], ".") + ".", auth.ErrBadSignature},
		{"alg none to HMAC", hs, none, auth.ErrAlgorithm},
		{"alg none to public keys", pk, noneWithKid, auth.ErrAlgorithm},
		{"alg NONE", pk, rawToken(t, map[string]any{"alg": "NONE", "kid": "rsa"}, claims(), nil), auth.ErrAlgorithm},
		{"alg unknown", pk, rawToken(t, map[string]any{"alg": "XS999"}, claims(), []byte("x")), auth.ErrAlgorithm},
		{"HS256 signed with the RSA key's PEM", rsaOnly, confusion, auth.ErrAlgorithm},
		{"HS256 signed with the RSA key's DER", pk, confusionDER, auth.ErrAlgorithm},
		{"RS256 to an HMAC verifier", hs, sign(t, jwt.SigningMethodRS256, k.rsa, "", claims()), auth.ErrAlgorithm},
		{"RS256 under an Ed25519 kid", pk, sign(t, jwt.SigningMethodRS256, k.rsa, "ed", claims()), auth.ErrAlgorithm},
		{"EdDSA under an RSA kid", pk, sign(t, jwt.SigningMethodEdDSA, k.ed, "rsa", claims()), auth.ErrAlgorithm},
		{"PS256 with the RSA key", pk, sign(t, jwt.SigningMethodPS256, k.rsa, "rsa", claims()), auth.ErrAlgorithm},
		{"ES256", pk, sign(t, jwt.SigningMethodES256, ec, "rsa", claims()), auth.ErrAlgorithm},
		{"unknown kid", pk, sign(t, jwt.SigningMethodEdDSA, k.ed, "other", claims()), auth.ErrUnknownKey},
		{"kid a number", pk, rawToken(t, map[string]any{"alg": "EdDSA", "kid": 7}, claims(), []byte("x")), auth.ErrMalformed},
		{"no kid, RSA only under kid", newJWT(t, auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{"rsa": &k.rsa.PublicKey}}),
			sign(t, jwt.SigningMethodRS256, k.rsa, "", claims()), auth.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := tc.j.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("verified: %+v", id)
			}
			checkRefused(t, tc.token, err, tc.want)
		})
	}
}

// A critical header extension is not understood, so the token is refused
// even though its signature is good.
func TestVerifyCrit(t *testing.T) {
	t.Parallel()
	j := newJWT(t, auth.JWTOptions{HMACKey: hmacKey})
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
	tok.Header["crit"] = []string{"b64"}
	tok.Header["b64"] = false
	s, err := tok.SignedString(hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.Verify(context.Background(), s)
	checkRefused(t, s, err, auth.ErrMalformed)
}

func TestFromRequest(t *testing.T) {
	t.Parallel()
	j := newJWT(t, auth.JWTOptions{HMACKey: hmacKey})
	token := sign(t, jwt.SigningMethodHS256, hmacKey, "", claims())
	for _, tc := range []struct {
		name   string
		header []string
		want   error
	}{
		{"bearer", []string{"Bearer " + token}, nil},
		{"scheme in lower case", []string{"bearer " + token}, nil},
		{"extra spaces", []string{"Bearer   " + token + " "}, nil},
		{"no header", nil, auth.ErrNoToken},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, auth.ErrNoToken},
		{"bearer without token", []string{"Bearer"}, auth.ErrMalformed},
		{"two headers", []string{"Bearer " + token, "Bearer " + token}, auth.ErrMalformed},
		{"bad token", []string{"Bearer abc.def.ghi"}, auth.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			for _, h := range tc.header {
				r.Header.Add("Authorization", h)
			}
			id, err := j.FromRequest(r)
			if tc.want == nil {
				if err != nil || id.Subject != "user-1" {
					t.Fatalf("%+v, %v", id, err)
				}
				return
			}
			checkRefused(t, token, err, tc.want)
		})
	}
}

func TestNewJWT(t *testing.T) {
	t.Parallel()
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts auth.JWTOptions
		want string // in the error
	}{
		{"no key source", auth.JWTOptions{}, "exactly one"},
		{"two key sources", auth.JWTOptions{HMACKey: hmacKey, JWKSURL: "https://id.example/jwks"}, "exactly one"},
		{"short HMAC key", auth.JWTOptions{HMACKey: []byte("short")}, "HMACKey"},
		{"no public keys", auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{}}, "PublicKeys"},
		{"small RSA key", auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{"a": &small.PublicKey}}, "1024 bits"},
		{"RSA key by value", auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{"a": k.rsa.PublicKey}}, "not supported"},
		{"ECDSA key", auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{"a": &ec.PublicKey}}, "not supported"},
		{"private key", auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{"a": k.ed}}, "not supported"},
		{"short Ed25519 key", auth.JWTOptions{PublicKeys: map[string]crypto.PublicKey{"a": ed25519.PublicKey(make([]byte, 31))}}, "wrong size"},
		{"http JWKS", auth.JWTOptions{JWKSURL: "http://id.example/jwks"}, "https"},
		{"other scheme", auth.JWTOptions{JWKSURL: "ftp://id.example/jwks"}, "https"},
		{"no host", auth.JWTOptions{JWKSURL: "https:///jwks"}, "no host"},
		{"negative TTL", auth.JWTOptions{JWKSURL: "https://id.example/jwks", CacheTTL: -1}, "CacheTTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.NewJWT(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one naming %q", err, tc.want)
			}
		})
	}
	for _, u := range []string{"http://127.0.0.1:1/jwks", "http://[::1]:1/jwks", "http://localhost/jwks", "https://id.example/jwks"} {
		if _, err := auth.NewJWT(auth.JWTOptions{JWKSURL: u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// NewJWT copies the keys: changing the caller's options later changes
// nothing, and the options are not changed either.
func TestNewJWTCopiesOptions(t *testing.T) {
	t.Parallel()
	key := slices.Clone(hmacKey)
	opts := auth.JWTOptions{HMACKey: key, Now: func() time.Time { return now }}
	j, err := auth.NewJWT(opts)
	if err != nil {
		t.Fatal(err)
	}
	token := sign(t, jwt.SigningMethodHS256, hmacKey, "", with(map[string]any{"iss": nil, "aud": nil}))
	key[0] ^= 1
	if _, err := j.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	if opts.Leeway != 0 || opts.TenantClaim != "" || opts.HMACKey == nil {
		t.Errorf("options changed: %+v", opts)
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		nil:                     "",
		auth.ErrNoToken:         "token_missing",
		auth.ErrMalformed:       "token_malformed",
		auth.ErrBadSignature:    "token_invalid_signature",
		auth.ErrExpired:         "token_expired",
		auth.ErrNotYetValid:     "token_not_yet_valid",
		auth.ErrWrongIssuer:     "token_wrong_issuer",
		auth.ErrWrongAudience:   "token_wrong_audience",
		auth.ErrUnknownKey:      "token_unknown_key",
		auth.ErrAlgorithm:       "token_algorithm_not_allowed",
		auth.ErrMissingClaim:    "token_claim_missing",
		auth.ErrKeysUnavailable: "auth_unavailable",
		errors.New("other"):     "token_invalid",
	} {
		if got := auth.Code(err); got != want {
			t.Errorf("Code(%v) = %q, want %q", err, got, want)
		}
	}
}
