package tusadapter

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/tusext"
)

// tusError makes e a tusd error whose response is Carcosa's JSON.
func tusError(e *apierr.Error, reqID string) error {
	h := tusd.HTTPHeader{
		"Content-Type":           "application/json; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
	}
	if ra := apierr.RetryAfter(e); ra != "" {
		h["Retry-After"] = ra
	}
	return tusd.Error{
		ErrorCode: e.Code,
		Message:   e.Message,
		HTTPResponse: tusd.HTTPResponse{
			StatusCode: e.Status,
			Body:       string(apierr.Marshal(e, reqID)),
			Header:     h,
		},
	}
}

// tusWriter rewrites tusd's plain-text errors into Carcosa's JSON errors, so
// that every error a client sees has one shape and no internal text.
type tusWriter struct {
	http.ResponseWriter
	h       *Handler
	req     *http.Request
	status  int
	capture bool
	body    bytes.Buffer

	// created, for a request about an unfinished upload, is when the
	// upload was created. A successful response tells when it expires
	// (Upload-Expires), which depends on the offset tusd answers.
	created time.Time
}

func (w *tusWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if !w.created.IsZero() && code < 300 {
		off, err := strconv.ParseInt(w.Header().Get("Upload-Offset"), 10, 64)
		received := err == nil && off > 0
		w.Header().Set("Upload-Expires", w.h.host.Expires(w.created, received).UTC().Format(http.TimeFormat))
	}
	if ext := w.Header().Get("Tus-Extension"); ext != "" {
		// The extensions Carcosa adds to tusd's.
		w.Header().Set("Tus-Extension", ext+",checksum,expiration")
		w.Header().Set("Tus-Checksum-Algorithm", tusext.Algorithms)
	}
	if code >= 400 && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		w.capture = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.capture {
		if w.body.Len() < 4096 {
			w.body.Write(p)
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (tusd sets read
// deadlines through it).
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tusdCode is the code of the tusd error being rewritten, if any.
func (w *tusWriter) tusdCode() string {
	if !w.capture {
		return ""
	}
	code, _, _ := strings.Cut(strings.TrimSpace(w.body.String()), ": ")
	return code
}

func (w *tusWriter) finish() {
	if !w.capture {
		return
	}
	code, msg, _ := strings.Cut(strings.TrimSpace(w.body.String()), ": ")
	e := tusdError(w.status, code, msg)
	if e.Status >= 500 {
		w.h.log.ErrorContext(w.req.Context(), "tus request failed", "code", code, "err", msg)
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.ResponseWriter.WriteHeader(e.Status)
	if w.req.Method != http.MethodHead {
		w.ResponseWriter.Write(apierr.Marshal(e, apierr.RequestID(w.req)))
	}
}

// tusdError maps one of tusd's errors to a client error. tusd's messages for
// protocol errors are safe to show; server errors are replaced.
func tusdError(status int, code, msg string) *apierr.Error {
	switch {
	case code == "ERR_READ_TIMEOUT":
		return apierr.ErrIdleTimeout
	case status >= 500:
		return apierr.ErrInternal
	case code == "ERR_UPLOAD_NOT_FOUND" || status == http.StatusNotFound:
		return errNoUpload
	case code == "ERR_UPLOAD_SIZE_EXCEEDED":
		return errLongerThanUpload
	case status == http.StatusRequestEntityTooLarge:
		return apierr.ErrTooLarge
	}
	c := strings.ToLower(strings.TrimPrefix(code, "ERR_"))
	if c == "" || strings.ContainsAny(c, " \n") {
		c = "bad_request"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return apierr.New(status, "tus_"+c, msg)
}
