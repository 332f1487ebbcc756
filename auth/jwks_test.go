package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carcosa-dev/carcosa/auth"
	"github.com/carcosa-dev/carcosa/internal/testenv"
)

// jwksServer serves a key set over real HTTP on loopback and counts its
// requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	body   string
	status int
	delay  time.Duration
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, delay := s.body, s.status, s.delay
		s.mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve makes the server answer status with body.
func (s *jwksServer) serve(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// serveKeys makes the server answer a key set of keys by kid.
func (s *jwksServer) serveKeys(t *testing.T, keys map[string]any) {
	t.Helper()
	s.serve(http.StatusOK, jwkSet(t, keys))
}

func jwkSet(t *testing.T, keys map[string]any) string {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for kid, k := range keys {
		switch k := k.(type) {
		case *rsa.PublicKey:
			set.Keys = append(set.Keys, map[string]string{
				"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
				"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
			})
		case ed25519.PublicKey:
			set.Keys = append(set.Keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(k)})
		default:
			t.Fatalf("key type %T", k)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jwksBundle is what a JWKS test works with.
type jwksBundle struct {
	srv   *jwksServer
	clock *testenv.Clock
	j     *auth.JWT
}

func setupJWKS(t *testing.T) *jwksBundle {
	t.Helper()
	b := &jwksBundle{srv: newJWKSServer(t), clock: testenv.NewClock(now)}
	b.j = newJWT(t, auth.JWTOptions{JWKSURL: b.srv.URL + "/jwks", Now: b.clock.Now})
	return b
}

// verify verifies a token signed by key under kid.
func (b *jwksBundle) verify(t *testing.T, key any, kid string) error {
	t.Helper()
	method := jwt.SigningMethod(jwt.SigningMethodEdDSA)
	if _, ok := key.(*rsa.PrivateKey); ok {
		method = jwt.SigningMethodRS256
	}
	// Tokens stay valid however far the tests move the clock.
	token := sign(t, method, key, kid, with(map[string]any{"exp": now.Add(24 * time.Hour).Unix()}))
	_, err := b.j.Verify(context.Background(), token)
	return err
}

// mustVerify fails the test unless a token signed with key under kid
// verifies.
func (b *jwksBundle) mustVerify(t *testing.T, key any, kid string) {
	t.Helper()
	if err := b.verify(t, key, kid); err != nil {
		t.Fatalf("kid %q: %v", kid, err)
	}
}

func (b *jwksBundle) wantHits(t *testing.T, want int64) {
	t.Helper()
	if got := b.srv.hits.Load(); got != want {
		t.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

func TestJWKSVerifies(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"r": &k.rsa.PublicKey, "e": k.ed.Public()})
	b.mustVerify(t, k.rsa, "r")
	b.mustVerify(t, k.ed, "e")
	if err := b.verify(t, k.rsaOther, "r"); !errors.Is(err, auth.ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
	if err := b.verify(t, k.ed, "r"); !errors.Is(err, auth.ErrAlgorithm) {
		t.Fatalf("EdDSA under an RSA kid: %v", err)
	}
	b.wantHits(t, 1)
}

// An HS256 token keyed with the JWKS's own public key material is refused
// without a fetch for its kid: the algorithm is refused first.
func TestJWKSConfusion(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"r": &k.rsa.PublicKey})
	token := sign(t, jwt.SigningMethodHS256, k.rsa.PublicKey.N.Bytes(), "r", claims())
	_, err := b.j.Verify(context.Background(), token)
	checkRefused(t, token, err, auth.ErrAlgorithm)
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "r", claims())
	_, err = b.j.Verify(context.Background(), none)
	checkRefused(t, none, err, auth.ErrAlgorithm)
	b.wantHits(t, 0)
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"old": &k.rsa.PublicKey})
	b.mustVerify(t, k.rsa, "old")
	b.wantHits(t, 1)

	// The issuer rotates. Within the minimum interval, an unknown kid does
	// not fetch, however many arrive.
	b.srv.serveKeys(t, map[string]any{"new": k.ed.Public()})
	b.clock.Advance(10 * time.Second)
	for i := range 20 {
		kid := "new"
		if i%2 == 1 {
			kid = "made-up-" + strings.Repeat("x", i)
		}
		if err := b.verify(t, k.ed, kid); !errors.Is(err, auth.ErrUnknownKey) {
			t.Fatalf("kid %q within the interval: %v", kid, err)
		}
	}
	if err := b.verify(t, k.rsa, "old"); err != nil {
		t.Fatalf("old key before the refresh: %v", err)
	}
	b.wantHits(t, 1)

	// Past it, the unknown kid fetches the new set once.
	b.clock.Advance(25 * time.Second)
	if err := b.verify(t, k.ed, "new"); err != nil {
		t.Fatalf("new key after the interval: %v", err)
	}
	b.wantHits(t, 2)
	if err := b.verify(t, k.rsa, "old"); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("retired key: %v", err)
	}
	b.wantHits(t, 2)
}

func TestJWKSCacheTTL(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"e": k.ed.Public()})
	for range 5 {
		b.mustVerify(t, k.ed, "e")
		b.clock.Advance(time.Minute)
	}
	b.wantHits(t, 1)
	b.clock.Advance(5 * time.Minute) // 10 minutes since the fetch
	b.mustVerify(t, k.ed, "e")
	b.wantHits(t, 2)
}

// A failed refresh keeps the keys held, and is itself rate-limited.
func TestJWKSServerFailsKeepsKeys(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"e": k.ed.Public()})
	b.mustVerify(t, k.ed, "e")
	b.srv.serve(http.StatusInternalServerError, "oops")
	b.clock.Advance(11 * time.Minute)
	for range 10 {
		if err := b.verify(t, k.ed, "e"); err != nil {
			t.Fatalf("cached key while the server fails: %v", err)
		}
	}
	if err := b.verify(t, k.ed, "unknown"); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("unknown kid while the server fails: %v", err)
	}
	b.wantHits(t, 2)

	// Recovered, the server is asked again after the interval.
	b.srv.serveKeys(t, map[string]any{"e": k.ed.Public(), "r": &k.rsa.PublicKey})
	b.clock.Advance(31 * time.Second)
	b.mustVerify(t, k.rsa, "r")
	b.wantHits(t, 3)
}

func TestJWKSServerDown(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"e": k.ed.Public()})
	b.mustVerify(t, k.ed, "e")
	b.srv.Close()
	b.clock.Advance(11 * time.Minute)
	if err := b.verify(t, k.ed, "e"); err != nil {
		t.Fatalf("cached key with the server down: %v", err)
	}
	b.clock.Advance(31 * time.Second)
	if err := b.verify(t, k.ed, "e"); err != nil {
		t.Fatalf("cached key with the server still down: %v", err)
	}
}

// With nothing cached, a failing JWKS is the server's failure, not the
// token's: ErrKeysUnavailable, whose message names no token.
func TestJWKSNeverFetched(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serve(http.StatusServiceUnavailable, "")
	err := b.verify(t, k.ed, "e")
	if !errors.Is(err, auth.ErrKeysUnavailable) || auth.Code(err) != "auth_unavailable" {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q does not say why", err)
	}
	b.wantHits(t, 1)
	if err := b.verify(t, k.ed, "e"); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("within the interval: %v", err)
	}
	b.wantHits(t, 1)
}

func TestJWKSMalformed(t *testing.T) {
	t.Parallel()
	k := keys()
	good := map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": base64.RawURLEncoding.EncodeToString(k.ed.Public().(ed25519.PublicKey))}
	set := func(keys ...any) string {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return string(b)
	}
	for _, tc := range []struct {
		name, body string
		usable     bool // whether the good key is found
	}{
		{"not JSON", "<html>", false},
		{"no keys member", `{"k":[]}`, false},
		{"keys not an array", `{"keys":{}}`, false},
		{"empty set", `{"keys":[]}`, false},
		{"only unsupported keys", set(map[string]string{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}), false},
		{"short Ed25519 key", set(map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": "AAAA"}), false},
		{"RSA key too small", set(map[string]string{"kty": "RSA", "kid": "e", "n": "AQAB", "e": "AQAB"}), false},
		{"encryption key", set(map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "e", "use": "enc", "x": good["x"]}), false},
		{"key for another alg", set(map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "e", "alg": "ES256", "x": good["x"]}), false},
		{"odd keys beside a good one", set(42, "x", map[string]any{"kty": 7}, map[string]string{"kty": "RSA", "n": "!!", "e": "AQAB"}, good), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupJWKS(t)
			b.srv.serve(http.StatusOK, tc.body)
			err := b.verify(t, k.ed, "e")
			if tc.usable {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, auth.ErrKeysUnavailable) {
				t.Fatalf("error = %v, want ErrKeysUnavailable", err)
			}

			// Once keys are held, a malformed set does not replace them.
			b.srv.serveKeys(t, map[string]any{"e": k.ed.Public()})
			b.clock.Advance(31 * time.Second)
			b.mustVerify(t, k.ed, "e")
			b.srv.serve(http.StatusOK, tc.body)
			b.clock.Advance(11 * time.Minute)
			if err := b.verify(t, k.ed, "e"); err != nil {
				t.Fatalf("cached key after a malformed set: %v", err)
			}
			b.wantHits(t, 3)
		})
	}
}

func TestJWKSTooLarge(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serve(http.StatusOK, `{"keys":[`+strings.Repeat(" ", 2<<20)+`]}`)
	if err := b.verify(t, k.ed, "e"); !errors.Is(err, auth.ErrKeysUnavailable) {
		t.Fatalf("error = %v", err)
	}
}

// Requests that arrive while a fetch is under way wait for it: a cold
// cache fetches once however many requests arrive together.
func TestJWKSConcurrentFetchOnce(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"e": k.ed.Public()})
	b.srv.mu.Lock()
	b.srv.delay = 50 * time.Millisecond
	b.srv.mu.Unlock()
	token := sign(t, jwt.SigningMethodEdDSA, k.ed, "e", claims())
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := b.j.Verify(context.Background(), token)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.wantHits(t, 1)
}

// A caller that gives up does not count as a failed fetch: the next caller
// fetches at once.
func TestJWKSCallerCancels(t *testing.T) {
	t.Parallel()
	k := keys()
	b := setupJWKS(t)
	b.srv.serveKeys(t, map[string]any{"e": k.ed.Public()})
	b.srv.mu.Lock()
	b.srv.delay = 200 * time.Millisecond
	b.srv.mu.Unlock()
	token := sign(t, jwt.SigningMethodEdDSA, k.ed, "e", claims())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.j.Verify(ctx, token); !errors.Is(err, auth.ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v", err)
	}
	if _, err := b.j.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
}

// A redirect may not lead where the URL itself could not be.
func TestJWKSRedirectToPlainHTTP(t *testing.T) {
	t.Parallel()
	k := keys()
	set := jwkSet(t, map[string]any{"e": k.ed.Public()})
	var remote atomic.Int64
	redirector := httptest.NewServer(http.RedirectHandler("http://keys.example/jwks", http.StatusFound))
	t.Cleanup(redirector.Close)
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == "keys.example" {
			remote.Add(1)
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(set)), Request: r}, nil
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	j := newJWT(t, auth.JWTOptions{JWKSURL: redirector.URL, HTTPClient: client})
	token := sign(t, jwt.SigningMethodEdDSA, k.ed, "e", claims())
	_, err := j.Verify(context.Background(), token)
	if !errors.Is(err, auth.ErrKeysUnavailable) || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("error = %v", err)
	}
	if remote.Load() != 1 {
		t.Fatalf("the redirect was not followed: the test proves nothing")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// However short the interval, one call fetches at most once.
func TestJWKSOneFetchPerCall(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t)
	srv.serveKeys(t, map[string]any{"e": k.ed.Public()})
	j := newJWT(t, auth.JWTOptions{JWKSURL: srv.URL, MinRefreshInterval: time.Nanosecond, Now: time.Now})
	token := sign(t, jwt.SigningMethodEdDSA, k.ed, "unknown", with(map[string]any{"exp": time.Now().Add(time.Hour).Unix()}))
	for i := range 3 {
		if _, err := j.Verify(context.Background(), token); !errors.Is(err, auth.ErrUnknownKey) {
			t.Fatalf("error = %v", err)
		}
		if got := srv.hits.Load(); got != int64(i+1) {
			t.Fatalf("after %d calls, %d fetches", i+1, got)
		}
	}
}
