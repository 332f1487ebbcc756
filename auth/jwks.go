package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"
)

const (
	fetchTimeout = 10 * time.Second
	maxJWKSSize  = 1 << 20
)

// keyCache holds the keys of a JWKS and fetches them again when they are
// old or lack a kid, at most once per minInterval.
type keyCache struct {
	url              string
	client           *http.Client
	now              func() time.Time
	ttl, minInterval time.Duration

	mu       sync.Mutex
	keys     map[string]crypto.PublicKey
	fetched  time.Time     // when keys were fetched; zero before the first success
	tried    time.Time     // when the last counted fetch ended, well or not
	lastErr  error         // why the last fetch failed; nil after a success
	fetching chan struct{} // closed when the fetch under way ends; nil when none is
}

// key returns the key named kid. Callers that arrive while a fetch is under
// way wait for it rather than fetching too, and no call fetches more than
// once itself. A fetch ended by the caller's own context does not count
// against minInterval, so one client that hangs up cannot hold back the
// refresh for everyone.
func (c *keyCache) key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	refreshed := false
	for {
		c.mu.Lock()
		now := c.now()
		k, known := c.keys[kid]
		if known && now.Sub(c.fetched) < c.ttl {
			c.mu.Unlock()
			return k, nil
		}
		if wait := c.fetching; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, context.Cause(ctx))
			}
		}
		if refreshed || !c.tried.IsZero() && now.Sub(c.tried) < c.minInterval {
			// What is cached stands, stale or not, until the next fetch.
			defer c.mu.Unlock()
			switch {
			case known:
				return k, nil
			case c.fetched.IsZero():
				return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, c.lastErr)
			default:
				return nil, ErrUnknownKey
			}
		}
		c.fetching = make(chan struct{})
		c.mu.Unlock()
		if err := c.refresh(ctx); err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, context.Cause(ctx))
		}
		refreshed = true
	}
}

// refresh fetches the keys and ends the fetch that key marked under way,
// waking its waiters, whatever happens.
func (c *keyCache) refresh(ctx context.Context) (err error) {
	var keys map[string]crypto.PublicKey
	err = errors.New("JWKS fetch panicked") // stays if fetch never returns
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case err == nil:
			c.keys, c.lastErr = keys, nil
			c.fetched, c.tried = c.now(), c.now()
		case ctx.Err() == nil:
			c.lastErr, c.tried = err, c.now()
		}
		close(c.fetching)
		c.fetching = nil
	}()
	keys, err = c.fetch(ctx)
	return err
}

// fetch reads the key set. Its errors name the URL, never a token.
func (c *keyCache) fetch(ctx context.Context) (map[string]crypto.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// A redirect must not lead to a place the URL itself could not be.
	if err := checkJWKSURL(resp.Request.URL); err != nil {
		return nil, fmt.Errorf("JWKS redirected: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS: %s answered %s", c.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("JWKS: reading %s: %w", c.url, err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS: %s sent more than %d bytes", c.url, maxJWKSSize)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("JWKS: %s: %w", c.url, err)
	}
	return keys, nil
}

// checkJWKSURL refuses URLs whose answers an attacker on the network could
// forge.
func checkJWKSURL(u *url.URL) error {
	switch {
	case u.Host == "":
		return errors.New("no host")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return errors.New("use https (http only for a loopback host)")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// jwk is the part of a JSON Web Key (RFC 7517, 7518, 8037) this package
// reads.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
}

// parseJWKS returns the RS256 and EdDSA verification keys of a key set, by
// kid. Keys of other kinds, and keys it cannot read, are skipped so that
// one odd key does not stop the others; a set with no usable key is an
// error, so that the keys already cached are kept.
func parseJWKS(body []byte) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("not a JSON Web Key Set")
	}
	keys := make(map[string]crypto.PublicKey)
	for _, raw := range set.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			continue
		}
		if key, err := k.publicKey(); err == nil {
			keys[k.Kid] = key
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable RS256 or EdDSA key")
	}
	return keys, nil
}

// publicKey is k as a verification key of this package, or an error.
func (k *jwk) publicKey() (crypto.PublicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, errors.New("not a signing key")
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return nil, errors.New("not a verification key")
	}
	var key crypto.PublicKey
	switch {
	case k.Kty == "RSA" && (k.Alg == "" || k.Alg == algRS256):
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		if err != nil {
			return nil, err
		}
		e, err := base64.RawURLEncoding.DecodeString(k.E)
		if err != nil {
			return nil, err
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA exponent")
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp > 1<<31-1 || exp%2 == 0 {
			return nil, errors.New("bad RSA exponent")
		}
		key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	case k.Kty == "OKP" && k.Crv == "Ed25519" && (k.Alg == "" || k.Alg == algEdDSA || k.Alg == "Ed25519"):
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			return nil, err
		}
		key = ed25519.PublicKey(x)
	default:
		return nil, errors.New("unsupported key")
	}
	if _, err := keyAlgorithm(key); err != nil {
		return nil, err
	}
	return key, nil
}
