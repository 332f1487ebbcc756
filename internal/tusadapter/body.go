package tusadapter

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/idle"
	"github.com/carcosa-dev/carcosa/internal/tusext"
	"github.com/carcosa-dev/carcosa/store"
)

// verifyChecksum checks the body of a tus request that carries an
// Upload-Checksum (tus's checksum extension) before tusd reads it: the body
// is spooled to disk while hashed, and handed on only when it matches, so a
// corrupted chunk never reaches the upload. It answers the request itself
// when the checksum is malformed, unsupported or wrong (460), and reports
// ok=false; otherwise done releases the spooled body. A body longer than
// limit bytes (when limit ≥ 0) is refused.
func (h *Handler) verifyChecksum(w http.ResponseWriter, req *http.Request, limit int64) (done func(), ok bool) {
	hdr := req.Header.Get("Upload-Checksum")
	if hdr == "" {
		return func() {}, true
	}
	sum, err := tusext.ParseChecksum(hdr)
	if err != nil {
		msg := "Upload-Checksum must be \"<algorithm> <base64 digest>\""
		if errors.Is(err, tusext.ErrUnsupported) {
			msg = "the checksum algorithm is not supported; use one of " + tusext.Algorithms
		}
		h.writeError(w, req, apierr.ErrBadRequest.With(msg).Wrap(err))
		return nil, false
	}
	body, err := tusext.Spool(req.Context(), req.Body, sum, h.tmpDir, limit)
	switch {
	case errors.Is(err, tusext.ErrMismatch):
		h.writeError(w, req, apierr.ErrChecksumMismatch)
		return nil, false
	case errors.Is(err, tusext.ErrTooLarge):
		h.writeError(w, req, errLongerThanUpload)
		return nil, false
	case errors.Is(err, tusext.ErrSpoolWrite):
		h.log.ErrorContext(req.Context(), "spooling a tus request's body", "err", err)
		h.writeError(w, req, apierr.ErrUnavailable.With("the server could not take the request's bytes; try again").Wrap(err))
		return nil, false
	case idle.Idled(req):
		h.writeError(w, req, apierr.ErrIdleTimeout.Wrap(err))
		return nil, false
	case err != nil:
		h.writeError(w, req, apierr.Body(err))
		return nil, false
	}
	req.Body = body
	req.ContentLength = body.Size()
	return func() { body.Close() }, true
}

// errLongerThanUpload refuses a request that sends more bytes than its
// upload's length.
var errLongerThanUpload = apierr.ErrTooLarge.With("the request sends more bytes than the upload's length")

// exactBody passes on at most left bytes of a request body of unknown
// length, and keeps the last of them back until the body's end shows that
// no byte follows. A body longer than left fails with an
// *http.MaxBytesError before its last allowed byte is given, so that it
// never completes the upload it is written to.
type exactBody struct {
	io.ReadCloser
	left     int64
	exceeded bool
	err      error // what to answer once the last byte is given
}

func (b *exactBody) Read(p []byte) (int, error) {
	switch {
	case b.exceeded:
		return 0, &http.MaxBytesError{Limit: b.left}
	case b.err != nil:
		return 0, b.err
	case len(p) == 0:
		return 0, nil
	case b.left > 1:
		p = p[:min(int64(len(p)), b.left-1)]
		n, err := b.ReadCloser.Read(p)
		b.left -= int64(n)
		return n, err
	}
	// The last byte, if any, and one more to see that none follows.
	var two [2]byte
	n, err := io.ReadAtLeast(b.ReadCloser, two[:], 2)
	switch {
	case int64(n) > b.left:
		b.exceeded = true
		return 0, &http.MaxBytesError{Limit: b.left}
	case n == 1:
		p[0] = two[0]
		b.left = 0
		b.err = err
		if err == io.ErrUnexpectedEOF {
			b.err = io.EOF
		}
		return 1, nil
	}
	return 0, err
}

// progressEvery is the most often a request's progress is told while its
// bytes arrive.
const progressEvery = 250 * time.Millisecond

// progressBody tells the Host how far an upload has come as a PATCH's body
// is read: at most every progressEvery, and once more at its end.
type progressBody struct {
	io.ReadCloser
	host   Host
	rec    *store.Upload
	offset int64 // of the upload, after what was read
	read   int64 // by this request
	start  time.Time
	last   time.Time
	ended  bool
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.offset += int64(n)
	b.read += int64(n)
	switch {
	case !b.ended && (err == io.EOF || b.rec.Size >= 0 && b.offset >= b.rec.Size):
		// The body's end, or the upload's: tusd may stop reading at the
		// upload's length without seeing the body end.
		b.ended = true
		b.report()
	case n > 0 && time.Since(b.last) >= progressEvery:
		b.report()
	}
	return n, err
}

func (b *progressBody) report() {
	b.last = time.Now()
	rate := 0.0
	if d := b.last.Sub(b.start).Seconds(); d > 0 {
		rate = float64(b.read) / d
	}
	b.host.Progress(b.rec, b.offset, rate)
}
