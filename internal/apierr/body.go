package apierr

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
)

// unreadable is a body that failed for a reason not known to be the
// client's or the server's.
var unreadable = ErrBadRequest.With("the request body could not be read")

// Body maps an error reading a request body, or a file being fetched,
// to a client error.
func Body(err error) error {
	var (
		mbe *http.MaxBytesError
		e   *Error
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &mbe), errors.Is(err, ErrTooLarge):
		return ErrTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrIdleTimeout.Wrap(err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled):
		return ErrBadRequest.With("the request body ended early").Wrap(err)
	}
	return unreadable.Wrap(err)
}

// Multipart maps an error reading the parts of a multipart body.
func Multipart(err error) error {
	e := Body(err)
	if e.(*Error).Message == unreadable.Message {
		return ErrBadRequest.With("the multipart body is malformed").Wrap(err)
	}
	return e
}
