package carcosa

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// Error is the one error type a client ever sees: a stable machine code, an
// HTTP status and a message written for the client. Errors of any other type
// reach clients only as a generic "internal" error; their text is logged,
// never sent.
//
// Errors compare by code, so errors.Is(err, carcosa.ErrTooLarge) holds for
// any too_large error whatever its message.
type Error struct {
	Status  int          // HTTP status
	Code    string       // stable, snake_case
	Message string       // for the client; never internal detail
	Fields  []FieldError // the failing fields of invalid input, if any

	// Quota, with quota_exceeded, says which quota the upload would have
	// overrun and what it has left.
	Quota *QuotaLeft

	// RetryAfter, when positive, is sent as the Retry-After header: with
	// rate_limited, when the next request may succeed.
	RetryAfter time.Duration

	err  error  // the cause, for logs and errors.Unwrap; never sent
	kind *Error // a sentinel e also matches, when its code is more precise
}

// FieldError names one field of a route's input that failed validation.
type FieldError struct {
	Field string `json:"field"` // JSON path of the field, e.g. "album.title"
	Rule  string `json:"rule"`  // the failed rule, e.g. "required", "max"
	Param string `json:"param,omitempty"`
}

// NewError returns an *Error. Middleware and callbacks return one to send the
// client a specific status and code.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

func (e *Error) Error() string {
	if e.err != nil {
		return e.Code + ": " + e.Message + ": " + e.err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is an *Error with the same code, or the
// sentinel whose more precise variant e is (ErrURLRefused, ErrURLFetch).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && (t.Code == e.Code || t == e.kind)
}

// with returns a copy of e with another message.
func (e *Error) with(message string) *Error {
	c := *e
	c.Message = message
	return &c
}

// wrap returns a copy of e that keeps cause for the logs.
func (e *Error) wrap(cause error) *Error {
	c := *e
	c.err = cause
	return &c
}

// The sentinel errors. Compare with errors.Is; derive messages with
// NewError or the helpers below. Every sentinel of the package, here and
// beside the code that returns it, is made by sentinel, so that
// sentinelsByCode knows them all.
var (
	ErrBadRequest     = sentinel(http.StatusBadRequest, "bad_request", "the request is malformed")
	ErrUnauthorized   = sentinel(http.StatusUnauthorized, "unauthorized", "authentication required")
	ErrForbidden      = sentinel(http.StatusForbidden, "forbidden", "not allowed")
	ErrNotFound       = sentinel(http.StatusNotFound, "not_found", "not found")
	ErrUnknownRoute   = sentinel(http.StatusNotFound, "unknown_route", "no such upload route")
	ErrConflict       = sentinel(http.StatusConflict, "conflict", "the upload is busy; try again")
	ErrTooLarge       = sentinel(http.StatusRequestEntityTooLarge, "too_large", "the file is larger than this route allows")
	ErrTypeNotAllowed = sentinel(http.StatusUnsupportedMediaType, "type_not_allowed", "this type of file is not allowed here")
	ErrTypeMismatch   = sentinel(http.StatusUnsupportedMediaType, "type_mismatch", "the file's extension does not match its content")
	ErrExecutable     = sentinel(http.StatusUnsupportedMediaType, "executable_not_allowed", "executable files are not allowed here")
	ErrPolyglot       = sentinel(http.StatusUnsupportedMediaType, "polyglot_not_allowed", "the file carries content of another type")
	ErrInvalidInput   = sentinel(http.StatusUnprocessableEntity, "invalid_input", "the route input is invalid")
	ErrTooManyFiles   = sentinel(http.StatusBadRequest, "too_many_files", "too many files for this route")
	ErrTooFewFiles    = sentinel(http.StatusBadRequest, "too_few_files", "too few files for this route")
	ErrRange          = sentinel(http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", "no requested range selects a byte of the file")
	ErrSignature      = sentinel(http.StatusForbidden, "invalid_signature", "the URL signature is missing or invalid")
	ErrExpired        = sentinel(http.StatusForbidden, "url_expired", "the signed URL has expired")
	ErrMethod         = sentinel(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	ErrInternal       = sentinel(http.StatusInternalServerError, "internal", "internal error; try again later")
	ErrSizeMismatch   = sentinel(http.StatusUnprocessableEntity, "size_mismatch", "the uploaded file's size differs from the size declared")
	ErrNotUploaded    = sentinel(http.StatusConflict, "not_uploaded", "the file has not been uploaded to its URL yet")
	ErrUploadExpired  = sentinel(http.StatusGone, "upload_expired", "the upload was not completed in time")
	ErrNoPresign      = sentinel(http.StatusNotImplemented, "presign_unsupported", "this storage cannot sign upload URLs")
	ErrUnavailable    = sentinel(http.StatusServiceUnavailable, "unavailable", "storage is temporarily unavailable; try again")
	ErrInterrupted    = sentinel(http.StatusServiceUnavailable, "interrupted", "the upload was interrupted before it was stored; send it again")

	// ErrMalware ends an upload quarantined: the scanner found malware.
	ErrMalware = sentinel(http.StatusUnprocessableEntity, "malware_detected", "the file contains malware")
	// ErrScanUnavailable: the scanner failed or timed out. The upload is
	// failed and not served; its bytes are kept and the scan is retried
	// in the background.
	ErrScanUnavailable = sentinel(http.StatusServiceUnavailable, "scan_unavailable", "the file could not be scanned for malware yet; the scan is retried")
	// ErrScanFailed: the scan was retried until the queue gave up; the
	// file was removed.
	ErrScanFailed = sentinel(http.StatusServiceUnavailable, "scan_failed", "the file could not be scanned for malware and was removed; send it again later")
	// ErrTooLargeToScan: the file is larger than the scanner examines and
	// the route does not accept unscanned files.
	ErrTooLargeToScan = sentinel(http.StatusRequestEntityTooLarge, "too_large_to_scan", "the file is larger than the malware scanner examines")
	// ErrChecksumMismatch: a tus request's body does not match its
	// Upload-Checksum; its bytes were discarded.
	ErrChecksumMismatch = sentinel(460, "checksum_mismatch", "the request's body does not match its Upload-Checksum")
	// ErrQuotaExceeded: the upload would take its owner or tenant over a
	// quota. 429 while deleting files would make room; 413 when the file
	// alone is larger than the quota. The error's Quota says what is left.
	ErrQuotaExceeded = sentinel(http.StatusTooManyRequests, "quota_exceeded", "the upload would exceed a storage quota")
	// ErrRateLimited: too many requests; the Retry-After header says when
	// to try again.
	ErrRateLimited = sentinel(http.StatusTooManyRequests, "rate_limited", "too many requests; try again later")
	// ErrBatchRejected ends a file of a multipart request when another
	// file of the request is refused: the request is all or nothing.
	ErrBatchRejected = sentinel(http.StatusUnprocessableEntity, "batch_rejected", "another file of the request was refused")
	// ErrIdleTimeout: the request's body stopped arriving for longer than
	// Config.IdleTimeout; it was cut off and what it had sent discarded.
	ErrIdleTimeout = sentinel(http.StatusRequestTimeout, "request_timeout", "the request stopped sending its body; send it again")
	// ErrMetadataTooLarge: a tus creation's Upload-Metadata is larger than
	// MaxTusMetadata, not counting the route input (which has its own
	// limit of 64 KiB).
	ErrMetadataTooLarge = sentinel(http.StatusRequestHeaderFieldsTooLarge, "metadata_too_large", "the Upload-Metadata header is too large")
)

// unavailable reports a failing backend (storage or store) as ErrUnavailable:
// the request may succeed if retried. Client errors pass through.
func unavailable(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrUnavailable.wrap(err)
}

// sentinelsByCode finds a sentinel, and so its status, from a stored code.
// sentinel fills it as the package's variables are initialized.
var sentinelsByCode = map[string]*Error{}

// sentinel returns a sentinel error and registers it in sentinelsByCode.
// Two sentinels with one code are a mistake caught at start-up.
func sentinel(status int, code, message string) *Error {
	if _, dup := sentinelsByCode[code]; dup {
		panic("carcosa: two sentinel errors have the code " + code)
	}
	e := NewError(status, code, message)
	sentinelsByCode[code] = e
	return e
}

// apiError is the one mapper of the Go API: every exported method returns
// its errors through it, so that a caller sees only *Error values, which
// match the sentinels with errors.Is. An *Error passes through; a backend's
// not-found becomes ErrNotFound; anything else (a failing store, storage,
// queue or quota backend, a context done, several errors joined) becomes
// ErrUnavailable. The original error is kept as the cause, for logs,
// errors.Is and errors.As.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	// Several errors joined (Recover's, Close's) stay together under
	// ErrUnavailable, so that no cause is lost.
	if _, joined := err.(interface{ Unwrap() []error }); joined {
		return ErrUnavailable.wrap(err)
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, storage.ErrNotFound):
		return ErrNotFound.wrap(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrUnavailable.with("the operation was canceled or ran out of time").wrap(err)
	}
	return ErrUnavailable.wrap(err)
}

// Unauthorized returns an error for middleware: the caller is not signed in.
func Unauthorized(message string) *Error { return ErrUnauthorized.with(message) }

// Forbidden returns an error for middleware: the caller may not upload here.
func Forbidden(message string) *Error { return ErrForbidden.with(message) }

// Reject returns an error for a completion callback that refuses a file: the
// upload ends rejected with this code and a 422 status.
func Reject(code, message string) *Error {
	return NewError(http.StatusUnprocessableEntity, code, message)
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code      string       `json:"code"`
	Message   string       `json:"message"`
	Fields    []FieldError `json:"fields,omitempty"`
	Quota     *QuotaLeft   `json:"quota,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
}

// clientError maps any error to the *Error a client may see. Errors that are
// not *Error become ErrInternal.
func clientError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal.wrap(err)
}

// errorJSONBytes renders the body for e.
func errorJSONBytes(e *Error, requestID string) []byte {
	b, _ := json.Marshal(errorBody{Error: errorJSON{
		Code: e.Code, Message: e.Message, Fields: e.Fields, Quota: e.Quota, RequestID: requestID,
	}})
	return append(b, '\n')
}

// writeError writes err as a JSON error response. Internal errors are logged
// with the request ID; their text is never written.
func (r *Router) writeError(w http.ResponseWriter, req *http.Request, err error) {
	e := clientError(err)
	id := requestID(req)
	if e.Status >= 500 {
		r.log.ErrorContext(req.Context(), "request failed", "request_id", id, "method", req.Method, "code", e.Code, "err", err)
	} else {
		r.log.DebugContext(req.Context(), "request refused", "request_id", id, "method", req.Method, "code", e.Code, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if ra := retryAfter(e); ra != "" {
		h.Set("Retry-After", ra)
	}
	w.WriteHeader(e.Status)
	if req.Method != http.MethodHead {
		w.Write(errorJSONBytes(e, id))
	}
}

// codedError is an error that carries its own stable code and HTTP status,
// as package auth's do.
type codedError interface {
	error
	Code() string
	Status() int
}

// middlewareError is the client's view of an error a route's middleware
// returned: a *Error as it is; an error with its own code and status (such
// as package auth's) with them, its message if it offers one that is safe
// for clients (a Message method) and its Retry-After; anything else 403.
func middlewareError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var c codedError
	if errors.As(err, &c) && c.Status() >= 400 && c.Status() <= 599 && c.Code() != "" {
		msg := http.StatusText(c.Status())
		var m interface{ Message() string }
		if errors.As(err, &m) {
			msg = m.Message()
		}
		out := NewError(c.Status(), c.Code(), msg).wrap(err)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			out.RetryAfter = ra.RetryAfter()
		}
		return out
	}
	return ErrForbidden.wrap(err)
}

// retryAfter is the Retry-After header for e, in whole seconds rounded up:
// e.RetryAfter when set, 1 for a 503, "" otherwise.
func retryAfter(e *Error) string {
	switch {
	case e.RetryAfter > 0:
		return strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10)
	case e.Status == http.StatusServiceUnavailable:
		return "1"
	}
	return ""
}
