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
// # API keys
//
// [Keys] creates, revokes and verifies API keys kept in a [store.Keys]:
//
//	keys, err := auth.NewKeys(auth.KeysOptions{Store: db, Audit: db, Limiter: lim})
//	...
//	secret, key, err := keys.Create(ctx, auth.KeySpec{Owner: "user-42", Routes: []string{"docs"}})
//	...
//	id, err := keys.FromRequest(req.HTTP) // "Authorization: Bearer ck_…" or "X-Api-Key: ck_…"
//
// A key reads "ck_<id>_<secret>": 80 random bits of public ID, by which
// the key is looked up, and 256 random bits of secret. It is shown once,
// by Create; the store keeps only the SHA-256 of the whole text, compared
// in constant time. A malformed key, an unknown ID and a wrong secret get
// the same error, [ErrKeyInvalid], and an unknown ID costs the work of a
// wrong secret. Validity is never
// cached, so [Keys.Revoke] takes effect on the next request in every
// process; LastUsedAt is written at most once per KeysOptions.TouchEvery,
// so a verification is one read. Creating and revoking keys are logged
// when KeysOptions.Audit is set; each key is rate limited when
// KeysOptions.Limiter is.
//
// A key may be limited to routes: the middleware checks
// [Identity.AllowsRoute] and refuses others with [ErrOutOfScope]. [JWT]
// and [Keys] are both a [Verifier].
//
// # Errors
//
// Every error matches a sentinel of this package with errors.Is, [Code]
// gives its stable code, e.g. "token_expired", and [Error.Status] the HTTP
// status to answer: 401 for refused credentials, 403 for [ErrOutOfScope],
// 429 for [ErrRateLimited] (whose [RateLimitedError] says when to retry),
// 503 for [ErrKeysUnavailable]. Messages never quote the token or the key,
// so they are safe to log and to send; see the examples.
package auth
