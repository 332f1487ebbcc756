package carcosa

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// idleBody is a request body whose connection's read deadline stays
// IdleTimeout ahead of the last byte that arrived, so that a client that
// stops sending mid-body is cut off rather than holding the request, and
// what it spooled, for ever.
type idleBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	idle   time.Duration
	pushed time.Time
	idled  bool // a read failed on the deadline
}

// watchIdle puts req's body under Config.IdleTimeout. A ResponseWriter that
// cannot set read deadlines leaves the body as it is.
func (r *Router) watchIdle(w http.ResponseWriter, req *http.Request) {
	if req.Body == nil || req.Body == http.NoBody {
		return
	}
	b := &idleBody{ReadCloser: req.Body, rc: http.NewResponseController(w), idle: r.cfg.IdleTimeout}
	if err := b.push(); err != nil {
		r.log.DebugContext(req.Context(), "request bodies are not cut off when idle: the ResponseWriter cannot set read deadlines", "err", err)
		return
	}
	req.Body = b
}

func (b *idleBody) push() error {
	b.pushed = time.Now()
	return b.rc.SetReadDeadline(b.pushed.Add(b.idle))
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		b.idled = true
	}
	// Pushed at most 16 times per IdleTimeout: a deadline is a timer reset.
	if n > 0 && time.Since(b.pushed) > b.idle/16 {
		b.push()
	}
	return n, err
}

// idled reports whether req's body was cut off by Config.IdleTimeout. It
// tells a stall from the cancellation that follows it (net/http cancels a
// request whose connection fails to read), which is what a reader that
// checks its context reports.
func idled(req *http.Request) bool {
	b, ok := req.Body.(*idleBody)
	return ok && b.idled
}

// errUnreadable is a body that failed for a reason not known to be the
// client's or the server's.
var errUnreadable = ErrBadRequest.With("the request body could not be read")

// bodyError maps an error reading a request body, or a file being fetched,
// to a client error.
func bodyError(err error) error {
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
	return errUnreadable.Wrap(err)
}

// multipartError maps an error reading the parts of a multipart body.
func multipartError(err error) error {
	e := bodyError(err)
	if e.(*Error).Message == errUnreadable.Message {
		return ErrBadRequest.With("the multipart body is malformed").Wrap(err)
	}
	return e
}
