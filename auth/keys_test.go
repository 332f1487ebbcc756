package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/auth"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/store/postgres"
	"github.com/carcosa-dev/carcosa/store/sqlite"
)

// ledger is what Keys needs of a store.
type ledger interface {
	store.Keys
	store.AuditLog
}

// keyStores are the stores every test of Keys runs against; postgres only
// when CARCOSA_TEST_POSTGRES is set.
var keyStores = []struct {
	name string
	open func(t testing.TB) ledger
}{
	{"memstore", func(t testing.TB) ledger { return memstore.New() }},
	{"sqlite", func(t testing.TB) ledger {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "carcosa.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", openPostgresLedger},
}

// keysBundle is what a test of Keys works with: Keys on a store, a clock
// and a counting wrapper around the store that can be told to fail.
type keysBundle struct {
	keys  *auth.Keys
	store *faultyLedger
	clock *testenv.Clock
}

// faultyLedger counts the touches of its ledger and fails the calls it
// is told to.
type faultyLedger struct {
	ledger
	touches             atomic.Int64
	failGet, failTouch  atomic.Bool
	failAudit, failList atomic.Bool
}

var errDown = errors.New("the store is down")

func (f *faultyLedger) GetKey(ctx context.Context, id string) (*store.APIKey, error) {
	if f.failGet.Load() {
		return nil, errDown
	}
	return f.ledger.GetKey(ctx, id)
}

func (f *faultyLedger) TouchKey(ctx context.Context, id string, t time.Time) error {
	f.touches.Add(1)
	if f.failTouch.Load() {
		return errDown
	}
	return f.ledger.TouchKey(ctx, id, t)
}

func (f *faultyLedger) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if f.failAudit.Load() {
		return errDown
	}
	return f.ledger.AppendAudit(ctx, e)
}

// forEachStore runs fn as a parallel subtest per store of keyStores.
func forEachStore(t *testing.T, fn func(t *testing.T, open func(testing.TB) ledger)) {
	t.Helper()
	for _, s := range keyStores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			fn(t, s.open)
		})
	}
}

// setupKeys returns Keys on a new store of open, with opts' other fields.
func setupKeys(t *testing.T, open func(testing.TB) ledger, opts auth.KeysOptions) *keysBundle {
	t.Helper()
	b := &keysBundle{store: &faultyLedger{ledger: open(t)}, clock: testenv.NewClock(now)}
	opts.Store, opts.Audit, opts.Now = b.store, b.store, b.clock.Now
	k, err := auth.NewKeys(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.keys = k
	return b
}

func (b *keysBundle) create(t *testing.T, spec auth.KeySpec) (string, *store.APIKey) {
	t.Helper()
	secret, key, err := b.keys.Create(t.Context(), spec)
	if err != nil {
		t.Fatalf("Create(%+v): %v", spec, err)
	}
	return secret, key
}

func (b *keysBundle) stored(t *testing.T, id string) *store.APIKey {
	t.Helper()
	k, err := b.store.ledger.GetKey(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var keyFormat = regexp.MustCompile(`^ck_([a-z2-7]{16})_([a-z2-7]{52})$`)

// checkKeyRefused fails t unless err matches want, with want's code and
// status, and quotes no part of secret.
func checkKeyRefused(t *testing.T, secret string, err, want error, status int) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v; want %v", err, want)
	}
	var e *auth.Error
	if !errors.As(err, &e) || e.Code() != auth.Code(want) || e.Status() != status {
		t.Fatalf("err = %v: code %q, status %d; want %q, %d", err, auth.Code(err), e.Status(), auth.Code(want), status)
	}
	if m := keyFormat.FindStringSubmatch(secret); m != nil && strings.Contains(err.Error(), m[2]) {
		t.Fatalf("error %q quotes the secret", err)
	}
	if len(secret) >= 8 && strings.Contains(err.Error(), secret) {
		t.Fatalf("error %q quotes its input", err)
	}
}

func TestKeysRoundTrip(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		b := setupKeys(t, open, auth.KeysOptions{})
		spec := auth.KeySpec{
			Name: "CI uploads", Owner: "user-42", Tenant: "acme",
			Routes: []string{"docs", "images"}, ExpiresAt: now.Add(24 * time.Hour),
		}
		secret, key := b.create(t, spec)

		m := keyFormat.FindStringSubmatch(secret)
		if m == nil {
			t.Fatalf("secret %q is not ck_<16 base32>_<52 base32>", secret)
		}
		if key.ID != m[1] {
			t.Fatalf("key ID %q; the secret's is %q", key.ID, m[1])
		}
		if key.Owner != spec.Owner || key.Tenant != spec.Tenant || key.Name != spec.Name ||
			!slices.Equal(key.Routes, spec.Routes) || !key.CreatedAt.Equal(now) || !key.ExpiresAt.Equal(spec.ExpiresAt) {
			t.Fatalf("Create returned %+v for %+v", key, spec)
		}

		// Only the hash is stored.
		stored := b.stored(t, key.ID)
		sum := sha256.Sum256([]byte(secret))
		if !slices.Equal(stored.Hash, sum[:]) || string(stored.Hash) == secret {
			t.Fatalf("stored hash %x; want SHA-256 of the secret, %x", stored.Hash, sum)
		}
		for _, field := range append([]string{stored.ID, stored.Name, stored.Owner, stored.Tenant, string(stored.Hash)}, stored.Routes...) {
			if strings.Contains(field, m[2]) {
				t.Fatalf("the stored record holds the secret: %+v", stored)
			}
		}

		want := auth.Identity{Subject: "user-42", Tenant: "acme", KeyID: key.ID, Routes: []string{"docs", "images"}}
		check := func(how string, id auth.Identity, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			if id.Subject != want.Subject || id.Tenant != want.Tenant || id.KeyID != want.KeyID ||
				!slices.Equal(id.Routes, want.Routes) || id.Scopes != nil || id.Claims != nil {
				t.Fatalf("%s: %+v; want %+v", how, id, want)
			}
		}
		id, err := b.keys.Verify(t.Context(), secret)
		check("Verify", id, err)

		for name, set := range map[string]func(h http.Header){
			"Bearer":            func(h http.Header) { h.Set("Authorization", "Bearer "+secret) },
			"bearer, spaced":    func(h http.Header) { h.Set("Authorization", "  bearer   "+secret+" ") },
			"X-Api-Key":         func(h http.Header) { h.Set("X-Api-Key", secret) },
			"X-Api-Key, Bearer": func(h http.Header) { h.Set("X-Api-Key", secret); h.Set("Authorization", "Bearer a.jwt.token") },
		} {
			req := httptest.NewRequest(http.MethodPost, "/upload", nil)
			set(req.Header)
			id, err := b.keys.FromRequest(req)
			check("FromRequest, "+name, id, err)
		}

		// A key of no routes may be used on all.
		secret, key = b.create(t, auth.KeySpec{Owner: "user-7"})
		id, err = b.keys.Verify(t.Context(), secret)
		if err != nil || id.Subject != "user-7" || id.Tenant != "" || id.KeyID != key.ID || id.Routes != nil {
			t.Fatalf("Verify of a key for every route: %+v, %v", id, err)
		}
	})
}

func TestKeysRefused(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		b := setupKeys(t, open, auth.KeysOptions{})
		secret, _ := b.create(t, auth.KeySpec{Owner: "user-42"})
		other, _ := b.create(t, auth.KeySpec{Owner: "user-43"})
		prefix, secretPart := secret[:20], secret[20:]

		tests := map[string]string{
			"other key's secret":     prefix + other[20:],
			"secret changed":         prefix + flip(secretPart, 0),
			"unknown ID":             "ck_" + strings.Repeat("a", 16) + "_" + secretPart,
			"unknown ID, own secret": other[:20] + secretPart,
			"empty":                  "",
			"prefix only":            "ck_",
			"no secret":              prefix,
			"no separator":           secret[:19] + secretPart,
			"no prefix":              secret[3:],
			"wrong prefix":           "pk_" + secret[3:],
			"upper case":             strings.ToUpper(secret),
			"upper-case prefix":      "CK_" + secret[3:],
			"padded":                 secret + "====",
			"bad base32 digit":       prefix + "1" + secretPart[1:],
			"bad base32 in ID":       "ck_" + "0" + secret[4:],
			"uncanonical last digit": prefix + secretPart[:51] + "b",
			"overlong":               secret + "a",
			"very long":              secret + strings.Repeat("a", 1<<20),
			"short":                  secret[:len(secret)-1],
			"space inside":           secret[:30] + " " + secret[31:],
			"NUL":                    secret[:71] + "\x00",
			"non-UTF-8":              secret[:71] + "\xff",
		}
		for name, s := range tests {
			_, err := b.keys.Verify(t.Context(), s)
			t.Run(name, func(t *testing.T) { checkKeyRefused(t, s, err, auth.ErrKeyInvalid, http.StatusUnauthorized) })
		}
		if n := b.store.touches.Load(); n != 0 {
			t.Fatalf("refused keys were touched %d times", n)
		}
	})
}

// flip changes the character at i of the base32 text s to another digit.
func flip(s string, i int) string {
	c := byte('a')
	if s[i] == 'a' {
		c = 'b'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestKeysFromRequestRefused(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, keyStores[0].open, auth.KeysOptions{})
	secret, _ := b.create(t, auth.KeySpec{Owner: "user-42"})
	tests := []struct {
		name   string
		header http.Header
		want   error
	}{
		{"none", http.Header{}, auth.ErrNoToken},
		{"Basic", http.Header{"Authorization": {"Basic " + secret}}, auth.ErrNoToken},
		{"Bearer, empty", http.Header{"Authorization": {"Bearer"}}, auth.ErrKeyInvalid},
		{"two Authorization", http.Header{"Authorization": {"Bearer " + secret, "Bearer " + secret}}, auth.ErrKeyInvalid},
		{"two X-Api-Key", http.Header{"X-Api-Key": {secret, secret}}, auth.ErrKeyInvalid},
		{"X-Api-Key, empty", http.Header{"X-Api-Key": {""}}, auth.ErrKeyInvalid},
		{"X-Api-Key wins", http.Header{"X-Api-Key": {"ck_nope"}, "Authorization": {"Bearer " + secret}}, auth.ErrKeyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/upload", nil)
			req.Header = tt.header
			_, err := b.keys.FromRequest(req)
			checkKeyRefused(t, secret, err, tt.want, http.StatusUnauthorized)
		})
	}
}

func TestKeysRevoke(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		b := setupKeys(t, open, auth.KeysOptions{})
		secret, key := b.create(t, auth.KeySpec{Owner: "user-42", Tenant: "acme", Actor: "admin-1"})
		kept, _ := b.create(t, auth.KeySpec{Owner: "user-42", Tenant: "acme"})
		if _, err := b.keys.Verify(t.Context(), secret); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(time.Second)
		if err := b.keys.Revoke(t.Context(), key.ID, ""); err != nil {
			t.Fatal(err)
		}
		_, err := b.keys.Verify(t.Context(), secret)
		checkKeyRefused(t, secret, err, auth.ErrKeyRevoked, http.StatusUnauthorized)
		if _, err := b.keys.Verify(t.Context(), kept); err != nil {
			t.Fatalf("another key after a revocation: %v", err)
		}
		// A wrong secret for a revoked key learns nothing of it.
		_, err = b.keys.Verify(t.Context(), secret[:20]+flip(secret[20:], 3))
		checkKeyRefused(t, secret, err, auth.ErrKeyInvalid, http.StatusUnauthorized)

		// Revoking again keeps the first time, and logs nothing.
		b.clock.Advance(time.Second)
		if err := b.keys.Revoke(t.Context(), key.ID, "admin-2"); err != nil {
			t.Fatal(err)
		}
		if got := b.stored(t, key.ID).RevokedAt; !got.Equal(now.Add(time.Second)) {
			t.Fatalf("RevokedAt = %v; want the first revocation's time, %v", got, now.Add(time.Second))
		}
		if err := b.keys.Revoke(t.Context(), "aaaaaaaaaaaaaaaa", "admin-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoking an unknown key: %v; want store.ErrNotFound", err)
		}

		events, err := b.store.ListAudit(t.Context(), store.AuditQuery{Subject: key.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.AuditEvent{
			{Action: store.AuditKeyRevoked, Actor: "server", Tenant: "acme", Subject: key.ID, Time: now.Add(time.Second)},
			{Action: store.AuditKeyCreated, Actor: "admin-1", Tenant: "acme", Subject: key.ID, Time: now},
		}
		if len(events) != len(want) {
			t.Fatalf("%d audit events for the key; want %d: %+v", len(events), len(want), events)
		}
		for i, e := range events {
			w := want[i]
			if e.Action != w.Action || e.Actor != w.Actor || e.Tenant != w.Tenant || e.Subject != w.Subject || !e.Time.Equal(w.Time) {
				t.Fatalf("event %d: %+v; want %+v", i, e, w)
			}
		}
		if d := string(events[1].Detail); !strings.Contains(d, `"owner":"user-42"`) || strings.Contains(d, secret[20:]) {
			t.Fatalf("key.created detail %s; want the owner and no secret", d)
		}
	})
}

func TestKeysExpired(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		b := setupKeys(t, open, auth.KeysOptions{})
		secret, _ := b.create(t, auth.KeySpec{Owner: "user-42", ExpiresAt: now.Add(time.Hour)})
		b.clock.Advance(time.Hour - time.Second)
		if _, err := b.keys.Verify(t.Context(), secret); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		b.clock.Advance(time.Second)
		_, err := b.keys.Verify(t.Context(), secret)
		checkKeyRefused(t, secret, err, auth.ErrKeyExpired, http.StatusUnauthorized)
	})
}

func TestKeysCreateInvalid(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, keyStores[0].open, auth.KeysOptions{})
	tests := map[string]struct {
		spec auth.KeySpec
		want string
	}{
		"no owner":      {auth.KeySpec{Tenant: "acme"}, "Owner"},
		"empty route":   {auth.KeySpec{Owner: "u", Routes: []string{"docs", ""}}, "Routes[1]"},
		"blank route":   {auth.KeySpec{Owner: "u", Routes: []string{" "}}, "Routes[0]"},
		"expired":       {auth.KeySpec{Owner: "u", ExpiresAt: now}, "ExpiresAt"},
		"long expired":  {auth.KeySpec{Owner: "u", ExpiresAt: now.Add(-time.Hour)}, "ExpiresAt"},
		"routes, empty": {auth.KeySpec{Routes: []string{"docs"}}, "Owner"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := b.keys.Create(t.Context(), tt.spec); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one naming %s", err, tt.want)
			}
		})
	}
	keys, err := b.store.ListKeys(t.Context(), store.KeyQuery{})
	if err != nil || len(keys) != 0 {
		t.Fatalf("refused specs stored %d keys (%v)", len(keys), err)
	}
	if _, err := auth.NewKeys(auth.KeysOptions{}); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Fatalf("NewKeys without a store: %v; want an error naming Store", err)
	}
}

// A key whose creation could not be logged does not work.
func TestKeysCreateAuditFails(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, keyStores[0].open, auth.KeysOptions{})
	b.store.failAudit.Store(true)
	secret, key, err := b.keys.Create(t.Context(), auth.KeySpec{Owner: "user-42"})
	if !errors.Is(err, errDown) || secret != "" || key != nil {
		t.Fatalf("Create with the audit log down: %q, %v, %v; want errDown and no key", secret, key, err)
	}
	keys, err := b.store.ListKeys(t.Context(), store.KeyQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.RevokedAt.IsZero() {
			t.Fatalf("key %s works though its creation was not logged", k.ID)
		}
	}
}

func TestKeysAllowsRoute(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, keyStores[0].open, auth.KeysOptions{})
	scoped, _ := b.create(t, auth.KeySpec{Owner: "user-42", Routes: []string{"docs"}})
	open, _ := b.create(t, auth.KeySpec{Owner: "user-42"})
	id, err := b.keys.Verify(t.Context(), scoped)
	if err != nil {
		t.Fatal(err)
	}
	if !id.AllowsRoute("docs") || id.AllowsRoute("images") || id.AllowsRoute("") || id.AllowsRoute("Docs") {
		t.Fatalf("a key for docs: AllowsRoute docs %v, images %v", id.AllowsRoute("docs"), id.AllowsRoute("images"))
	}
	id, err = b.keys.Verify(t.Context(), open)
	if err != nil {
		t.Fatal(err)
	}
	if !id.AllowsRoute("docs") || !id.AllowsRoute("images") {
		t.Fatal("a key without routes refused a route")
	}
	if !(auth.Identity{Subject: "from a JWT"}).AllowsRoute("docs") {
		t.Fatal("a token's identity refused a route")
	}
	checkKeyRefused(t, scoped, auth.ErrOutOfScope, auth.ErrOutOfScope, http.StatusForbidden)
	if auth.Code(auth.ErrOutOfScope) != "key_out_of_scope" {
		t.Fatalf("code %q", auth.Code(auth.ErrOutOfScope))
	}
}

func TestKeysTouch(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		b := setupKeys(t, open, auth.KeysOptions{})
		secret, key := b.create(t, auth.KeySpec{Owner: "user-42"})
		if got := b.stored(t, key.ID).LastUsedAt; !got.IsZero() {
			t.Fatalf("LastUsedAt = %v before any use", got)
		}
		verify := func() {
			t.Helper()
			if _, err := b.keys.Verify(t.Context(), secret); err != nil {
				t.Fatal(err)
			}
		}
		wantLastUsed := func(want time.Time, touches int64) {
			t.Helper()
			if got := b.stored(t, key.ID).LastUsedAt; !got.Equal(want) {
				t.Fatalf("LastUsedAt = %v; want %v", got, want)
			}
			if n := b.store.touches.Load(); n != touches {
				t.Fatalf("%d touches; want %d", n, touches)
			}
		}
		verify()
		wantLastUsed(now, 1)
		b.clock.Advance(30 * time.Second)
		verify()
		verify()
		wantLastUsed(now, 1) // within a minute: not written
		b.clock.Advance(30 * time.Second)
		verify()
		wantLastUsed(now.Add(time.Minute), 2)

		// A failed touch fails nothing, and is not retried before its time.
		b.store.failTouch.Store(true)
		b.clock.Advance(time.Minute)
		verify()
		b.store.failTouch.Store(false)
		verify()
		wantLastUsed(now.Add(time.Minute), 3)
	})
}

func TestKeysTouchEveryUse(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, keyStores[0].open, auth.KeysOptions{TouchEvery: -1})
	secret, key := b.create(t, auth.KeySpec{Owner: "user-42"})
	for i := range 3 {
		if _, err := b.keys.Verify(t.Context(), secret); err != nil {
			t.Fatal(err)
		}
		if got, want := b.stored(t, key.ID).LastUsedAt, now.Add(time.Duration(i)*time.Second); !got.Equal(want) {
			t.Fatalf("use %d: LastUsedAt = %v; want %v", i, got, want)
		}
		b.clock.Advance(time.Second)
	}
	if n := b.store.touches.Load(); n != 3 {
		t.Fatalf("%d touches for 3 uses", n)
	}
}

func TestKeysRateLimited(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		clock := testenv.NewClock(now)
		lim := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Burst: 2}, &ratelimit.MemoryOptions{Now: clock.Now})
		b := setupKeys(t, open, auth.KeysOptions{Limiter: lim})
		secret, _ := b.create(t, auth.KeySpec{Owner: "user-42"})
		other, _ := b.create(t, auth.KeySpec{Owner: "user-42"})
		for range 2 {
			if _, err := b.keys.Verify(t.Context(), secret); err != nil {
				t.Fatal(err)
			}
		}
		_, err := b.keys.Verify(t.Context(), secret)
		checkKeyRefused(t, secret, err, auth.ErrRateLimited, http.StatusTooManyRequests)
		var retry interface{ RetryAfter() time.Duration }
		if !errors.As(err, &retry) || retry.RetryAfter() != time.Second {
			t.Fatalf("err %v (%T) gives no RetryAfter of 1s", err, err)
		}
		var rl *auth.RateLimitedError
		if !errors.As(err, &rl) || auth.Code(err) != "rate_limited" {
			t.Fatalf("err %v: not a *RateLimitedError with code rate_limited", err)
		}
		if _, err := b.keys.Verify(t.Context(), other); err != nil {
			t.Fatalf("another key: %v", err)
		}
		clock.Advance(time.Second)
		if _, err := b.keys.Verify(t.Context(), secret); err != nil {
			t.Fatalf("after RetryAfter: %v", err)
		}
		// Wrong secrets for a key's ID take none of its tokens.
		for range 5 {
			b.keys.Verify(t.Context(), other[:20]+flip(other[20:], 0))
		}
		if _, err := b.keys.Verify(t.Context(), other); err != nil {
			t.Fatalf("another key, second use: %v", err)
		}
	})
}

// brokenLimiter cannot decide.
type brokenLimiter struct{}

func (brokenLimiter) Allow(context.Context, string) (bool, time.Duration, error) {
	return false, 0, errors.New("redis is down")
}

func TestKeysLimiterDownFailsOpen(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, keyStores[0].open, auth.KeysOptions{Limiter: brokenLimiter{}})
	secret, _ := b.create(t, auth.KeySpec{Owner: "user-42"})
	for range 3 {
		if _, err := b.keys.Verify(t.Context(), secret); err != nil {
			t.Fatalf("with the limiter down: %v; want the key accepted", err)
		}
	}
}

func TestKeysStoreDown(t *testing.T) {
	t.Parallel()
	b := setupKeys(t, keyStores[0].open, auth.KeysOptions{})
	secret, _ := b.create(t, auth.KeySpec{Owner: "user-42"})
	b.store.failGet.Store(true)
	_, err := b.keys.Verify(t.Context(), secret)
	checkKeyRefused(t, secret, err, auth.ErrKeysUnavailable, http.StatusServiceUnavailable)
	if !errors.Is(err, errDown) {
		t.Fatalf("err = %v; want the store's error wrapped", err)
	}
	// A malformed key is refused without asking the store.
	_, err = b.keys.Verify(t.Context(), "ck_nope")
	checkKeyRefused(t, "ck_nope", err, auth.ErrKeyInvalid, http.StatusUnauthorized)
}

func TestKeysConcurrent(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		lim := ratelimit.NewMemory(ratelimit.Limit{Rate: 1e6, Burst: 1e6}, nil)
		b := setupKeys(t, open, auth.KeysOptions{Limiter: lim, TouchEvery: time.Nanosecond})
		const nkeys, goroutines, calls = 4, 16, 25
		secrets := make([]string, nkeys)
		for i := range secrets {
			secrets[i], _ = b.create(t, auth.KeySpec{Owner: "user-42"})
		}
		revoked, key := b.create(t, auth.KeySpec{Owner: "user-42"})
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range calls {
					b.clock.Advance(time.Millisecond)
					if _, err := b.keys.Verify(t.Context(), secrets[(g+i)%nkeys]); err != nil {
						t.Error(err)
						return
					}
					b.keys.Verify(t.Context(), revoked)
				}
			})
		}
		wg.Go(func() {
			if err := b.keys.Revoke(t.Context(), key.ID, "admin"); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		_, err := b.keys.Verify(t.Context(), revoked)
		checkKeyRefused(t, revoked, err, auth.ErrKeyRevoked, http.StatusUnauthorized)
	})
}

func TestErrorStatus(t *testing.T) {
	t.Parallel()
	tests := map[*auth.Error]int{
		auth.ErrNoToken: 401, auth.ErrExpired: 401, auth.ErrKeyInvalid: 401, auth.ErrKeyRevoked: 401,
		auth.ErrKeyExpired: 401, auth.ErrOutOfScope: 403, auth.ErrRateLimited: 429, auth.ErrKeysUnavailable: 503,
	}
	for e, want := range tests {
		if got := e.Status(); got != want {
			t.Errorf("%s: Status() = %d; want %d", e.Code(), got, want)
		}
	}
}

// openPostgresLedger opens a postgres Store in a schema of its own,
// dropped when t ends.
func openPostgresLedger(t testing.TB) ledger {
	dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	p := make([]byte, 8)
	rand.Read(p)
	schema := "carcosa_auth_test_" + hex.EncodeToString(p)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	s, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: schema, Table: "uploads"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// List shows the keys of a tenant, revoked ones too, and no secret.
func TestKeysList(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(testing.TB) ledger) {
		b := setupKeys(t, open, auth.KeysOptions{})
		s1, k1 := b.create(t, auth.KeySpec{Owner: "alice", Tenant: "acme", Name: "ci"})
		_, k2 := b.create(t, auth.KeySpec{Owner: "bob", Tenant: "acme"})
		b.create(t, auth.KeySpec{Owner: "alice", Tenant: "other"})
		if err := b.keys.Revoke(t.Context(), k2.ID, "ops"); err != nil {
			t.Fatal(err)
		}
		got, err := b.keys.List(t.Context(), store.KeyQuery{Tenant: "acme"})
		if err != nil || len(got) != 2 {
			t.Fatalf("List: %d keys (%v), want 2", len(got), err)
		}
		byID := map[string]*store.APIKey{}
		for _, k := range got {
			byID[k.ID] = k
			if strings.Contains(fmt.Sprintf("%+v", k), s1[len(s1)-20:]) {
				t.Fatalf("a listed key holds the secret: %+v", k)
			}
		}
		if byID[k1.ID] == nil || byID[k1.ID].Name != "ci" || byID[k2.ID] == nil || byID[k2.ID].RevokedAt.IsZero() {
			t.Fatalf("List: %+v", got)
		}
	})
}
