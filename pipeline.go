package carcosa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/carcosa-dev/carcosa/filetype"
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
	if !c.route.acceptsAny && filetype.IsExecutable(c.typ) {
		return ErrExecutable
	}
	if !filetype.Accepts(c.route.accept, c.typ) {
		return ErrTypeNotAllowed.with(fmt.Sprintf("files of type %s are not allowed here", c.typ.MIME))
	}
	return nil
}

func checkExtension(_ context.Context, c *candidate) error {
	if !filetype.ExtensionAgrees(safename.Ext(c.name), c.typ) {
		return ErrTypeMismatch.with(fmt.Sprintf("the file's extension does not match its content (%s)", c.typ.MIME))
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
// runs OnComplete and marks the upload ready. When OnComplete refuses the
// file, the stored object is removed and the upload ends rejected or failed.
// When the store fails, the upload stays processing with its bytes in place,
// and ErrUnavailable is returned: finishing it again resumes here.
//
// OnComplete runs at least once for every ready upload, and more than once
// only if the process stops (or the store fails) between OnComplete's return
// and the ready record being written.
func (r *Router) settle(ctx context.Context, h routeHandler, rec *store.Upload, c *candidate, key string) (*store.Upload, error) {
	id := rec.ID
	if rec.State != store.Processing || rec.Key != key || rec.Type != c.typ.MIME || rec.Size != c.size || rec.SHA256 != c.sha256 {
		var err error
		if rec, err = r.recordFacts(ctx, id, c, rec.Bucket, key); err != nil {
			return nil, err
		}
	}
	result, err := h.complete(ctx, rec.Metadata, r.fileOf(rec))
	if err != nil {
		if derr := r.deleteStored(ctx, rec); derr != nil {
			r.log.ErrorContext(ctx, "removing a refused file", "upload", id, "err", derr)
		}
		return nil, r.fail(ctx, h, id, err)
	}
	rec, err = r.store.Update(ctx, id, func(u *store.Upload) error {
		u.State = store.Ready
		u.Result = result
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	r.log.InfoContext(ctx, "upload ready", "upload", id, "route", rec.Route, "size", rec.Size, "type", rec.Type)
	return rec, nil
}

// recordFacts marks upload id processing with what verification found and
// where its bytes are kept: at key in the named bucket.
func (r *Router) recordFacts(ctx context.Context, id string, c *candidate, bucket, key string) (*store.Upload, error) {
	rec, err := r.store.Update(ctx, id, func(u *store.Upload) error {
		u.State = store.Processing
		u.Bucket, u.Key, u.Type, u.Size, u.SHA256 = bucket, key, c.typ.MIME, c.size, c.sha256
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
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
		return nil, nil, false, unavailable(err)
	}
	h, ok := r.route(rec.Route)
	if !ok {
		return nil, nil, false, ErrUnknownRoute
	}
	switch rec.State {
	case store.Ready:
		return rec, h, true, nil
	case store.Rejected, store.Failed, store.Quarantined:
		return nil, nil, false, recordError(rec)
	}
	return rec, h, false, nil
}

// fail ends upload id as rejected (for a client *Error) or failed (for
// anything else), runs OnError, and returns the error the client should see.
// The caller has removed the bytes.
func (r *Router) fail(ctx context.Context, h routeHandler, id string, cause error) error {
	e := clientError(cause)
	state := store.Rejected
	if e.Status >= 500 {
		state = store.Failed
	}
	rec, err := r.store.Update(ctx, id, func(u *store.Upload) error {
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
	return File{
		ID: u.ID, Route: u.Route, Owner: u.Owner, Name: u.Name, Type: u.Type,
		Size: u.Size, SHA256: u.SHA256, Key: u.Key, URL: r.fileURL(u), CreatedAt: u.CreatedAt,
	}
}

// recordError is the error a client sees for a record that ended badly.
// Its status is that of the sentinel with the same code; codes of the
// route's own (from Reject) are 422, and failed uploads 500.
func recordError(u *store.Upload) *Error {
	status := http.StatusUnprocessableEntity
	if e, ok := sentinelsByCode[u.ErrorCode]; ok {
		status = e.Status
	}
	if u.State == store.Failed {
		status = http.StatusInternalServerError
	}
	return NewError(status, u.ErrorCode, u.ErrorMessage)
}

// Upload is the JSON record of an upload, as GET B/uploads/{id} answers.
type Upload struct {
	ID        string          `json:"id"`
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
	Error     *errorJSON      `json:"error,omitempty"`
}

func (r *Router) uploadJSON(u *store.Upload) Upload {
	out := Upload{
		ID: u.ID, Route: u.Route, Name: u.Name, Size: u.Size, Type: u.Type,
		SHA256: u.SHA256, State: string(u.State), CreatedAt: u.CreatedAt.UTC(), Result: u.Result,
	}
	if u.State == store.Ready {
		out.Key = u.Key
		out.URL = r.fileURL(u)
	}
	if u.ErrorCode != "" {
		out.Error = &errorJSON{Code: u.ErrorCode, Message: u.ErrorMessage}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
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
