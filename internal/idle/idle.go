// Package idle cuts off request bodies that stop arriving.
package idle

import (
	"errors"
	"io"
	"log/slog"
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

// Watch puts req's body under the idle timeout d. A ResponseWriter that
// cannot set read deadlines leaves the body as it is, which is logged.
func Watch(log *slog.Logger, w http.ResponseWriter, req *http.Request, d time.Duration) {
	if req.Body == nil || req.Body == http.NoBody {
		return
	}
	b := &idleBody{ReadCloser: req.Body, rc: http.NewResponseController(w), idle: d}
	if err := b.push(); err != nil {
		log.DebugContext(req.Context(), "request bodies are not cut off when idle: the ResponseWriter cannot set read deadlines", "err", err)
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

// Idled reports whether req's body was cut off by Config.IdleTimeout. It
// tells a stall from the cancellation that follows it (net/http cancels a
// request whose connection fails to read), which is what a reader that
// checks its context reports.
func Idled(req *http.Request) bool {
	b, ok := req.Body.(*idleBody)
	return ok && b.idled
}
