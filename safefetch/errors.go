package safefetch

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
)

// Errors a fetch returns, wrapped with detail; compare with errors.Is.
var (
	// ErrForbiddenAddress: the URL's host is, or resolves to, an address the
	// client may not connect to.
	ErrForbiddenAddress = errors.New("safefetch: forbidden address")
	// ErrForbiddenScheme: the URL's scheme is not one of Options.Schemes.
	ErrForbiddenScheme = errors.New("safefetch: forbidden scheme")
	// ErrForbiddenPort: the URL's port is not one of Options.AllowedPorts.
	ErrForbiddenPort = errors.New("safefetch: forbidden port")
	// ErrTooManyRedirects: more than Options.MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("safefetch: too many redirects")
	// ErrTooLarge: the body is longer than Options.MaxBytes.
	ErrTooLarge = errors.New("safefetch: body too large")
	// ErrStatus: the final answer was not 2xx; errors.As with a
	// *StatusError gives the status.
	ErrStatus = errors.New("safefetch: unexpected status")
	// ErrBadURL: the URL cannot be parsed, is not absolute, has user
	// information, or its host is malformed.
	ErrBadURL = errors.New("safefetch: invalid URL")
)

// StatusError is the error for a non-2xx answer. It matches [ErrStatus].
type StatusError struct {
	Status int // the HTTP status code received
}

func (e *StatusError) Error() string {
	return ErrStatus.Error() + ": " + strconv.Itoa(e.Status)
}

// Is reports whether target is ErrStatus.
func (e *StatusError) Is(target error) bool { return target == ErrStatus }

// Code returns a stable snake_case code for an error from a [Client]:
// "url_forbidden_address", "url_forbidden_scheme", "url_forbidden_port",
// "url_too_many_redirects", "url_too_large", "url_bad_status",
// "url_invalid", "url_timeout", or "url_unreachable" for any other failure
// (refused connections, TLS and DNS errors, cancellation). It returns "" for
// a nil error.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrForbiddenAddress):
		return "url_forbidden_address"
	case errors.Is(err, ErrForbiddenScheme):
		return "url_forbidden_scheme"
	case errors.Is(err, ErrForbiddenPort):
		return "url_forbidden_port"
	case errors.Is(err, ErrTooManyRedirects):
		return "url_too_many_redirects"
	case errors.Is(err, ErrTooLarge):
		return "url_too_large"
	case errors.Is(err, ErrStatus):
		return "url_bad_status"
	case errors.Is(err, ErrBadURL):
		return "url_invalid"
	case isTimeout(err):
		return "url_timeout"
	default:
		return "url_unreachable"
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// WithoutURL returns err without the URL that net/http's errors quote
// (*url.Error: `Get "https://host/path?sig=…": …`), keeping the method
// and the cause, which errors.Is and errors.As still find. A URL's path
// and query may hold a signature or a token: errors that are logged or
// kept must not.
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &urlless{op: ue.Op, err: ue.Err}
	}
	return err
}

// urlless is a *url.Error without its URL.
type urlless struct {
	op  string
	err error
}

func (e *urlless) Error() string { return e.op + ": " + e.err.Error() }
func (e *urlless) Unwrap() error { return e.err }
func (e *urlless) Timeout() bool {
	t, ok := e.err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}
func (e *urlless) Temporary() bool {
	t, ok := e.err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}
