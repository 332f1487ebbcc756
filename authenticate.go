package carcosa

import (
	"context"

	"github.com/carcosa-dev/carcosa/auth"
)

// Authenticate returns route middleware that admits the callers v verifies
// (an *auth.Keys for API keys, an *auth.JWT for tokens) as the upload's
// owner (Identity.Subject) in its tenant (Identity.Tenant): one tenant's
// callers can then never reach another tenant's uploads, nor one owner
// another's. A credential scoped to other routes is refused with
// key_out_of_scope (403); a missing or bad one gets its code from package
// auth (401), and 503 when the keys cannot be read. meta, when not nil,
// derives the callbacks' metadata from the identity.
//
//	keys, _ := auth.NewKeys(auth.KeysOptions{Store: keyStore})
//	carcosa.Handle(r, "avatars", carcosa.Route[struct{}, struct{}]{
//		Accept:     []string{"image"},
//		Middleware: carcosa.Authenticate[struct{}, struct{}](keys, nil),
//	})
func Authenticate[I, M any](v auth.Verifier, meta func(auth.Identity) M) func(context.Context, *Request[I]) (Grant[M], error) {
	if v == nil {
		panic("carcosa: Authenticate needs a Verifier")
	}
	return func(ctx context.Context, req *Request[I]) (Grant[M], error) {
		id, err := v.FromRequest(req.HTTP)
		if err != nil {
			return Grant[M]{}, err
		}
		if !id.AllowsRoute(req.Route) {
			return Grant[M]{}, auth.ErrOutOfScope
		}
		g := Grant[M]{Owner: id.Subject, Tenant: id.Tenant}
		if meta != nil {
			g.Metadata = meta(id)
		}
		return g, nil
	}
}
