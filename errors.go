package carcosa

import (
	"net/http"

	"github.com/carcosa-dev/carcosa/internal/apierr"
)

// Error is the one error type a client ever sees: a stable machine code, an
// HTTP status and a message written for the client. Errors of any other type
// reach clients only as a generic "internal" error; their text is logged,
// never sent.
//
// Errors compare by code, so errors.Is(err, carcosa.ErrTooLarge) holds for
// any too_large error whatever its message. With derives an error with
// another message, Wrap one that keeps a cause for the logs.
type Error = apierr.Error

// FieldError names one field of a route's input that failed validation.
type FieldError = apierr.FieldError

// QuotaLeft is the "quota" member of a quota_exceeded error: the quota the
// upload would have overrun, what it has left, and the size asked for.
type QuotaLeft = apierr.QuotaLeft

// UsageScope is one quota of a caller in GET B/usage and Router.Usage: a
// byte or file count of -1 means that dimension has no limit.
type UsageScope = apierr.UsageScope

// NewError returns an *Error. Middleware and callbacks return one to send the
// client a specific status and code.
func NewError(status int, code, message string) *Error {
	return apierr.New(status, code, message)
}

// The sentinel errors. Compare with errors.Is; derive messages with
// NewError or the helpers below.
var (
	ErrBadRequest     = apierr.ErrBadRequest
	ErrUnauthorized   = apierr.ErrUnauthorized
	ErrForbidden      = apierr.ErrForbidden
	ErrNotFound       = apierr.ErrNotFound
	ErrUnknownRoute   = apierr.ErrUnknownRoute
	ErrConflict       = apierr.ErrConflict
	ErrTooLarge       = apierr.ErrTooLarge
	ErrTypeNotAllowed = apierr.ErrTypeNotAllowed
	ErrTypeMismatch   = apierr.ErrTypeMismatch
	ErrExecutable     = apierr.ErrExecutable
	ErrPolyglot       = apierr.ErrPolyglot
	ErrInvalidInput   = apierr.ErrInvalidInput
	ErrTooManyFiles   = apierr.ErrTooManyFiles
	ErrTooFewFiles    = apierr.ErrTooFewFiles
	ErrRange          = apierr.ErrRange
	ErrSignature      = apierr.ErrSignature
	ErrExpired        = apierr.ErrExpired
	ErrMethod         = apierr.ErrMethod
	ErrInternal       = apierr.ErrInternal
	ErrSizeMismatch   = apierr.ErrSizeMismatch
	ErrNotUploaded    = apierr.ErrNotUploaded
	ErrUploadExpired  = apierr.ErrUploadExpired
	ErrNoPresign      = apierr.ErrNoPresign
	ErrUnavailable    = apierr.ErrUnavailable
	ErrInterrupted    = apierr.ErrInterrupted

	// ErrMalware ends an upload quarantined: the scanner found malware.
	ErrMalware = apierr.ErrMalware
	// ErrScanUnavailable: the scanner failed or timed out. The upload is
	// failed and not served; its bytes are kept and the scan is retried
	// in the background.
	ErrScanUnavailable = apierr.ErrScanUnavailable
	// ErrScanFailed: the scan was retried until the queue gave up; the
	// file was removed.
	ErrScanFailed = apierr.ErrScanFailed
	// ErrTooLargeToScan: the file is larger than the scanner examines and
	// the route does not accept unscanned files.
	ErrTooLargeToScan = apierr.ErrTooLargeToScan
	// ErrChecksumMismatch: a tus request's body does not match its
	// Upload-Checksum; its bytes were discarded.
	ErrChecksumMismatch = apierr.ErrChecksumMismatch
	// ErrQuotaExceeded: the upload would take its owner or tenant over a
	// quota. 429 while deleting files would make room; 413 when the file
	// alone is larger than the quota. The error's Quota says what is left.
	ErrQuotaExceeded = apierr.ErrQuotaExceeded
	// ErrRateLimited: too many requests; the Retry-After header says when
	// to try again.
	ErrRateLimited = apierr.ErrRateLimited
	// ErrBatchRejected ends a file of a multipart request when another
	// file of the request is refused: the request is all or nothing.
	ErrBatchRejected = apierr.ErrBatchRejected
	// ErrIdleTimeout: the request's body stopped arriving for longer than
	// Config.IdleTimeout; it was cut off and what it had sent discarded.
	ErrIdleTimeout = apierr.ErrIdleTimeout
	// ErrMetadataTooLarge: a tus creation's Upload-Metadata is larger than
	// MaxTusMetadata, not counting the route input (which has its own
	// limit of 64 KiB).
	ErrMetadataTooLarge = apierr.ErrMetadataTooLarge

	// ErrNoAuditLog is returned by AuditLog when the Store keeps no audit log
	// (does not implement store.AuditLog): code audit_log_unsupported, status
	// 501.
	ErrNoAuditLog = apierr.ErrNoAuditLog
	// ErrNotQuarantined is returned by Release and DeleteQuarantined for an
	// upload that is not in quarantine.
	ErrNotQuarantined = apierr.ErrNotQuarantined
	// ErrNoQuotas is returned by Usage and SetQuota of a Router configured
	// without Config.Quota: code quotas_not_configured, status 501, as
	// ErrNoPresign for storage that cannot presign. (GET B/usage answers such a
	// Router 404 not_found.)
	ErrNoQuotas = apierr.ErrNoQuotas
	// URL fetch errors: the URL, or an address it resolves or redirects to, is
	// refused, or the fetch failed. UploadFromURL's errors match them with
	// errors.Is, and carry a more precise code: url_forbidden_address,
	// url_forbidden_scheme, url_forbidden_port, url_invalid or
	// url_too_many_redirects (ErrURLRefused); url_bad_status, url_timeout or
	// url_unreachable (ErrURLFetch).
	ErrURLRefused = apierr.ErrURLRefused
	ErrURLFetch   = apierr.ErrURLFetch
	// Transform errors a client may see.
	ErrImageTooLarge    = apierr.ErrImageTooLarge
	ErrImageCorrupt     = apierr.ErrImageCorrupt
	ErrNotImage         = apierr.ErrNotImage
	ErrBadTransform     = apierr.ErrBadTransform
	ErrTransformRefused = apierr.ErrTransformRefused
)

// Unauthorized returns an error for middleware: the caller is not signed in.
func Unauthorized(message string) *Error { return ErrUnauthorized.With(message) }

// Forbidden returns an error for middleware: the caller may not upload here.
func Forbidden(message string) *Error { return ErrForbidden.With(message) }

// Reject returns an error for a completion callback that refuses a file: the
// upload ends rejected with this code and a 422 status.
func Reject(code, message string) *Error {
	return NewError(http.StatusUnprocessableEntity, code, message)
}
