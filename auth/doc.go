// Package auth finds who a request is from, for a route's middleware.
//
// # Bearer tokens
//
// A [JWT] verifies compact JSON Web Tokens and returns an [Identity]:
//
//	verifier, err := auth.NewJWT(auth.JWTOptions{
//		JWKSURL:  "https://issuer.example/.well-known/jwks.json",
//		Issuer:   "https://issuer.example/",
//		Audience: "uploads",
//	})
//	...
//	id, err := verifier.FromRequest(req.HTTP)
//
// Each verifier has one key source: an HMAC key (HS256), fixed public keys
// by kid, or a JWKS URL. The source decides the algorithm: a token may only
// use the algorithm of the key that verifies it, so "none" never passes, nor
// an HS256 token "signed" with an RSA public key's bytes. exp and sub are
// required; nbf and iat are checked when present.
//
// # Key sets
//
// A JWKS is fetched on first use and kept for JWTOptions.CacheTTL. A token
// naming a kid the set lacks fetches it again, so keys rotate without a
// restart; fetches are at most one per JWTOptions.MinRefreshInterval, so
// tokens with made-up kids cannot turn the verifier against the issuer. A
// failed fetch keeps the keys already held.
//
// # Errors
//
// Every error matches a sentinel of this package with errors.Is, and [Code]
// gives its stable code, e.g. "token_expired". Messages never quote the
// token, so they are safe to log and to send. A route's middleware answers
// 401 with the code, or 503 for [ErrKeysUnavailable]; see the example.
package auth
