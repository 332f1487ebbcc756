package apierr

import "net/http"

// The sentinel errors. Compare with errors.Is; derive messages with
// NewError or the helpers below. Every sentinel of the package, here and
// beside the code that returns it, is made by sentinel, so that
// sentinelsByCode knows them all.
var (
	ErrBadRequest     = Sentinel(http.StatusBadRequest, "bad_request", "the request is malformed")
	ErrUnauthorized   = Sentinel(http.StatusUnauthorized, "unauthorized", "authentication required")
	ErrForbidden      = Sentinel(http.StatusForbidden, "forbidden", "not allowed")
	ErrNotFound       = Sentinel(http.StatusNotFound, "not_found", "not found")
	ErrUnknownRoute   = Sentinel(http.StatusNotFound, "unknown_route", "no such upload route")
	ErrConflict       = Sentinel(http.StatusConflict, "conflict", "the upload is busy; try again")
	ErrTooLarge       = Sentinel(http.StatusRequestEntityTooLarge, "too_large", "the file is larger than this route allows")
	ErrTypeNotAllowed = Sentinel(http.StatusUnsupportedMediaType, "type_not_allowed", "this type of file is not allowed here")
	ErrTypeMismatch   = Sentinel(http.StatusUnsupportedMediaType, "type_mismatch", "the file's extension does not match its content")
	ErrExecutable     = Sentinel(http.StatusUnsupportedMediaType, "executable_not_allowed", "executable files are not allowed here")
	ErrPolyglot       = Sentinel(http.StatusUnsupportedMediaType, "polyglot_not_allowed", "the file carries content of another type")
	ErrInvalidInput   = Sentinel(http.StatusUnprocessableEntity, "invalid_input", "the route input is invalid")
	ErrTooManyFiles   = Sentinel(http.StatusBadRequest, "too_many_files", "too many files for this route")
	ErrTooFewFiles    = Sentinel(http.StatusBadRequest, "too_few_files", "too few files for this route")
	ErrRange          = Sentinel(http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", "no requested range selects a byte of the file")
	ErrSignature      = Sentinel(http.StatusForbidden, "invalid_signature", "the URL signature is missing or invalid")
	ErrExpired        = Sentinel(http.StatusForbidden, "url_expired", "the signed URL has expired")
	ErrMethod         = Sentinel(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	ErrInternal       = Sentinel(http.StatusInternalServerError, "internal", "internal error; try again later")
	ErrSizeMismatch   = Sentinel(http.StatusUnprocessableEntity, "size_mismatch", "the uploaded file's size differs from the size declared")
	ErrNotUploaded    = Sentinel(http.StatusConflict, "not_uploaded", "the file has not been uploaded to its URL yet")
	ErrUploadExpired  = Sentinel(http.StatusGone, "upload_expired", "the upload was not completed in time")
	ErrNoPresign      = Sentinel(http.StatusNotImplemented, "presign_unsupported", "this storage cannot sign upload URLs")
	ErrUnavailable    = Sentinel(http.StatusServiceUnavailable, "unavailable", "storage is temporarily unavailable; try again")
	ErrInterrupted    = Sentinel(http.StatusServiceUnavailable, "interrupted", "the upload was interrupted before it was stored; send it again")

	// ErrMalware ends an upload quarantined: the scanner found malware.
	ErrMalware = Sentinel(http.StatusUnprocessableEntity, "malware_detected", "the file contains malware")
	// ErrScanUnavailable: the scanner failed or timed out. The upload is
	// failed and not served; its bytes are kept and the scan is retried
	// in the background.
	ErrScanUnavailable = Sentinel(http.StatusServiceUnavailable, "scan_unavailable", "the file could not be scanned for malware yet; the scan is retried")
	// ErrScanFailed: the scan was retried until the queue gave up; the
	// file was removed.
	ErrScanFailed = Sentinel(http.StatusServiceUnavailable, "scan_failed", "the file could not be scanned for malware and was removed; send it again later")
	// ErrTooLargeToScan: the file is larger than the scanner examines and
	// the route does not accept unscanned files.
	ErrTooLargeToScan = Sentinel(http.StatusRequestEntityTooLarge, "too_large_to_scan", "the file is larger than the malware scanner examines")
	// ErrChecksumMismatch: a tus request's body does not match its
	// Upload-Checksum; its bytes were discarded.
	ErrChecksumMismatch = Sentinel(460, "checksum_mismatch", "the request's body does not match its Upload-Checksum")
	// ErrQuotaExceeded: the upload would take its owner or tenant over a
	// quota. 429 while deleting files would make room; 413 when the file
	// alone is larger than the quota. The error's Quota says what is left.
	ErrQuotaExceeded = Sentinel(http.StatusTooManyRequests, "quota_exceeded", "the upload would exceed a storage quota")
	// ErrRateLimited: too many requests; the Retry-After header says when
	// to try again.
	ErrRateLimited = Sentinel(http.StatusTooManyRequests, "rate_limited", "too many requests; try again later")
	// ErrBatchRejected ends a file of a multipart request when another
	// file of the request is refused: the request is all or nothing.
	ErrBatchRejected = Sentinel(http.StatusUnprocessableEntity, "batch_rejected", "another file of the request was refused")
	// ErrIdleTimeout: the request's body stopped arriving for longer than
	// Config.IdleTimeout; it was cut off and what it had sent discarded.
	ErrIdleTimeout = Sentinel(http.StatusRequestTimeout, "request_timeout", "the request stopped sending its body; send it again")
	// ErrMetadataTooLarge: a tus creation's Upload-Metadata is larger than
	// MaxTusMetadata, not counting the route input (which has its own
	// limit of 64 KiB).
	ErrMetadataTooLarge = Sentinel(http.StatusRequestHeaderFieldsTooLarge, "metadata_too_large", "the Upload-Metadata header is too large")
)

// Errors of the Go API, transforms and downloads.
var (
	ErrNoAuditLog       = Sentinel(http.StatusNotImplemented, "audit_log_unsupported", "the Store keeps no audit log (store.AuditLog)")
	ErrNotQuarantined   = Sentinel(409, "not_quarantined", "the upload is not quarantined")
	ErrNoQuotas         = Sentinel(http.StatusNotImplemented, "quotas_not_configured", "quotas are not configured (Config.Quota)")
	ErrURLRefused       = Sentinel(http.StatusUnprocessableEntity, "url_refused", "the URL may not be fetched")
	ErrURLFetch         = Sentinel(http.StatusBadGateway, "url_fetch_failed", "the URL could not be fetched")
	ErrImageTooLarge    = Sentinel(http.StatusUnprocessableEntity, "image_too_large", "the image has more pixels than allowed")
	ErrImageCorrupt     = Sentinel(http.StatusUnprocessableEntity, "image_corrupt", "the image is truncated or corrupt")
	ErrNotImage         = Sentinel(http.StatusUnsupportedMediaType, "not_an_image", "this file cannot be transformed")
	ErrBadTransform     = Sentinel(http.StatusBadRequest, "bad_transform", "the transform's parameters are invalid")
	ErrTransformRefused = Sentinel(http.StatusForbidden, "transform_not_allowed", "this transform needs a signature or a preset of the route")
)
