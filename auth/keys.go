package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/store"
)

var (
	_ Verifier = (*JWT)(nil)
	_ Verifier = (*Keys)(nil)
)

// An API key's text is "ck_<id>_<secret>": the ID (10 random bytes) and
// the secret (32 random bytes) in lowercase base32 without padding.
const (
	keyPrefix     = "ck_"
	keyIDBytes    = 10
	keyIDLen      = 16 // base32 of keyIDBytes
	keySecretSize = 32
	keySecretLen  = 52 // base32 of keySecretSize
	keyLen        = len(keyPrefix) + keyIDLen + 1 + keySecretLen
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// formatKey is the text of the key of the given ID and secret bytes.
func formatKey(id, secret []byte) string {
	return keyPrefix + keyEncoding.EncodeToString(id) + "_" + keyEncoding.EncodeToString(secret)
}

// parseKey returns the ID of the key s, and false unless s is exactly
// what formatKey makes: the right length, prefix and separator, and
// canonical base32, so that a key has one spelling only.
func parseKey(s string) (id string, ok bool) {
	if len(s) != keyLen || !strings.HasPrefix(s, keyPrefix) || s[len(keyPrefix)+keyIDLen] != '_' {
		return "", false
	}
	id = s[len(keyPrefix) : len(keyPrefix)+keyIDLen]
	secret := s[len(keyPrefix)+keyIDLen+1:]
	for _, part := range []string{id, secret} {
		for i := 0; i < len(part); i++ {
			if base32Value(part[i]) < 0 {
				return "", false
			}
		}
	}
	// 52 characters carry 260 bits for 256: the last character's low four
	// bits must be zero.
	if base32Value(secret[len(secret)-1])&0xf != 0 {
		return "", false
	}
	return id, true
}

// base32Value is the value of the lowercase base32 digit c, or -1.
func base32Value(c byte) int {
	switch {
	case 'a' <= c && c <= 'z':
		return int(c - 'a')
	case '2' <= c && c <= '7':
		return int(c-'2') + 26
	}
	return -1
}

// KeysOptions configures Keys.
type KeysOptions struct {
	// Store keeps the keys. Required.
	Store store.Keys

	// Audit, when set, receives a key.created event for each key created
	// and a key.revoked event for each key revoked.
	Audit store.AuditLog

	// Limiter, when set, limits how often each key is used, under the
	// limiter key "key:<id>". When it fails (its store is down), keys are
	// not limited.
	Limiter ratelimit.Limiter

	// Now is the clock. Defaults to time.Now.
	Now func() time.Time

	// TouchEvery is how often a key's LastUsedAt is written, at most, per
	// key and per process, so that verifying stays a read. Defaults to a
	// minute; a negative value writes it on every use.
	TouchEvery time.Duration
}

// Keys creates, revokes and verifies API keys. It is safe for concurrent
// use.
//
// A key is shown once, when created; only its SHA-256 is stored. Its ID is
// part of its text, so verifying is one lookup by ID and a comparison of
// hashes. Nothing about a key's validity is cached: a revoked key is
// refused from the next Verify on, in every process sharing the store.
type Keys struct {
	opts KeysOptions // with defaults

	mu      sync.Mutex
	touched map[string]time.Time // key ID → when this process last wrote its LastUsedAt
	sweepAt int                  // len(touched) at which to drop old entries
}

// minSweep is the least number of touch times kept before old ones are
// dropped.
const minSweep = 1024

// NewKeys returns Keys configured by opts.
func NewKeys(opts KeysOptions) (*Keys, error) {
	if opts.Store == nil {
		return nil, errors.New("auth: KeysOptions.Store is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TouchEvery == 0 {
		opts.TouchEvery = time.Minute
	}
	return &Keys{opts: opts, touched: make(map[string]time.Time), sweepAt: minSweep}, nil
}

// KeySpec describes a key to create.
type KeySpec struct {
	Name   string // a label for people; optional
	Owner  string // the identity the key acts as (Identity.Subject); required
	Tenant string // the tenant it belongs to; "" for none

	// Routes are the only routes the key may be used on; nil for all.
	// Each must be a non-empty name.
	Routes []string

	// ExpiresAt is when the key stops working; zero for never.
	ExpiresAt time.Time

	// Actor is who creates the key, for the audit log. Defaults to
	// "server".
	Actor string
}

// Create makes a key and returns its text, to be shown once: it is not
// stored and cannot be found again. key is the stored record.
func (k *Keys) Create(ctx context.Context, spec KeySpec) (secret string, key *store.APIKey, err error) {
	now := k.opts.Now()
	switch {
	case spec.Owner == "":
		return "", nil, errors.New("auth: create key: KeySpec.Owner is required")
	case !spec.ExpiresAt.IsZero() && !spec.ExpiresAt.After(now):
		return "", nil, errors.New("auth: create key: KeySpec.ExpiresAt is not in the future")
	}
	for i, r := range spec.Routes {
		if strings.TrimSpace(r) == "" {
			return "", nil, fmt.Errorf("auth: create key: KeySpec.Routes[%d] is empty", i)
		}
	}
	var routes []string
	if len(spec.Routes) > 0 {
		routes = slices.Clone(spec.Routes)
	}

	// An ID is 80 random bits; a collision is all but impossible, but
	// retrying costs nothing.
	for attempt := 0; ; attempt++ {
		id, raw := make([]byte, keyIDBytes), make([]byte, keySecretSize)
		rand.Read(id)
		rand.Read(raw)
		secret = formatKey(id, raw)
		sum := sha256.Sum256([]byte(secret))
		key = &store.APIKey{
			ID:        keyEncoding.EncodeToString(id),
			Hash:      sum[:],
			Name:      spec.Name,
			Owner:     spec.Owner,
			Tenant:    spec.Tenant,
			Routes:    routes,
			CreatedAt: now,
			ExpiresAt: spec.ExpiresAt,
		}
		err = k.opts.Store.CreateKey(ctx, key)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrExists) || attempt == 2 {
			return "", nil, fmt.Errorf("auth: create key: %w", err)
		}
	}

	if k.opts.Audit != nil {
		detail, _ := json.Marshal(struct {
			Name      string     `json:"name,omitempty"`
			Owner     string     `json:"owner"`
			Routes    []string   `json:"routes,omitempty"`
			ExpiresAt *time.Time `json:"expires_at,omitempty"`
		}{spec.Name, spec.Owner, routes, timePtr(spec.ExpiresAt)})
		if err := k.audit(ctx, store.AuditKeyCreated, spec.Actor, key, now, detail); err != nil {
			// A key must not work without its record in the log: revoke
			// it (best effort) and let the caller try again.
			_ = k.opts.Store.RevokeKey(context.WithoutCancel(ctx), key.ID, now)
			return "", nil, fmt.Errorf("auth: create key: %w", err)
		}
	}
	return secret, key, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (k *Keys) audit(ctx context.Context, action, actor string, key *store.APIKey, now time.Time, detail json.RawMessage) error {
	if actor == "" {
		actor = "server"
	}
	err := k.opts.Audit.AppendAudit(ctx, &store.AuditEvent{
		Time: now, Action: action, Actor: actor, Tenant: key.Tenant, Subject: key.ID, Detail: detail,
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Revoke revokes the key id: from the next Verify on, in every process,
// it is refused with ErrKeyRevoked. actor is who revokes it, for the audit
// log; "" means "server". Revoking a revoked key does nothing. The error
// matches store.ErrNotFound when there is no such key.
func (k *Keys) Revoke(ctx context.Context, id, actor string) error {
	key, err := k.opts.Store.GetKey(ctx, id)
	if err != nil {
		return fmt.Errorf("auth: revoke key: %w", err)
	}
	if !key.RevokedAt.IsZero() {
		return nil
	}
	now := k.opts.Now()
	if err := k.opts.Store.RevokeKey(ctx, id, now); err != nil {
		return fmt.Errorf("auth: revoke key: %w", err)
	}
	if k.opts.Audit != nil {
		if err := k.audit(ctx, store.AuditKeyRevoked, actor, key, now, nil); err != nil {
			return fmt.Errorf("auth: key revoked, but: %w", err)
		}
	}
	return nil
}

// unknownKeyHash is compared with the hash of a key of unknown ID, so that
// refusing it takes as long as refusing a wrong secret.
var unknownKeyHash = make([]byte, sha256.Size)

// Verify checks the API key secret and returns who it is from: the key's
// owner as Subject, its tenant, ID and routes. Errors match ErrKeyInvalid
// (malformed, unknown or wrong; not told apart), ErrKeyRevoked,
// ErrKeyExpired, ErrRateLimited (the error is then a *RateLimitedError),
// or ErrKeysUnavailable when the store fails. No error holds any part of
// secret.
func (k *Keys) Verify(ctx context.Context, secret string) (Identity, error) {
	id, ok := parseKey(secret)
	sum := sha256.Sum256([]byte(secret[:min(len(secret), keyLen)]))
	if !ok {
		return Identity{}, ErrKeyInvalid
	}
	key, err := k.opts.Store.GetKey(ctx, id)
	want := unknownKeyHash
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return Identity{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	default:
		want = key.Hash
	}
	if subtle.ConstantTimeCompare(sum[:], want) != 1 || key == nil {
		return Identity{}, ErrKeyInvalid
	}
	now := k.opts.Now()
	if !key.RevokedAt.IsZero() {
		return Identity{}, ErrKeyRevoked
	}
	if !key.ExpiresAt.IsZero() && !now.Before(key.ExpiresAt) {
		return Identity{}, ErrKeyExpired
	}
	if k.opts.Limiter != nil {
		// A limiter that cannot decide lets the key through: the key is
		// already proven, and the limit protects capacity, not the secret.
		ok, retryAfter, err := k.opts.Limiter.Allow(ctx, "key:"+id)
		if err == nil && !ok {
			return Identity{}, &RateLimitedError{retryAfter: max(retryAfter, time.Millisecond)}
		}
	}
	k.touch(ctx, id, now)
	ident := Identity{Subject: key.Owner, Tenant: key.Tenant, KeyID: key.ID}
	if len(key.Routes) > 0 {
		ident.Routes = slices.Clone(key.Routes)
	}
	return ident, nil
}

// touch records a use of the key id, unless this process did within
// TouchEvery. A failure is ignored: it costs only a late LastUsedAt.
func (k *Keys) touch(ctx context.Context, id string, now time.Time) {
	if every := k.opts.TouchEvery; every > 0 {
		k.mu.Lock()
		last, ok := k.touched[id]
		if ok && now.Sub(last) < every && !now.Before(last) {
			k.mu.Unlock()
			return
		}
		k.touched[id] = now
		if len(k.touched) >= k.sweepAt {
			// Entries older than TouchEvery hold nothing back; drop them
			// so the map stays the size of the keys in use.
			for id, t := range k.touched {
				if now.Sub(t) >= every {
					delete(k.touched, id)
				}
			}
			k.sweepAt = max(minSweep, 2*len(k.touched))
		}
		k.mu.Unlock()
	}
	_ = k.opts.Store.TouchKey(ctx, id, now)
}

// List returns the keys q selects, revoked ones included, ordered by ID:
// their names, owners, tenants, routes and times, never a secret.
func (k *Keys) List(ctx context.Context, q store.KeyQuery) ([]*store.APIKey, error) {
	return k.opts.Store.ListKeys(ctx, q)
}

// FromRequest verifies the API key of r's "X-Api-Key" header or, when
// that is absent, of its "Authorization: Bearer" header. Without either,
// the error is ErrNoToken.
func (k *Keys) FromRequest(r *http.Request) (Identity, error) {
	values := r.Header.Values("X-Api-Key")
	if len(values) == 0 {
		values = r.Header.Values("Authorization")
		if len(values) == 0 {
			return Identity{}, ErrNoToken
		}
		if len(values) > 1 {
			return Identity{}, fmt.Errorf("%w: more than one Authorization header", ErrKeyInvalid)
		}
		scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return Identity{}, ErrNoToken
		}
		return k.Verify(r.Context(), strings.TrimSpace(token))
	}
	if len(values) > 1 {
		return Identity{}, fmt.Errorf("%w: more than one X-Api-Key header", ErrKeyInvalid)
	}
	return k.Verify(r.Context(), strings.TrimSpace(values[0]))
}

// AllowsRoute reports whether id's credential may be used on route: true
// when id.Routes is empty, else whether it lists route. A middleware
// refuses the rest with ErrOutOfScope.
func (id Identity) AllowsRoute(route string) bool {
	return len(id.Routes) == 0 || slices.Contains(id.Routes, route)
}
