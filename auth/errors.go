package auth

import (
	"errors"
	"net/http"
	"time"
)

// Error is a reason a request's identity was refused: a stable code and a
// fixed message. Neither ever holds token text (nor a kid or an alg read
// from a token, nor any part of an API key), so both are safe to log and
// to send to the client.
//
// Verify and FromRequest return errors that match one of the sentinels
// below with errors.Is; Code gives the sentinel's code.
type Error struct {
	code, message string
}

func (e *Error) Error() string { return "auth: " + e.message }

// Code is e's stable, snake_case code.
func (e *Error) Code() string { return e.code }

// Message is e's fixed message, safe to send to the client: Carcosa's
// Router sends it with the code.
func (e *Error) Message() string { return e.message }

// Status is the HTTP status to answer with: 503 for ErrKeysUnavailable,
// 403 for ErrOutOfScope, 429 for ErrRateLimited, and 401 for every other
// refusal.
func (e *Error) Status() int {
	switch e.code {
	case ErrKeysUnavailable.code:
		return http.StatusServiceUnavailable
	case ErrOutOfScope.code:
		return http.StatusForbidden
	case ErrRateLimited.code:
		return http.StatusTooManyRequests
	}
	return http.StatusUnauthorized
}

// The token_* sentinels and the key_* ones but ErrOutOfScope mean the
// client's credentials were refused (answer 401). ErrKeysUnavailable is
// the server's failure: the JWKS could not be fetched and no keys were
// cached, or the store of API keys could not be read (answer 503).
// ErrOutOfScope (403) and ErrRateLimited (429) are for credentials that
// are good but may not be used here, or not now.
var (
	ErrNoToken         = &Error{"token_missing", "no bearer token"}
	ErrMalformed       = &Error{"token_malformed", "token is malformed"}
	ErrBadSignature    = &Error{"token_invalid_signature", "token signature is invalid"}
	ErrExpired         = &Error{"token_expired", "token has expired"}
	ErrNotYetValid     = &Error{"token_not_yet_valid", "token is not valid yet"}
	ErrWrongIssuer     = &Error{"token_wrong_issuer", "token is from another issuer"}
	ErrWrongAudience   = &Error{"token_wrong_audience", "token is for another audience"}
	ErrUnknownKey      = &Error{"token_unknown_key", "token is signed with an unknown key"}
	ErrAlgorithm       = &Error{"token_algorithm_not_allowed", "token algorithm is not allowed for its key"}
	ErrMissingClaim    = &Error{"token_claim_missing", "token lacks a required claim"}
	ErrKeysUnavailable = &Error{"auth_unavailable", "verification keys are unavailable"}

	// ErrKeyInvalid is a malformed API key, one of an unknown ID, or one
	// whose secret is wrong: the three are not told apart.
	ErrKeyInvalid = &Error{"key_invalid", "API key is invalid"}
	ErrKeyRevoked = &Error{"key_revoked", "API key has been revoked"}
	ErrKeyExpired = &Error{"key_expired", "API key has expired"}
	ErrOutOfScope = &Error{"key_out_of_scope", "the credential may not be used on this route"}

	// ErrRateLimited is matched by every *RateLimitedError.
	ErrRateLimited = &Error{"rate_limited", "too many requests with this API key"}
)

// RateLimitedError is returned by Keys.Verify when the key is over its
// rate limit. It matches ErrRateLimited, and Code gives "rate_limited".
type RateLimitedError struct {
	retryAfter time.Duration
}

func (e *RateLimitedError) Error() string { return ErrRateLimited.Error() }

// Unwrap returns ErrRateLimited.
func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// RetryAfter is how long until the key may be used again; at least a
// millisecond.
func (e *RateLimitedError) RetryAfter() time.Duration { return e.retryAfter }

// Code returns the code of the *Error in err's chain: "" for nil, and
// "token_invalid" for an error that is not this package's.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	return "token_invalid"
}
