package carcosa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/store"
)

// candidate is a file under verification. Intake (tus or multipart) fills
// what it knows; the stages judge it.
type candidate struct {
	route  routeConfig
	name   string // safe display name
	head   []byte // the first bytes, at most filetype.SniffLen
	typ    filetype.Type
	size   int64  // set before the final checks
	sha256 string // set before the final checks

	// scan is the outcome of the scan made while the bytes streamed, if
	// they were scanned then.
	scan *scanOutcome

	// batch is set for a file settled together with others, all or none
	// (see settleAll).
	batch bool
}

// stage is one step of verification. Stages run in order: every early check
// as soon as the first bytes are known (so a multipart upload of the wrong
// type stops before the rest arrives), every final check once all bytes are
// in and hashed. Scanning and transforms join as further stages.
type stage struct {
	name  string
	early func(ctx context.Context, c *candidate) error
	final func(ctx context.Context, c *candidate) error
}

func defaultStages() []stage {
	return []stage{
		{name: "type", early: checkType},
		{name: "extension", early: checkExtension},
		{name: "polyglot", early: checkPolyglot},
		{name: "size", final: checkSize},
	}
}

func checkType(_ context.Context, c *candidate) error {
	c.typ = filetype.Detect(c.head)
	return acceptType(c.route, c.typ)
}

// acceptType checks that route cfg takes files of type t: executables only
// where it accepts any type.
func acceptType(cfg routeConfig, t filetype.Type) error {
	if !cfg.acceptsAny && filetype.IsExecutable(t) {
		return ErrExecutable
	}
	if !filetype.Accepts(cfg.accept, t) {
		return ErrTypeNotAllowed.With(fmt.Sprintf("files of type %s are not allowed here", t.MIME))
	}
	return nil
}

// digest takes a file's bytes in one pass: it counts and hashes them, and
// streams them to the scanner when there is one.
type digest struct {
	sum hashCounter
	w   io.Writer
	sc  *streamScan
}

// newDigest starts the digest of a file whose first bytes are head,
// scanning it when scan is set.
func (r *Router) newDigest(ctx context.Context, head []byte, scan bool) *digest {
	d := &digest{sum: hashCounter{h: sha256.New()}}
	d.w = &d.sum
	if scan {
		d.sc = r.startScan(ctx)
		d.w = io.MultiWriter(&d.sum, d.sc)
	}
	d.Write(head)
	return d
}

func (d *digest) Write(p []byte) (int, error) { return d.w.Write(p) }

// finish ends the digest; err is the error that ended the bytes, if any.
// It returns the size, the SHA-256 in hex and the scan's outcome (nil
// without a scan).
func (d *digest) finish(err error) (size int64, sha string, scanned *scanOutcome) {
	if d.sc != nil {
		scanned = d.sc.finish(err)
	}
	return d.sum.n, hex.EncodeToString(d.sum.h.Sum(nil)), scanned
}

func checkExtension(_ context.Context, c *candidate) error {
	if !filetype.ExtensionAgrees(safename.Ext(c.name), c.typ) {
		return ErrTypeMismatch.With(fmt.Sprintf("the file's extension does not match its content (%s)", c.typ.MIME))
	}
	return nil
}

func checkPolyglot(_ context.Context, c *candidate) error {
	if !c.route.acceptsAny && filetype.Polyglot(c.head, c.typ) {
		return ErrPolyglot
	}
	return nil
}

func checkSize(_ context.Context, c *candidate) error {
	if c.size > c.route.maxFileSize {
		return ErrTooLarge
	}
	return nil
}

// runEarly runs every early check, in order.
func (r *Router) runEarly(ctx context.Context, c *candidate) error { return r.runStages(ctx, c, false) }

// runFinal runs every final check, in order.
func (r *Router) runFinal(ctx context.Context, c *candidate) error { return r.runStages(ctx, c, true) }

func (r *Router) runStages(ctx context.Context, c *candidate, final bool) error {
	for _, s := range r.stages {
		check := s.early
		if final {
			check = s.final
		}
		if check == nil {
			continue
		}
		if err := check(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// storageKey is where a file is kept: generated from the route, the upload ID
// and the detected type, never from the client's name.
func storageKey(route, id string, t filetype.Type) string {
	return route + "/" + id + t.Extension
}

// processCtx detaches finishing work from the client's request so that a
// disconnect cannot leave a record half-way; ProcessTimeout bounds it.
func (r *Router) processCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ProcessTimeout)
}

// settle finishes a verified file whose bytes are stored at key: it
// records the facts (unless rec, the upload's record, already holds them),
// scans the file (see scanStep), runs OnComplete and marks the upload
// ready. When OnComplete refuses the
// file, the stored object is removed and the upload ends rejected or failed.
// When the store fails, the upload stays processing with its bytes in place,
// and ErrUnavailable is returned: finishing it again resumes here.
//
// OnComplete runs at least once for every ready upload, and more than once
// only if the process stops (or the store fails) between OnComplete's return
// and the ready record being written.
func (r *Router) settle(ctx context.Context, h routeHandler, rec *store.Upload, c *candidate, key string) (*store.Upload, error) {
	rec, result, err := r.completeStored(ctx, h, rec, c, key)
	if err != nil {
		return nil, err
	}
	return r.markReady(ctx, rec, result)
}

// completeStored is settle up to OnComplete: it returns the record, still
// processing, with OnComplete's result, for markReady.
func (r *Router) completeStored(ctx context.Context, h routeHandler, rec *store.Upload, c *candidate, key string) (*store.Upload, json.RawMessage, error) {
	id := rec.ID
	if rec.State != store.Processing || rec.Key != key || rec.Type != c.typ.MIME || rec.Size != c.size || rec.SHA256 != c.sha256 {
		var err error
		if rec, err = r.recordFacts(ctx, id, c, rec.Bucket, key); err != nil {
			return nil, nil, err
		}
	}
	rec, err := r.scanStep(ctx, h, rec, c)
	if err != nil {
		return nil, nil, err
	}
	if rec, err = r.rewriteStep(ctx, h, rec); err != nil {
		return nil, nil, err
	}
	if rec, err = r.derivativesStep(ctx, h, rec); err != nil {
		return nil, nil, err
	}
	if err := r.settleQuota(ctx, rec); err != nil {
		if errors.Is(err, ErrQuotaExceeded) {
			return nil, nil, r.refuseStored(ctx, h, rec, err)
		}
		return nil, nil, err
	}
	result, err := h.complete(ctx, rec.Metadata, r.fileOf(rec))
	if err != nil {
		return nil, nil, r.refuseStored(ctx, h, rec, err)
	}
	return rec, result, nil
}

// markReady marks upload rec, whose OnComplete returned result, ready.
func (r *Router) markReady(ctx context.Context, rec *store.Upload, result json.RawMessage) (*store.Upload, error) {
	rec, err := r.update(ctx, rec.ID, func(u *store.Upload) error {
		u.State = store.Ready
		u.Result = result
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	r.log.InfoContext(ctx, "upload ready", "upload", rec.ID, "route", rec.Route, "size", rec.Size, "type", rec.Type)
	return rec, nil
}

// recordFacts marks upload id processing with what verification found and
// where its bytes are kept: at key in the named bucket.
func (r *Router) recordFacts(ctx context.Context, id string, c *candidate, bucket, key string) (*store.Upload, error) {
	rec, err := r.update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		u.Bucket, u.Key, u.Type, u.Size, u.SHA256 = bucket, key, c.typ.MIME, c.size, c.sha256
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	return rec, nil
}

// unsettled reads upload id for finishing, with its route. A ready upload
// comes back with done set; one that ended otherwise, as its error.
func (r *Router) unsettled(ctx context.Context, id string) (rec *store.Upload, h routeHandler, done bool, err error) {
	rec, err = r.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, ErrNotFound
	}
	if err != nil {
		return nil, nil, false, apierr.Unavailable(err)
	}
	h, ok := r.route(rec.Route)
	if !ok {
		return nil, nil, false, ErrUnknownRoute
	}
	switch rec.State {
	case store.Ready:
		return rec, h, true, nil
	case store.Rejected, store.Failed, store.Quarantined:
		return nil, nil, false, apierr.OfRecord(rec)
	}
	return rec, h, false, nil
}

// refuseStored ends upload rec, whose bytes are stored, for cause: its
// bytes (and derivatives) are removed, then it fails (see fail).
func (r *Router) refuseStored(ctx context.Context, h routeHandler, rec *store.Upload, cause error) error {
	if err := r.deleteStored(ctx, rec); err != nil {
		r.log.ErrorContext(ctx, "removing a refused file", "upload", rec.ID, "err", err)
	}
	return r.fail(ctx, h, rec.ID, cause)
}

// fail ends upload id as rejected (for a client *Error) or failed (for
// anything else), runs OnError, and returns the error the client should see.
// The caller has removed the bytes.
func (r *Router) fail(ctx context.Context, h routeHandler, id string, cause error) error {
	e := apierr.Client(cause)
	state := store.Rejected
	if e.Status >= 500 {
		state = store.Failed
	}
	rec, err := r.update(ctx, id, func(u *store.Upload) error {
		u.State = state
		u.ErrorCode, u.ErrorMessage = e.Code, e.Message
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrTransition) {
			r.log.WarnContext(ctx, "upload already settled", "upload", id)
		} else {
			r.log.ErrorContext(ctx, "recording a failed upload", "upload", id, "err", err)
		}
		return e
	}
	// A file waiting for its scan's retry keeps its bytes, and its quota.
	if e.Code != ErrScanUnavailable.Code {
		r.releaseQuota(ctx, id)
	}
	if state == store.Failed {
		r.log.ErrorContext(ctx, "upload failed", "upload", id, "route", rec.Route, "err", cause)
	} else {
		r.log.InfoContext(ctx, "upload rejected", "upload", id, "route", rec.Route, "code", e.Code)
	}
	if h != nil {
		h.fail(ctx, rec.Metadata, r.fileOf(rec), e)
	}
	return e
}

// fileOf is the callbacks' view of a record.
func (r *Router) fileOf(u *store.Upload) File {
	f := File{
		ID: u.ID, Route: u.Route, Owner: u.Owner, Tenant: u.Tenant, Name: u.Name, Type: u.Type,
		Size: u.Size, SHA256: u.SHA256, Key: u.Key, CreatedAt: u.CreatedAt,
	}
	// A file being completed has the URLs it will be served at.
	if u.State == store.Ready || u.State == store.Processing {
		f.URL = r.keyURL(u)
		f.Derivatives = r.derivativeURLs(u)
	}
	return f
}

// Upload is the JSON record of an upload, as GET B/uploads/{id} answers.
type Upload struct {
	ID string `json:"id"`
	// Owner and Tenant are filled in by the server-side Go API (List, Get)
	// only; they are never sent to clients.
	Owner     string          `json:"-"`
	Tenant    string          `json:"-"`
	Route     string          `json:"route"`
	Name      string          `json:"name"`
	Size      int64           `json:"size"`
	Type      string          `json:"type,omitempty"`
	SHA256    string          `json:"sha256,omitempty"`
	State     string          `json:"state"`
	Key       string          `json:"key,omitempty"`
	URL       string          `json:"url,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *apierr.JSON    `json:"error,omitempty"`

	// Scan is the malware scan's outcome: "clean", "infected", "unscanned"
	// (accepted unscanned by the route's policy) or "released" (found
	// infected, released by an operator); absent when the file was not
	// scanned. Signature names the malware found.
	Scan      string `json:"scan,omitempty"`
	Signature string `json:"signature,omitempty"`

	// Derivatives are the URLs of the file's derivatives, by name.
	Derivatives map[string]string `json:"derivatives,omitempty"`

	// Duration is a video's running time in seconds, when its poster frame
	// was made.
	Duration float64 `json:"duration,omitempty"`
}

func (r *Router) uploadJSON(u *store.Upload) Upload {
	out := Upload{
		ID: u.ID, Route: u.Route, Name: u.Name, Size: u.Size, Type: u.Type,
		SHA256: u.SHA256, State: string(u.State), CreatedAt: u.CreatedAt.UTC(), Result: u.Result,
		Scan: string(u.Scan), Signature: u.Signature, Duration: u.Duration.Seconds(),
	}
	if u.State == store.Ready {
		out.Key = u.Key
		out.URL = r.fileURL(u)
		out.Derivatives = r.derivativeURLs(u)
	}
	if u.ErrorCode != "" {
		out.Error = &apierr.JSON{Code: u.ErrorCode, Message: u.ErrorMessage}
	}
	return out
}
