package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/auth"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// A route whose middleware admits bearer tokens: the owner is the token's
// subject, the tier comes from its scopes, and the tenant rides along as
// metadata. Refusals are 401s with the token's error code.
func ExampleJWT_FromRequest() {
	key := []byte("an HS256 key of at least 32 bytes")
	verifier, err := auth.NewJWT(auth.JWTOptions{HMACKey: key, Issuer: "https://id.example/", Audience: "uploads"})
	if err != nil {
		panic(err)
	}

	dir, _ := os.MkdirTemp("", "carcosa-example")
	defer os.RemoveAll(dir)
	r, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer r.Close()

	type Meta struct {
		Tenant string `json:"tenant"`
	}
	carcosa.Handle(r, "docs", carcosa.Route[struct{}, Meta]{
		Accept: []string{"text"},
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[Meta], error) {
			id, err := verifier.FromRequest(req.HTTP)
			switch {
			case errors.Is(err, auth.ErrKeysUnavailable):
				return carcosa.Grant[Meta]{}, carcosa.NewError(http.StatusServiceUnavailable, auth.Code(err), "sign-in is unavailable; try again later")
			case err != nil:
				return carcosa.Grant[Meta]{}, carcosa.NewError(http.StatusUnauthorized, auth.Code(err), "sign in to upload")
			}
			tier := "free"
			if slices.Contains(id.Scopes, "uploads:pro") {
				tier = "pro"
			}
			return carcosa.Grant[Meta]{Owner: id.Subject, Tier: tier, Metadata: Meta{Tenant: id.Tenant}}, nil
		},
		OnComplete: func(ctx context.Context, m Meta, f carcosa.File) (any, error) {
			return map[string]string{"owner": f.Owner, "tenant": m.Tenant}, nil
		},
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	upload := func(token string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "notes.txt")
		fw.Write([]byte("hello\n"))
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/uploads/routes/docs", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var out struct {
			Uploads []carcosa.Upload `json:"uploads"`
			Error   struct{ Code string }
		}
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusCreated {
			fmt.Println(resp.StatusCode, out.Error.Code)
			return
		}
		fmt.Println(resp.StatusCode, out.Uploads[0].State, string(out.Uploads[0].Result))
	}

	signed := func(key []byte, exp time.Time) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "user-42", "tenant": "acme", "scope": "uploads:pro",
			"iss": "https://id.example/", "aud": "uploads", "exp": exp.Unix(),
		}).SignedString(key)
		return s
	}
	upload("")
	upload(signed([]byte("somebody else's key, 32 bytes long"), time.Now().Add(time.Hour)))
	upload(signed(key, time.Now().Add(-time.Hour)))
	upload(signed(key, time.Now().Add(time.Hour)))
	// Output:
	// 401 token_missing
	// 401 token_invalid_signature
	// 401 token_expired
	// 201 ready {"owner":"user-42","tenant":"acme"}
}

// An API key is shown once, when created; only its hash is stored. A
// request presents it as a bearer token or in X-Api-Key, and a route's
// middleware answers each refusal with its error's Status and Code.
func ExampleKeys() {
	ctx := context.Background()
	db := memstore.New()
	keys, err := auth.NewKeys(auth.KeysOptions{Store: db, Audit: db})
	if err != nil {
		panic(err)
	}
	secret, key, err := keys.Create(ctx, auth.KeySpec{
		Name: "CI uploads", Owner: "user-42", Tenant: "acme", Routes: []string{"docs"}, Actor: "admin-1",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(secret, "ck_"+key.ID+"_"), len(secret))

	check := func(route string) {
		req := httptest.NewRequest(http.MethodPost, "/api/uploads/routes/"+route, nil)
		req.Header.Set("X-Api-Key", secret)
		id, err := keys.FromRequest(req)
		if err == nil && !id.AllowsRoute(route) {
			err = auth.ErrOutOfScope
		}
		var e *auth.Error
		if errors.As(err, &e) {
			fmt.Println(route, e.Status(), e.Code())
			return
		}
		fmt.Println(route, "ok:", id.Subject, id.Tenant, id.KeyID == key.ID)
	}
	check("docs")
	check("images")
	if err := keys.Revoke(ctx, key.ID, "admin-1"); err != nil {
		panic(err)
	}
	check("docs")

	events, err := db.ListAudit(ctx, store.AuditQuery{Subject: key.ID})
	if err != nil {
		panic(err)
	}
	var logged []string
	for _, e := range events {
		logged = append(logged, e.Action+" by "+e.Actor)
	}
	slices.Sort(logged)
	fmt.Println(logged)
	// Output:
	// true 72
	// docs ok: user-42 acme true
	// images 403 key_out_of_scope
	// docs 401 key_revoked
	// [key.created by admin-1 key.revoked by admin-1]
}
