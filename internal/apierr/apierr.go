// Package apierr is Carcosa's one error dialect: the Error type every
// client and every caller of the Go API sees, the sentinels by code, and
// how errors are written over HTTP. Package carcosa exports the type and
// the sentinels under its own names.
package apierr

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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

// New returns an *Error.
func New(status int, code, message string) *Error {
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
// sentinel whose more precise variant e is (see Variant).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && (t.Code == e.Code || t == e.kind)
}

// With returns a copy of e with another message.
func (e *Error) With(message string) *Error {
	c := *e
	c.Message = message
	return &c
}

// Wrap returns a copy of e that keeps cause for the logs, errors.Is and
// errors.As; the cause is never sent to a client.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.err = cause
	return &c
}

// Variant returns a copy of kind, with the more precise code, that keeps
// cause and still matches kind with errors.Is.
func Variant(kind *Error, code string, cause error) *Error {
	c := *kind
	c.Code, c.kind, c.err = code, kind, cause
	return &c
}

// byCode finds a sentinel, and so its status, from a stored code.
// Sentinel fills it as the package's variables are initialized.
var byCode = map[string]*Error{}

// Sentinel returns a sentinel error and registers it under its code. Two
// sentinels with one code are a mistake caught at start-up.
func Sentinel(status int, code, message string) *Error {
	if _, dup := byCode[code]; dup {
		panic("carcosa: two sentinel errors have the code " + code)
	}
	e := New(status, code, message)
	byCode[code] = e
	return e
}

// Lookup returns the sentinel with code.
func Lookup(code string) (*Error, bool) {
	e, ok := byCode[code]
	return e, ok
}

// Sentinels returns every sentinel, by code.
func Sentinels() map[string]*Error {
	out := make(map[string]*Error, len(byCode))
	for k, v := range byCode {
		out[k] = v
	}
	return out
}

// Unavailable reports a failing backend (storage or store) as
// ErrUnavailable: the request may succeed if retried. An *Error passes
// through.
func Unavailable(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrUnavailable.Wrap(err)
}

// API is the one mapper of the Go API: every exported method returns its
// errors through it, so that a caller sees only *Error values, which match
// the sentinels with errors.Is. An *Error passes through; a backend's
// not-found becomes ErrNotFound; anything else (a failing store, storage,
// queue or quota backend, a context done, several errors joined) becomes
// ErrUnavailable. The original error is kept as the cause.
func API(err error) error {
	if err == nil {
		return nil
	}
	// Several errors joined (Recover's, Close's) stay together under
	// ErrUnavailable, so that no cause is lost.
	if _, joined := err.(interface{ Unwrap() []error }); joined {
		return ErrUnavailable.Wrap(err)
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, storage.ErrNotFound):
		return ErrNotFound.Wrap(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrUnavailable.With("the operation was canceled or ran out of time").Wrap(err)
	}
	return ErrUnavailable.Wrap(err)
}

// Client maps any error to the *Error a client may see. Errors that are
// not *Error become ErrInternal.
func Client(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal.Wrap(err)
}

// OfRecord is the error a client sees for an upload record that ended
// badly. Its status is that of the sentinel with the same code; codes of a
// route's own (from Reject) are 422, and failed uploads 500 unless their
// code says they may be retried (503).
func OfRecord(u *store.Upload) *Error {
	status := http.StatusUnprocessableEntity
	if e, ok := byCode[u.ErrorCode]; ok {
		status = e.Status
	}
	if u.State == store.Failed && status < 500 {
		status = http.StatusInternalServerError
	}
	return New(status, u.ErrorCode, u.ErrorMessage)
}

// body is the JSON shape of every error response.
type body struct {
	Error JSON `json:"error"`
}

// JSON is an error as clients read it, in error responses and in upload
// records.
type JSON struct {
	Code      string       `json:"code"`
	Message   string       `json:"message"`
	Fields    []FieldError `json:"fields,omitempty"`
	Quota     *QuotaLeft   `json:"quota,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
}

// Marshal renders the response body for e.
func Marshal(e *Error, requestID string) []byte {
	b, _ := json.Marshal(body{Error: JSON{
		Code: e.Code, Message: e.Message, Fields: e.Fields, Quota: e.Quota, RequestID: requestID,
	}})
	return append(b, '\n')
}

// RequestID is the ID of a request as the Router set it.
func RequestID(req *http.Request) string { return req.Header.Get("X-Request-ID") }

// Write writes err as a JSON error response. Internal errors are logged
// with the request's context, which names the request; their text is
// never written.
func Write(log *slog.Logger, w http.ResponseWriter, req *http.Request, err error) {
	e := Client(err)
	id := RequestID(req)
	if e.Status >= 500 {
		log.ErrorContext(req.Context(), "request failed", "method", req.Method, "code", e.Code, "err", err)
	} else {
		log.DebugContext(req.Context(), "request refused", "method", req.Method, "code", e.Code, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if ra := RetryAfter(e); ra != "" {
		h.Set("Retry-After", ra)
	}
	w.WriteHeader(e.Status)
	if req.Method != http.MethodHead {
		w.Write(Marshal(e, id))
	}
}

// WriteJSON writes v as a JSON response that is never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// codedError is an error that carries its own stable code and HTTP status,
// as package auth's do.
type codedError interface {
	error
	Code() string
	Status() int
}

// Middleware is the client's view of an error a route's middleware
// returned: a *Error as it is; an error with its own code and status (such
// as package auth's) with them, its message if it offers one that is safe
// for clients (a Message method) and its Retry-After; anything else 403.
func Middleware(err error) *Error {
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
		out := New(c.Status(), c.Code(), msg).Wrap(err)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			out.RetryAfter = ra.RetryAfter()
		}
		return out
	}
	return ErrForbidden.Wrap(err)
}

// RetryAfter is the Retry-After header for e, in whole seconds rounded up:
// e.RetryAfter when set, 1 for a 503, "" otherwise.
func RetryAfter(e *Error) string {
	switch {
	case e.RetryAfter > 0:
		return strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10)
	case e.Status == http.StatusServiceUnavailable:
		return "1"
	}
	return ""
}
