package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an error the server answered: its stable code, HTTP status and
// message, as in the server's JSON error body
// {"error": {"code", "message", "fields", "quota", "requestId"}}.
//
// Errors compare by code, so errors.Is(err, client.ErrTooLarge) holds for
// any too_large error whatever its message or status.
type Error struct {
	Status    int          // HTTP status; 0 for a record's error that was not a response
	Code      string       // stable, snake_case; "" when the body was not Carcosa's JSON
	Message   string       // written by the server for the client
	Fields    []FieldError // the failing fields of invalid input, if any
	Quota     *QuotaLeft   // with quota_exceeded: what the quota has left
	RequestID string       // the request's ID in the server's logs

	// RetryAfter is the response's Retry-After, when it had one.
	RetryAfter time.Duration
}

// FieldError names one field of a route's input that failed validation.
type FieldError struct {
	Field string `json:"field"` // JSON path of the field, e.g. "album.title"
	Rule  string `json:"rule"`  // the failed rule, e.g. "required", "max"
	Param string `json:"param,omitempty"`
}

// QuotaLeft is the quota a quota_exceeded upload would have overrun: -1 for
// no limit.
type QuotaLeft struct {
	Scope      string `json:"scope"` // "owner" or "tenant"
	Route      string `json:"route,omitempty"`
	LimitBytes int64  `json:"limitBytes"`
	LimitFiles int64  `json:"limitFiles"`
	UsedBytes  int64  `json:"usedBytes"`
	UsedFiles  int64  `json:"usedFiles"`
	LeftBytes  int64  `json:"leftBytes"`
	LeftFiles  int64  `json:"leftFiles"`
	Size       int64  `json:"size"` // the size the upload asked for
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("carcosa: ")
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (%d)", e.Status)
	}
	return b.String()
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// Temporary reports whether the same request may succeed later: a 5xx, or
// a 408, 409, 423, 429 or 460.
func (e *Error) Temporary() bool {
	switch e.Status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusLocked, http.StatusTooManyRequests, statusChecksumMismatch:
		return true
	}
	return e.Status >= 500
}

func sentinel(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// The server's stable codes. Compare with errors.Is: the status and message
// of the error returned may differ from the sentinel's.
var (
	ErrBadRequest       = sentinel(400, "bad_request", "the request is malformed")
	ErrUnauthorized     = sentinel(401, "unauthorized", "authentication required")
	ErrForbidden        = sentinel(403, "forbidden", "not allowed")
	ErrNotFound         = sentinel(404, "not_found", "not found")
	ErrUnknownRoute     = sentinel(404, "unknown_route", "no such upload route")
	ErrConflict         = sentinel(409, "conflict", "the upload is busy; try again")
	ErrTooLarge         = sentinel(413, "too_large", "the file is larger than this route allows")
	ErrTypeNotAllowed   = sentinel(415, "type_not_allowed", "this type of file is not allowed here")
	ErrTypeMismatch     = sentinel(415, "type_mismatch", "the file's extension does not match its content")
	ErrExecutable       = sentinel(415, "executable_not_allowed", "executable files are not allowed here")
	ErrPolyglot         = sentinel(415, "polyglot_not_allowed", "the file carries content of another type")
	ErrInvalidInput     = sentinel(422, "invalid_input", "the route input is invalid")
	ErrTooManyFiles     = sentinel(400, "too_many_files", "too many files for this route")
	ErrTooFewFiles      = sentinel(400, "too_few_files", "too few files for this route")
	ErrRange            = sentinel(416, "range_not_satisfiable", "no requested range selects a byte of the file")
	ErrSignature        = sentinel(403, "invalid_signature", "the URL signature is missing or invalid")
	ErrExpired          = sentinel(403, "url_expired", "the signed URL has expired")
	ErrMethod           = sentinel(405, "method_not_allowed", "method not allowed")
	ErrInternal         = sentinel(500, "internal", "internal error; try again later")
	ErrSizeMismatch     = sentinel(422, "size_mismatch", "the uploaded file's size differs from the size declared")
	ErrNotUploaded      = sentinel(409, "not_uploaded", "the file has not been uploaded to its URL yet")
	ErrUploadExpired    = sentinel(410, "upload_expired", "the upload was not completed in time")
	ErrNoPresign        = sentinel(501, "presign_unsupported", "this storage cannot sign upload URLs")
	ErrUnavailable      = sentinel(503, "unavailable", "storage is temporarily unavailable; try again")
	ErrInterrupted      = sentinel(503, "interrupted", "the upload was interrupted before it was stored; send it again")
	ErrMalware          = sentinel(422, "malware_detected", "the file contains malware")
	ErrScanUnavailable  = sentinel(503, "scan_unavailable", "the file could not be scanned for malware yet; the scan is retried")
	ErrScanFailed       = sentinel(503, "scan_failed", "the file could not be scanned for malware and was removed; send it again later")
	ErrTooLargeToScan   = sentinel(413, "too_large_to_scan", "the file is larger than the malware scanner examines")
	ErrChecksumMismatch = sentinel(460, "checksum_mismatch", "the request's body does not match its Upload-Checksum")
	ErrQuotaExceeded    = sentinel(429, "quota_exceeded", "the upload would exceed a storage quota")
	ErrRateLimited      = sentinel(429, "rate_limited", "too many requests; try again later")
	ErrBatchRejected    = sentinel(422, "batch_rejected", "another file of the request was refused")
	ErrIdleTimeout      = sentinel(408, "request_timeout", "the request stopped sending its body; send it again")
	ErrMetadataTooLarge = sentinel(431, "metadata_too_large", "the Upload-Metadata header is too large")
)

// sentinels are the errors above by code, for the status of a record's
// error.
var sentinels = func() map[string]*Error {
	m := map[string]*Error{}
	for _, e := range []*Error{
		ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrUnknownRoute, ErrConflict,
		ErrTooLarge, ErrTypeNotAllowed, ErrTypeMismatch, ErrExecutable, ErrPolyglot, ErrInvalidInput,
		ErrTooManyFiles, ErrTooFewFiles, ErrRange, ErrSignature, ErrExpired, ErrMethod, ErrInternal,
		ErrSizeMismatch, ErrNotUploaded, ErrUploadExpired, ErrNoPresign, ErrUnavailable, ErrInterrupted,
		ErrMalware, ErrScanUnavailable, ErrScanFailed, ErrTooLargeToScan, ErrChecksumMismatch,
		ErrQuotaExceeded, ErrRateLimited, ErrBatchRejected, ErrIdleTimeout, ErrMetadataTooLarge,
	} {
		m[e.Code] = e
	}
	return m
}()

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error *struct {
		Code      string       `json:"code"`
		Message   string       `json:"message"`
		Fields    []FieldError `json:"fields"`
		Quota     *QuotaLeft   `json:"quota"`
		RequestID string       `json:"requestId"`
	} `json:"error"`
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// parseError makes the *Error of a response with status, header h and
// (at most maxErrorBody bytes of) body. A body that is not Carcosa's JSON
// error (a proxy's page, say) gives an Error with no code and the status's
// text, never the body's.
func parseError(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, RequestID: h.Get("X-Request-ID")}
	if ra := h.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s > 0 && s < 86400 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	}
	var b errorBody
	if json.Unmarshal(body, &b) == nil && b.Error != nil && b.Error.Code != "" {
		e.Code, e.Message, e.Fields, e.Quota = b.Error.Code, b.Error.Message, b.Error.Fields, b.Error.Quota
		if b.Error.RequestID != "" {
			e.RequestID = b.Error.RequestID
		}
		return e
	}
	e.Message = strings.ToLower(http.StatusText(status))
	if e.Message == "" {
		e.Message = "HTTP status " + strconv.Itoa(status)
	}
	return e
}

// recordError is the error of an upload record that ended in state, with
// the status of the sentinel of its code when there is one (422 for a
// route's own codes, as the server answers them).
func recordError(u *Upload) *Error {
	e := &Error{Status: http.StatusUnprocessableEntity, Code: "upload_" + u.State, Message: "the upload ended " + u.State}
	if u.Error != nil {
		e.Code, e.Message = u.Error.Code, u.Error.Message
	}
	if s, ok := sentinels[e.Code]; ok {
		e.Status = s.Status
	}
	if u.State == StateFailed && e.Status < 500 {
		e.Status = http.StatusInternalServerError
	}
	return e
}

// withMessage returns a copy of e with another message.
func (e *Error) withMessage(m string) *Error {
	c := *e
	c.Message = m
	return &c
}
