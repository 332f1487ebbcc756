package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Identity is who a request is from.
type Identity struct {
	Subject string   // the sub claim, or the API key's owner; never empty
	Tenant  string   // the tenant claim (JWTOptions.TenantClaim), or the key's tenant; "" when absent
	Scopes  []string // from the scope claim (space-separated) or the scp claim (an array); nil for API keys

	// Claims holds every claim of the token as encoding/json decodes it
	// (numbers are float64); nil for API keys.
	Claims map[string]any

	// KeyID is the ID of the API key the request used; "" for tokens.
	KeyID string

	// Routes are the only routes the credential may be used on; nil (or
	// empty) for every route. See AllowsRoute.
	Routes []string
}

// Verifier finds who a request is from. *JWT and *Keys implement it.
type Verifier interface {
	// FromRequest returns the identity of r's credentials, or an error
	// matching one of this package's sentinels.
	FromRequest(r *http.Request) (Identity, error)
}

// JWTOptions configures a JWT. Exactly one key source (HMACKey, PublicKeys
// or JWKSURL) must be set; it decides which algorithms a token may use.
type JWTOptions struct {
	// HMACKey verifies HS256 tokens. At least 32 bytes.
	HMACKey []byte

	// PublicKeys verify tokens by their kid header; the key under "" verifies
	// tokens without a kid. Each is an *rsa.PublicKey of 2048 to 8192 bits
	// (RS256) or an ed25519.PublicKey (EdDSA), and a token must use its
	// key's algorithm.
	PublicKeys map[string]crypto.PublicKey

	// JWKSURL is where a JSON Web Key Set of RSA (RS256) and Ed25519 (EdDSA)
	// keys is fetched: https, or http for a loopback host only. Other keys
	// in the set are ignored. The set is fetched on first use, again every
	// CacheTTL, and again when a token names a kid it lacks, but never more
	// often than once per MinRefreshInterval, however many unknown kids
	// arrive. A failed fetch keeps the keys already fetched.
	JWKSURL string

	// HTTPClient fetches JWKSURL; each fetch is also bound to 10 s.
	// Defaults to http.DefaultClient.
	HTTPClient *http.Client

	// CacheTTL is how long fetched keys are used before they are fetched
	// again. Defaults to 10 minutes.
	CacheTTL time.Duration

	// MinRefreshInterval is the least time between two fetches of JWKSURL,
	// whether they succeed or not. Defaults to 30 s.
	MinRefreshInterval time.Duration

	// Issuer and Audience, when set, must match the iss claim and be one
	// of the aud claim's values.
	Issuer, Audience string

	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Defaults to 30 s; a negative value allows none.
	Leeway time.Duration

	// TenantClaim names the claim Identity.Tenant comes from. Defaults to
	// "tenant".
	TenantClaim string

	// ScopeClaim names the claim of space-separated scopes. When it is
	// absent, scopes are read from "scp", an array. Defaults to "scope".
	ScopeClaim string

	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// JWT verifies bearer tokens. It is safe for concurrent use.
type JWT struct {
	opts    JWTOptions // with defaults; its key fields are not read after NewJWT
	hmacKey []byte
	keys    map[string]crypto.PublicKey
	jwks    *keyCache
	algs    []string // the algorithms the key source allows
	parser  *jwt.Parser
}

// Algorithm names, as in a token's alg header.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algEdDSA = "EdDSA"
)

// maxTokenSize bounds what Verify decodes before the signature is checked.
const maxTokenSize = 32 << 10

// NewJWT returns a JWT configured by opts.
func NewJWT(opts JWTOptions) (*JWT, error) {
	sources := 0
	for _, set := range []bool{opts.HMACKey != nil, opts.PublicKeys != nil, opts.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("auth: JWTOptions: set exactly one of HMACKey, PublicKeys and JWKSURL")
	}
	if opts.CacheTTL < 0 || opts.MinRefreshInterval < 0 {
		return nil, errors.New("auth: JWTOptions: CacheTTL and MinRefreshInterval must not be negative")
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	} else if opts.Leeway < 0 {
		opts.Leeway = 0
	}
	if opts.TenantClaim == "" {
		opts.TenantClaim = "tenant"
	}
	if opts.ScopeClaim == "" {
		opts.ScopeClaim = "scope"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 10 * time.Minute
	}
	if opts.MinRefreshInterval == 0 {
		opts.MinRefreshInterval = 30 * time.Second
	}

	j := &JWT{opts: opts}
	switch {
	case opts.HMACKey != nil:
		if len(opts.HMACKey) < 32 {
			return nil, errors.New("auth: JWTOptions.HMACKey: use at least 32 bytes")
		}
		j.hmacKey = slices.Clone(opts.HMACKey)
		j.algs = []string{algHS256}
	case opts.PublicKeys != nil:
		if len(opts.PublicKeys) == 0 {
			return nil, errors.New("auth: JWTOptions.PublicKeys: no keys")
		}
		j.keys = maps.Clone(opts.PublicKeys)
		for kid, k := range j.keys {
			alg, err := keyAlgorithm(k)
			if err != nil {
				return nil, fmt.Errorf("auth: JWTOptions.PublicKeys[%q]: %w", kid, err)
			}
			if !slices.Contains(j.algs, alg) {
				j.algs = append(j.algs, alg)
			}
		}
	default:
		u, err := url.Parse(opts.JWKSURL)
		if err != nil {
			return nil, errors.New("auth: JWTOptions.JWKSURL: not a URL")
		}
		if err := checkJWKSURL(u); err != nil {
			return nil, fmt.Errorf("auth: JWTOptions.JWKSURL: %w", err)
		}
		j.jwks = &keyCache{
			url: opts.JWKSURL, client: opts.HTTPClient, now: opts.Now,
			ttl: opts.CacheTTL, minInterval: opts.MinRefreshInterval,
		}
		j.algs = []string{algRS256, algEdDSA}
	}
	j.opts.HMACKey, j.opts.PublicKeys = nil, nil
	// Claims are checked by Verify itself, so that each failure has its own
	// code; the parser checks the structure, the algorithm and the signature.
	j.parser = jwt.NewParser(jwt.WithValidMethods(j.algs), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	return j, nil
}

// keyAlgorithm is the one algorithm key may verify, or an error if the key
// is not one this package uses.
func keyAlgorithm(key crypto.PublicKey) (string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", errors.New("nil RSA key")
		}
		if bits := k.N.BitLen(); bits < 2048 || bits > 8192 {
			return "", fmt.Errorf("RSA key of %d bits; use 2048 to 8192", bits)
		}
		return algRS256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("Ed25519 key of the wrong size")
		}
		return algEdDSA, nil
	default:
		return "", fmt.Errorf("keys of type %T are not supported; use *rsa.PublicKey or ed25519.PublicKey", key)
	}
}

// Verify checks a compact JWS token and returns who it is from. The token's
// alg must be the one its key allows (HS256, RS256 or EdDSA; never none);
// its signature must verify; exp and sub are required; exp, nbf and iat
// must hold, give or take the leeway; iss and aud must match when
// JWTOptions asks. Errors match the sentinels of this package.
func (j *JWT) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" || len(token) > maxTokenSize {
		return Identity{}, ErrMalformed
	}
	var keyErr error
	claims := jwt.MapClaims{}
	tok, err := j.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		key, err := j.key(ctx, t)
		keyErr = err
		return key, err
	})
	if err != nil {
		if keyErr != nil {
			return Identity{}, keyErr
		}
		return Identity{}, j.refusal(tok, err)
	}
	return j.identity(claims)
}

// FromRequest verifies the token of r's "Authorization: Bearer" header.
func (j *JWT) FromRequest(r *http.Request) (Identity, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return Identity{}, ErrNoToken
	}
	if len(values) > 1 {
		return Identity{}, fmt.Errorf("%w: more than one Authorization header", ErrMalformed)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Identity{}, ErrNoToken
	}
	return j.Verify(r.Context(), strings.TrimSpace(token))
}

// key finds the key for t and checks that t uses the key's algorithm. The
// parser has already refused algorithms the key source does not allow.
func (j *JWT) key(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// No extension is understood, so none may be critical (RFC 7515).
		return nil, fmt.Errorf("%w: crit header", ErrMalformed)
	}
	if j.hmacKey != nil {
		if t.Method.Alg() != algHS256 {
			return nil, ErrAlgorithm
		}
		return j.hmacKey, nil
	}
	var kid string
	if v, ok := t.Header["kid"]; ok {
		if kid, ok = v.(string); !ok {
			return nil, fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
	}
	var key crypto.PublicKey
	if j.jwks != nil {
		k, err := j.jwks.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		key = k
	} else {
		k, ok := j.keys[kid]
		if !ok {
			return nil, ErrUnknownKey
		}
		key = k
	}
	if alg, err := keyAlgorithm(key); err != nil || alg != t.Method.Alg() {
		return nil, ErrAlgorithm
	}
	return key, nil
}

// refusal maps an error of the parser to a sentinel. The parser's own text
// is dropped: it can quote the token.
func (j *JWT) refusal(tok *jwt.Token, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case tok == nil:
		return ErrMalformed
	}
	if _, ok := tok.Header["alg"].(string); !ok {
		return fmt.Errorf("%w: no alg header", ErrMalformed)
	}
	if tok.Method == nil || !slices.Contains(j.algs, tok.Method.Alg()) {
		return ErrAlgorithm
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return ErrBadSignature
	}
	return ErrMalformed
}
