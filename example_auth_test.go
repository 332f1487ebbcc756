package carcosa_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/auth"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// A route that admits callers by API key: the key's owner and tenant
// become the upload's. A key scoped to other routes is refused with 403, a
// revoked one with 401.
func ExampleAuthenticate() {
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	db := memstore.New() // the upload records and the API keys
	r, err := carcosa.New(carcosa.Config{DataDir: dir, Store: db})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	keys, err := auth.NewKeys(auth.KeysOptions{Store: db})
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"docs", "images"} {
		carcosa.Handle(r, name, carcosa.Route[struct{}, struct{}]{
			Accept:     []string{"any"},
			Middleware: carcosa.Authenticate[struct{}, struct{}](keys, nil),
			OnComplete: func(ctx context.Context, _ struct{}, f carcosa.File) (any, error) {
				fmt.Println("uploaded by", f.Owner, "of", f.Tenant)
				return nil, nil
			},
		})
	}
	srv := httptest.NewServer(r)
	defer srv.Close()

	// The secret is shown once; only its hash is stored.
	secret, key, err := keys.Create(context.Background(), auth.KeySpec{
		Owner: "ci-bot", Tenant: "acme", Routes: []string{"docs"},
	})
	if err != nil {
		panic(err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	upload := func(route string) { // a tus creation with all 5 bytes
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/tus/", strings.NewReader("hello"))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "5")
		req.Header.Set("Upload-Metadata", "route "+b64(route)+",filename "+b64("hello.txt"))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var refusal struct{ Error struct{ Code string } }
		json.NewDecoder(resp.Body).Decode(&refusal)
		fmt.Println(route, resp.StatusCode, resp.Header.Get("Upload-State")+refusal.Error.Code)
	}
	upload("docs")
	upload("images")
	if err := keys.Revoke(context.Background(), key.ID, "admin"); err != nil {
		panic(err)
	}
	upload("docs")
	// Output:
	// uploaded by ci-bot of acme
	// docs 201 ready
	// images 403 key_out_of_scope
	// docs 401 key_revoked
}

// A route that admits bearer tokens signed with HS256: the token's subject
// owns the upload, and the claim named by TenantClaim is its tenant.
func ExampleAuthenticate_jwt() {
	secret := []byte("an HS256 key of at least 32 bytes")
	tokens, err := auth.NewJWT(auth.JWTOptions{HMACKey: secret, TenantClaim: "org"})
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, err := carcosa.New(carcosa.Config{DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	type Meta struct{ Scopes []string }
	carcosa.Handle(r, "docs", carcosa.Route[struct{}, Meta]{
		Accept: []string{"text"},
		Middleware: carcosa.Authenticate[struct{}](tokens, func(id auth.Identity) Meta {
			return Meta{Scopes: id.Scopes}
		}),
		OnComplete: func(ctx context.Context, m Meta, f carcosa.File) (any, error) {
			fmt.Println("completed for", f.Owner, "of", f.Tenant, "with scopes", m.Scopes)
			return nil, nil
		},
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "user-42", "org": "acme", "scope": "uploads:write",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, bearer := range []string{token, "not-a-token"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/tus/", strings.NewReader("notes\n"))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "6")
		req.Header.Set("Upload-Metadata", "route "+b64("docs")+",filename "+b64("notes.txt"))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		var refusal struct{ Error struct{ Code string } }
		json.NewDecoder(resp.Body).Decode(&refusal)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Upload-State")+refusal.Error.Code)
	}
	// Output:
	// completed for user-42 of acme with scopes [uploads:write]
	// 201 ready
	// 401 token_malformed
}
