package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/auth"
	"github.com/carcosa-dev/carcosa/ratelimit"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// authMeta is the callbacks' metadata of setupAuth's routes: who the
// credential said the caller is.
type authMeta struct {
	Subject string `json:"subject"`
	Tenant  string `json:"tenant"`
	KeyID   string `json:"keyId"`
}

// setupAuth is a Router on st whose routes "files" and "docs" admit the
// callers v verifies. Requests carry their credentials in headers, with no
// X-User.
func setupAuth(t *testing.T, st store.Store, v auth.Verifier) *testBundle {
	t.Helper()
	tb := newBundle(t, st, nil)
	r := tb.router
	carcosa.Handle(r, "files", carcosa.Route[struct{}, authMeta]{
		Accept:      []string{"any"},
		MaxFileSize: 8 << 20,
		Middleware: carcosa.Authenticate[struct{}](v, func(id auth.Identity) authMeta {
			return authMeta{Subject: id.Subject, Tenant: id.Tenant, KeyID: id.KeyID}
		}),
		OnComplete: func(ctx context.Context, m authMeta, f carcosa.File) (any, error) {
			tb.completed <- f
			return m, nil
		},
	})
	carcosa.Handle(r, "docs", carcosa.Route[struct{}, struct{}]{
		Accept:     []string{"any"},
		Middleware: carcosa.Authenticate[struct{}, struct{}](v, nil),
	})
	tb.serve(t)
	return tb
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// authTus uploads data to route by tus with the credentials in hdr, and
// returns its ID and URL.
func (tb *testBundle) authTus(t *testing.T, hdr map[string]string, route string, data []byte) (string, string) {
	t.Helper()
	resp, body := tb.tusCreate(t, "", int64(len(data)), tusMetadata("route", route, "filename", "t.bin"), hdr)
	if resp.StatusCode != 201 {
		t.Fatalf("tus create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	resp, body = tb.tusPatch(t, loc, "", 0, data, hdr)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus PATCH: %d %s", resp.StatusCode, body)
	}
	return lastSegment(loc), loc
}

// multipartAs posts one file to route with the credentials in hdr.
func (tb *testBundle) multipartAs(t *testing.T, hdr map[string]string, route string, data []byte) (*http.Response, []byte) {
	t.Helper()
	mp, ct := multipartBody(t, part{field: "file", name: "m.bin", data: data})
	h := map[string]string{"Content-Type": ct}
	for k, v := range hdr {
		h[k] = v
	}
	return tb.do(t, "POST", tb.url("/routes/"+route), "", mp, h)
}

// wantOwned checks that upload id holds data and is owner's in tenant.
func wantOwned(t *testing.T, tb *testBundle, id, owner, tenant string, data []byte) carcosa.Upload {
	t.Helper()
	u, err := tb.router.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Owner != owner || u.Tenant != tenant || u.State != "ready" || u.SHA256 != sha(data) {
		t.Fatalf("upload %+v, want %s's of tenant %q with the data", u, owner, tenant)
	}
	return u
}

func TestAuthenticateAPIKeys(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	keys, err := auth.NewKeys(auth.KeysOptions{Store: st, Audit: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	create := func(spec auth.KeySpec) (string, *store.APIKey) {
		t.Helper()
		secret, k, err := keys.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return secret, k
	}
	aliceFiles, aliceKey := create(auth.KeySpec{Name: "ci", Owner: "alice", Tenant: "acme", Routes: []string{"files"}, Actor: "ops@x"})
	aliceDocs, _ := create(auth.KeySpec{Owner: "alice", Tenant: "acme", Routes: []string{"docs"}})
	aliceAll, _ := create(auth.KeySpec{Owner: "alice", Tenant: "acme"})
	evil, _ := create(auth.KeySpec{Owner: "alice", Tenant: "evil"})
	revoked, revokedKey := create(auth.KeySpec{Owner: "alice", Tenant: "acme"})
	if err := keys.Revoke(ctx, revokedKey.ID, "ops@x"); err != nil {
		t.Fatal(err)
	}
	tb := setupAuth(t, st, keys)
	data := randomBytes(5000)

	// The key uploads by tus (Authorization) and by multipart (X-Api-Key)
	// as its owner in its tenant.
	tid, tloc := tb.authTus(t, bearer(aliceFiles), "files", data)
	wantOwned(t, tb, tid, "alice", "acme", data)
	select {
	case f := <-tb.completed:
		if f.ID != tid || f.Owner != "alice" || f.Tenant != "acme" {
			t.Errorf("OnComplete saw %+v", f)
		}
	default:
		t.Fatal("OnComplete did not run")
	}
	resp, body := tb.multipartAs(t, map[string]string{"X-Api-Key": aliceFiles}, "files", data)
	if resp.StatusCode != 201 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	mid := uploadIDs(t, body)[0]
	u := wantOwned(t, tb, mid, "alice", "acme", data)
	<-tb.completed
	var meta authMeta
	if err := json.Unmarshal(u.Result, &meta); err != nil || meta != (authMeta{Subject: "alice", Tenant: "acme", KeyID: aliceKey.ID}) {
		t.Errorf("callbacks' metadata %s, %v", u.Result, err)
	}

	// Refusals at creation, by tus and by multipart: nothing is created.
	mangled := []byte(aliceFiles)
	// Another secret of the same ID, still well formed.
	if i := len(mangled) - 10; mangled[i] == 'a' {
		mangled[i] = 'b'
	} else {
		mangled[i] = 'a'
	}
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		route  string
		status int
		code   string
	}{
		{"key of another route", bearer(aliceFiles), "docs", 403, "key_out_of_scope"},
		{"revoked key", bearer(revoked), "files", 401, "key_revoked"},
		{"garbage", bearer("not-a-key"), "files", 401, "key_invalid"},
		{"garbage in X-Api-Key", map[string]string{"X-Api-Key": "ck_nope"}, "files", 401, "key_invalid"},
		{"wrong secret", bearer(string(mangled)), "files", 401, "key_invalid"},
		{"no key", nil, "files", 401, "token_missing"},
		{"another scheme", map[string]string{"Authorization": "Basic " + aliceFiles}, "files", 401, "token_missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tb.tusCreate(t, "", 10, tusMetadata("route", tc.route), tc.hdr)
			wantError(t, resp, body, tc.status, tc.code)
			resp, body = tb.multipartAs(t, tc.hdr, tc.route, data)
			wantError(t, resp, body, tc.status, tc.code)
		})
	}
	p, err := tb.router.List(ctx, carcosa.ListOptions{})
	if err != nil || len(p.Uploads) != 2 {
		t.Fatalf("uploads after refusals: %+v, %v", p.Uploads, err)
	}

	// A key of another tenant with the same owner name, and a key of the
	// same owner scoped to another route, find nothing: 404, not 403.
	for name, key := range map[string]string{"other tenant": evil, "other route": aliceDocs} {
		t.Run(name, func(t *testing.T) {
			for _, id := range []string{tid, mid} {
				resp, body := tb.do(t, "GET", tb.url("/uploads/"+id), "", nil, bearer(key))
				wantError(t, resp, body, 404, "not_found")
				resp, body = tb.do(t, "DELETE", tb.url("/uploads/"+id), "", nil, bearer(key))
				wantError(t, resp, body, 404, "not_found")
			}
			hdr := bearer(key)
			hdr["Tus-Resumable"] = "1.0.0"
			resp, body := tb.do(t, "HEAD", tloc, "", nil, hdr)
			if resp.StatusCode != 404 || resp.Header.Get("Upload-Offset") != "" {
				t.Fatalf("tus HEAD: %d %v %s", resp.StatusCode, resp.Header, body)
			}
			resp, body = tb.tusPatch(t, tloc, "", int64(len(data)), []byte("x"), bearer(key))
			wantError(t, resp, body, 404, "not_found")
		})
	}
	wantOwned(t, tb, tid, "alice", "acme", data)
	wantOwned(t, tb, mid, "alice", "acme", data)

	// A revoked key, or none, is told so even about its own uploads.
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+tid), "", nil, bearer(revoked))
	wantError(t, resp, body, 401, "key_revoked")
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+tid), "", nil, nil)
	wantError(t, resp, body, 401, "token_missing")

	// The owner's unscoped key reaches both uploads; the scoped one, its
	// route's.
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+tid), "", nil, bearer(aliceAll))
	if resp.StatusCode != 200 {
		t.Fatalf("GET with the unscoped key: %d %s", resp.StatusCode, body)
	}
	resp, body = tb.do(t, "DELETE", tb.url("/uploads/"+mid), "", nil, bearer(aliceFiles))
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE with the key: %d %s", resp.StatusCode, body)
	}
	if _, err := tb.store.Get(ctx, mid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record after DELETE: %v", err)
	}

	// The keys' life is in the Router's audit log.
	events, err := tb.router.AuditLog(ctx, store.AuditQuery{Subject: revokedKey.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action+" by "+e.Actor)
	}
	if strings.Join(actions, ", ") != "key.revoked by ops@x, key.created by server" {
		t.Errorf("audit of the revoked key: %v", actions)
	}
	events, err = tb.router.AuditLog(ctx, store.AuditQuery{Action: store.AuditKeyCreated, Subject: aliceKey.ID})
	if err != nil || len(events) != 1 || events[0].Actor != "ops@x" || events[0].Tenant != "acme" {
		t.Errorf("audit of the key's creation: %+v, %v", events, err)
	}
	for _, e := range events {
		if bytes.Contains(e.Detail, []byte(aliceFiles)) || bytes.Contains(e.Detail, []byte(aliceFiles[len(aliceFiles)-20:])) {
			t.Error("the audit log holds the key's secret")
		}
	}
}

func TestAuthenticateJWT(t *testing.T) {
	t.Parallel()
	secret := []byte("a test HMAC key of at least 32 bytes, for HS256")
	j, err := auth.NewJWT(auth.JWTOptions{HMACKey: secret, TenantClaim: "tenant"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key []byte, claims jwt.MapClaims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	valid := func(sub, tenant string) string {
		return sign(secret, jwt.MapClaims{"sub": sub, "tenant": tenant, "exp": now.Add(time.Hour).Unix()})
	}
	tb := setupAuth(t, memstore.New(), j)
	data := randomBytes(4000)

	alice := valid("alice", "acme")
	tid, tloc := tb.authTus(t, bearer(alice), "files", data)
	wantOwned(t, tb, tid, "alice", "acme", data)
	resp, body := tb.multipartAs(t, bearer(alice), "files", data)
	if resp.StatusCode != 201 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	mid := uploadIDs(t, body)[0]
	u := wantOwned(t, tb, mid, "alice", "acme", data)
	var meta authMeta
	if err := json.Unmarshal(u.Result, &meta); err != nil || meta != (authMeta{Subject: "alice", Tenant: "acme"}) {
		t.Errorf("callbacks' metadata %s, %v", u.Result, err)
	}

	// Another token of the same subject and tenant is the same owner.
	again := sign(secret, jwt.MapClaims{"sub": "alice", "tenant": "acme", "exp": now.Add(2 * time.Hour).Unix(), "jti": "2"})
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+tid), "", nil, bearer(again))
	if resp.StatusCode != 200 {
		t.Fatalf("GET with another token: %d %s", resp.StatusCode, body)
	}
	// The same subject in another tenant, or none, is another owner.
	for _, other := range []string{valid("alice", "evil"), valid("alice", "")} {
		resp, body = tb.do(t, "GET", tb.url("/uploads/"+tid), "", nil, bearer(other))
		wantError(t, resp, body, 404, "not_found")
		resp, body = tb.do(t, "DELETE", tb.url("/uploads/"+mid), "", nil, bearer(other))
		wantError(t, resp, body, 404, "not_found")
		resp, body = tb.tusPatch(t, tloc, "", int64(len(data)), []byte("x"), bearer(other))
		wantError(t, resp, body, 404, "not_found")
	}

	expired := sign(secret, jwt.MapClaims{"sub": "alice", "tenant": "acme", "exp": now.Add(-time.Hour).Unix()})
	forged := sign([]byte("another key of at least 32 bytes, not the server's"), jwt.MapClaims{"sub": "alice", "tenant": "acme", "exp": now.Add(time.Hour).Unix()})
	noSub := sign(secret, jwt.MapClaims{"tenant": "acme", "exp": now.Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name, token, code string
	}{
		{"expired", expired, "token_expired"},
		{"forged", forged, "token_invalid_signature"},
		{"no subject", noSub, "token_claim_missing"},
		{"malformed", "abc.def", "token_malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tb.tusCreate(t, "", 10, tusMetadata("route", "files"), bearer(tc.token))
			wantError(t, resp, body, 401, tc.code)
			resp, body = tb.multipartAs(t, bearer(tc.token), "files", data)
			wantError(t, resp, body, 401, tc.code)
			// About an existing upload, too, the caller learns to renew.
			resp, body = tb.do(t, "GET", tb.url("/uploads/"+tid), "", nil, bearer(tc.token))
			wantError(t, resp, body, 401, tc.code)
		})
	}
	p, err := tb.router.List(t.Context(), carcosa.ListOptions{})
	if err != nil || len(p.Uploads) != 2 {
		t.Fatalf("uploads: %+v, %v", p.Uploads, err)
	}
}

func TestAuthenticateKeyRateLimit(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	keys, err := auth.NewKeys(auth.KeysOptions{
		Store:   st,
		Limiter: ratelimit.NewMemory(ratelimit.Limit{Rate: 0.001, Burst: 1}, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := keys.Create(t.Context(), auth.KeySpec{Owner: "alice", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := keys.Create(t.Context(), auth.KeySpec{Owner: "alice", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	tb := setupAuth(t, st, keys)
	data := randomBytes(1000)

	resp, body := tb.multipartAs(t, bearer(first), "files", data)
	if resp.StatusCode != 201 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	id := uploadIDs(t, body)[0]
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+id), "", nil, bearer(first))
	wantRateLimited(t, resp, body, 1001*time.Second)
	resp, body = tb.tusCreate(t, "", 10, tusMetadata("route", "files"), bearer(first))
	wantRateLimited(t, resp, body, 1001*time.Second)

	// Each key has its own budget.
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+id), "", nil, bearer(second))
	if resp.StatusCode != 200 {
		t.Fatalf("GET with the second key: %d %s", resp.StatusCode, body)
	}
	resp, body = tb.do(t, "GET", tb.url("/uploads/"+id), "", nil, bearer(second))
	wantRateLimited(t, resp, body, 1001*time.Second)
}

// downKeys is a key store that cannot be read.
type downKeys struct{ *memstore.Store }

func (downKeys) GetKey(ctx context.Context, id string) (*store.APIKey, error) {
	return nil, errors.New("key store unreachable")
}

func TestAuthenticateKeyStoreDown(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	keys, err := auth.NewKeys(auth.KeysOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := keys.Create(t.Context(), auth.KeySpec{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	down, err := auth.NewKeys(auth.KeysOptions{Store: downKeys{st}})
	if err != nil {
		t.Fatal(err)
	}
	tb := setupAuth(t, memstore.New(), down)
	resp, body := tb.multipartAs(t, bearer(secret), "files", randomBytes(100))
	e := wantError(t, resp, body, 503, "auth_unavailable")
	if strings.Contains(e.Error.Message, "unreachable") {
		t.Errorf("the message leaks the cause: %q", e.Error.Message)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}
