package auth

import "errors"

// Error is a reason a request's identity was refused: a stable code and a
// fixed message. Neither ever holds token text (nor a kid or an alg read
// from a token), so both are safe to log and to send to the client.
//
// Verify and FromRequest return errors that match one of the sentinels
// below with errors.Is; Code gives the sentinel's code.
type Error struct {
	code, message string
}

func (e *Error) Error() string { return "auth: " + e.message }

// Code is e's stable, snake_case code.
func (e *Error) Code() string { return e.code }

// Every sentinel but ErrKeysUnavailable means the client's credentials were
// refused (answer 401). ErrKeysUnavailable is the server's failure: the
// JWKS could not be fetched and no keys were cached (answer 503).
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
)

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
