package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// UploadOptions are the optional parts of an upload. A nil *UploadOptions
// means none.
type UploadOptions struct {
	// Input is the route's input, sent as JSON (a json.RawMessage is sent
	// as it is).
	Input any
	// ContentType is the file's MIME type as the client believes it. The
	// server judges the type from the bytes; it may use this one to refuse
	// a file early.
	ContentType string
	// OnProgress is called as bytes are sent, with the bytes of the file
	// sent so far and its size. After a dropped connection sent goes back
	// to what the server has.
	OnProgress func(sent, total int64)

	// ResumeURL is the tus URL of an upload of the same bytes begun
	// earlier (see OnCreate): Upload asks the server how much of it
	// arrived and sends the rest. When the server no longer knows it (404,
	// or 410 when it expired), Upload starts a new upload.
	ResumeURL string
	// OnCreate, when set, is called with the tus URL of a new upload as
	// soon as the server has created it, before its bytes are sent, so
	// that a program may keep it and pass it as ResumeURL after an
	// interruption.
	OnCreate func(url string)
}

// ErrDigestMismatch is returned, with the record, when the server's SHA-256
// of a ready upload differs from that of the bytes Upload read.
var ErrDigestMismatch = errors.New("client: the server's SHA-256 of the file differs from the bytes sent")

// UploadFile uploads the file at path to route, under its base name: see
// Upload.
func (c *Client) UploadFile(ctx context.Context, route, path string, opts *UploadOptions) (*Upload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("client: %s is not a regular file", path)
	}
	return c.Upload(ctx, route, filepath.Base(path), f, fi.Size(), opts)
}

// Upload sends size bytes from r to route as a file named name, by tus
// (B/tus/), in chunks of Options.ChunkSize, each with its SHA-256 in
// Upload-Checksum when the server offers the checksum extension, and
// returns the upload's record once it is in a final state. A dropped
// connection, or an answer that the request may succeed later, is retried
// under Options.Retry, from the offset the server reports: r is read
// again from there. Memory does not grow with size: each chunk is read
// twice from r, once to hash it and once to send it.
//
// A refused upload (a 4xx other than those retried) returns an *Error with
// the server's code, and the record when there is one (rejected). An upload
// that ends quarantined, rejected or failed after its bytes were in returns
// its record and the record's error (Upload.Err). The SHA-256 of the bytes
// read is checked against the record's: see ErrDigestMismatch.
func (c *Client) Upload(ctx context.Context, route, name string, r io.ReadSeeker, size int64, opts *UploadOptions) (*Upload, error) {
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	if size < 0 {
		return nil, fmt.Errorf("client: the size %d is negative", size)
	}
	meta, err := metadata(route, name, o)
	if err != nil {
		return nil, err
	}
	t := &tusUpload{c: c, r: r, size: size, whole: sha256.New(), progress: o.OnProgress, buf: make([]byte, 64<<10)}
	if t.checksum, err = c.supportsChecksum(ctx); err != nil {
		return nil, err
	}
	if o.ResumeURL != "" {
		t.loc = o.ResumeURL
		t.id = path.Base(strings.TrimRight(o.ResumeURL, "/"))
		rec, err := t.resume(ctx)
		switch {
		case rec != nil:
			return rec, err
		case errors.Is(err, errGone):
			t.loc, t.id = "", ""
		case err != nil:
			return nil, err
		}
	}
	if t.loc == "" {
		state, err := t.create(ctx, meta)
		if err != nil {
			return nil, err
		}
		if o.OnCreate != nil {
			o.OnCreate(t.loc)
		}
		if state != "" {
			return t.settle(ctx, state)
		}
	}
	return t.send(ctx)
}

// metadata is the Upload-Metadata of an upload.
func metadata(route, name string, o UploadOptions) (string, error) {
	if route == "" {
		return "", errors.New("client: no route given")
	}
	if name == "" {
		return "", errors.New("client: no file name given")
	}
	b64 := base64.StdEncoding.EncodeToString
	pairs := []string{"route " + b64([]byte(route)), "filename " + b64([]byte(name))}
	if o.ContentType != "" {
		pairs = append(pairs, "filetype "+b64([]byte(o.ContentType)))
	}
	if o.Input != nil {
		in, err := json.Marshal(o.Input)
		if err != nil {
			return "", fmt.Errorf("client: encoding the input: %w", err)
		}
		pairs = append(pairs, "input "+b64(in))
	}
	return strings.Join(pairs, ","), nil
}

// supportsChecksum reports whether the server takes Upload-Checksum with
// sha256, as its OPTIONS answer says; it asks once per Client.
func (c *Client) supportsChecksum(ctx context.Context) (bool, error) {
	c.mu.Lock()
	known := c.checksum
	c.mu.Unlock()
	if known != nil {
		return *known, nil
	}
	ok := false
	resp, err := c.send(ctx, http.MethodOptions, c.URL("/tus/"), nil, nil)
	var e *Error
	switch {
	case err == nil:
		ok = hasToken(resp.header.Get("Tus-Extension"), "checksum") &&
			hasToken(resp.header.Get("Tus-Checksum-Algorithm"), "sha256")
	case errors.As(err, &e) && e.Status < 500:
		// A server that does not answer OPTIONS offers no checksum.
	default:
		return false, err
	}
	c.mu.Lock()
	c.checksum = &ok
	c.mu.Unlock()
	return ok, nil
}

func hasToken(list, token string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

func tusHeader() http.Header { return http.Header{"Tus-Resumable": {"1.0.0"}} }

// errGone is sync's error for an upload the server no longer has.
var errGone = errors.New("client: the upload is gone")

// tusUpload is one upload under way.
type tusUpload struct {
	c        *Client
	r        io.ReadSeeker
	size     int64
	loc, id  string
	off      int64 // what the server has, as last heard
	checksum bool
	progress func(sent, total int64)
	buf      []byte

	// whole hashes the file's first hashed bytes, each once, to check the
	// server's SHA-256 at the end.
	whole  hash.Hash
	hashed int64
}

// create makes the upload and returns its state when the creation's
// answer has one (an empty file is complete at once).
func (t *tusUpload) create(ctx context.Context, meta string) (string, error) {
	h := tusHeader()
	h.Set("Upload-Length", strconv.FormatInt(t.size, 10))
	h.Set("Upload-Metadata", meta)
	target := t.c.URL("/tus/")
	resp, err := t.c.send(ctx, http.MethodPost, target, h, nil)
	if err != nil {
		return "", err
	}
	loc := resp.header.Get("Location")
	if loc == "" {
		return "", errors.New("client: the tus creation answered no Location")
	}
	base, _ := t.c.base.Parse(target)
	u, err := base.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("client: the tus creation answered a bad Location: %w", err)
	}
	t.loc, t.id = u.String(), path.Base(u.Path)
	return resp.header.Get("Upload-State"), nil
}

// send sends the bytes from the server's offset on, and returns the final
// record.
func (t *tusUpload) send(ctx context.Context) (*Upload, error) {
	failures := 0
	needSync := false
	for {
		if needSync {
			before := t.off
			rec, err := t.sync(ctx)
			if t.off > before {
				failures = 0
			}
			switch {
			case rec != nil:
				return rec, err
			case errors.Is(err, errGone):
				return nil, ErrNotFound.withMessage("the upload is gone from the server")
			case err != nil:
				failures++
				if berr := t.c.backoff(ctx, failures, err); berr != nil {
					return nil, berr
				}
				continue
			}
			needSync = false
		}
		if t.off == t.size {
			// Every byte is in but no state was told: the record will say.
			rec, err := t.c.Wait(ctx, t.id)
			if err != nil {
				return nil, err
			}
			return t.finish(rec)
		}
		before := t.off
		state, err := t.patch(ctx)
		if t.off > before {
			failures = 0
		}
		if err == nil {
			if state != "" {
				return t.settle(ctx, state)
			}
			continue
		}
		if !retryable(ctx, err) {
			return t.refused(ctx, err)
		}
		failures++
		if berr := t.c.backoff(ctx, failures, err); berr != nil {
			return nil, berr
		}
		needSync = true
	}
}

// resume is sync, retried under the policy.
func (t *tusUpload) resume(ctx context.Context) (*Upload, error) {
	for n := 1; ; n++ {
		rec, err := t.sync(ctx)
		if rec != nil || err == nil || errors.Is(err, errGone) {
			return rec, err
		}
		if berr := t.c.backoff(ctx, n, err); berr != nil {
			return nil, berr
		}
	}
}

// sync asks the server (HEAD) for the upload's offset. When the upload is
// past receiving bytes, it returns the final record (and its outcome as
// an error); errGone when the server does not know the upload.
func (t *tusUpload) sync(ctx context.Context) (*Upload, error) {
	resp, err := t.c.sendOnce(ctx, http.MethodHead, t.loc, tusHeader(), nil)
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusNotFound, http.StatusGone:
			return nil, errGone
		case http.StatusLocked, http.StatusConflict:
			return nil, err
		}
		// A HEAD's error has no body: the record tells why, and whether
		// the upload is over.
		if rec, gerr := t.c.Get(ctx, t.id); gerr == nil && rec.Final() {
			return t.finish(rec)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if l := resp.header.Get("Upload-Length"); l != "" && l != strconv.FormatInt(t.size, 10) {
		return nil, &noRetryError{fmt.Errorf("client: the upload at %s is %s bytes long, not %d: another file's", t.loc, l, t.size)}
	}
	off, perr := strconv.ParseInt(resp.header.Get("Upload-Offset"), 10, 64)
	if perr != nil || off < 0 || off > t.size {
		return nil, &noRetryError{fmt.Errorf("client: the server answered the offset %q", resp.header.Get("Upload-Offset"))}
	}
	t.off = off
	t.report(off)
	if state := resp.header.Get("Upload-State"); state != "" {
		return t.settle(ctx, state)
	}
	return nil, nil
}

// patch sends one chunk from t.off and returns the Upload-State of its
// answer, if any.
func (t *tusUpload) patch(ctx context.Context) (string, error) {
	off := t.off
	n := min(t.c.chunk, t.size-off)
	h := tusHeader()
	h.Set("Content-Type", "application/offset+octet-stream")
	h.Set("Upload-Offset", strconv.FormatInt(off, 10))
	if err := t.hashChunk(off, n, h); err != nil {
		return "", err
	}
	if _, err := t.r.Seek(off, io.SeekStart); err != nil {
		return "", &noRetryError{fmt.Errorf("client: seeking the file: %w", err)}
	}
	body := &progressReader{r: io.LimitReader(t.r, n), t: t, at: off}
	req, err := t.c.newRequest(ctx, http.MethodPatch, t.loc, body)
	if err != nil {
		return "", &noRetryError{err}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.ContentLength = n
	resp, err := t.c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return "", parseError(resp.StatusCode, resp.Header, b)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	got, perr := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if perr != nil || got < off || got > t.size {
		return "", &noRetryError{fmt.Errorf("client: the server answered the offset %q to a PATCH at %d", resp.Header.Get("Upload-Offset"), off)}
	}
	t.off = got
	return resp.Header.Get("Upload-State"), nil
}

// hashChunk reads the n bytes at off once, for the chunk's Upload-Checksum
// (set in h when the server takes it) and for the whole file's SHA-256
// (bytes it has not hashed yet, catching up from its last byte first).
func (t *tusUpload) hashChunk(off, n int64, h http.Header) error {
	if t.hashed < off {
		if err := t.read(t.whole, t.hashed, off-t.hashed); err != nil {
			return err
		}
		t.hashed = off
	}
	if !t.checksum && t.hashed >= off+n {
		return nil
	}
	sum := sha256.New()
	var w io.Writer = sum
	if t.hashed == off {
		w = io.MultiWriter(sum, t.whole)
	}
	if err := t.read(w, off, n); err != nil {
		return err
	}
	if t.hashed == off {
		t.hashed = off + n
	}
	if t.checksum {
		h.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(sum.Sum(nil)))
	}
	return nil
}

// read copies the n bytes of the file at off to w.
func (t *tusUpload) read(w io.Writer, off, n int64) error {
	if _, err := t.r.Seek(off, io.SeekStart); err != nil {
		return &noRetryError{fmt.Errorf("client: seeking the file: %w", err)}
	}
	got, err := io.CopyBuffer(w, io.LimitReader(t.r, n), t.buf)
	if err == nil && got < n {
		err = fmt.Errorf("the file ended at %d bytes, not %d", off+got, t.size)
	}
	if err != nil {
		return &noRetryError{fmt.Errorf("client: reading the file: %w", err)}
	}
	return nil
}

func (t *tusUpload) report(sent int64) {
	if t.progress != nil {
		t.progress(sent, t.size)
	}
}

// progressReader reports the bytes of a chunk as the request reads them.
type progressReader struct {
	r  io.Reader
	t  *tusUpload
	at int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.at += int64(n)
		p.t.report(p.at)
	}
	return n, err
}

// settle returns the record of an upload whose answer said state.
func (t *tusUpload) settle(ctx context.Context, state string) (*Upload, error) {
	var rec *Upload
	var err error
	if state != StateProcessing {
		if rec, err = t.c.Get(ctx, t.id); err != nil {
			return nil, err
		}
	}
	if rec == nil || !rec.Final() {
		if rec, err = t.c.Wait(ctx, t.id); err != nil {
			return nil, err
		}
	}
	return t.finish(rec)
}

// finish is the outcome of an upload whose record is final.
func (t *tusUpload) finish(rec *Upload) (*Upload, error) {
	if err := rec.Err(); err != nil {
		return rec, err
	}
	return rec, t.check(rec)
}

// check compares a ready record's SHA-256 with the bytes read, when every
// byte was read in this call.
func (t *tusUpload) check(rec *Upload) error {
	if err := rec.Err(); err != nil {
		return err
	}
	if rec.State != StateReady || rec.SHA256 == "" || t.hashed != t.size {
		return nil
	}
	if got := hex.EncodeToString(t.whole.Sum(nil)); !strings.EqualFold(got, rec.SHA256) {
		return fmt.Errorf("%w: %s on the server, %s read", ErrDigestMismatch, rec.SHA256, got)
	}
	return nil
}

// refused returns a refusal, with the upload's record when it is final.
func (t *tusUpload) refused(ctx context.Context, err error) (*Upload, error) {
	var e *Error
	if t.id == "" || !errors.As(err, &e) {
		return nil, err
	}
	if rec, gerr := t.c.Get(ctx, t.id); gerr == nil && rec.Final() {
		return rec, err
	}
	return nil, err
}
