package carcosa

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/store"
)

// This file is the server-side Go API: what a server does with files
// outside a client's upload. Its methods trust their caller; they run no
// route middleware. Use WithActor to name the caller in the audit log.

// ListOptions selects files for Router.List. Empty fields select all: an
// Owner without a Tenant lists that owner name in every tenant, so set
// both when owners are per tenant.
type ListOptions struct {
	Tenant string
	Owner  string
	Route  string
	State  string // "uploading", "processing", "ready", "rejected", "quarantined" or "failed"

	// Cursor continues a listing: pass the previous page's Next.
	Cursor string
	// Limit is the most files per page: 1 to 1000; 0 means 100.
	Limit int
}

// Page is one page of Router.List.
type Page struct {
	Uploads []Upload `json:"uploads"`
	// Next is the cursor of the next page; "" on the last page.
	Next string `json:"next,omitempty"`
}

// List pages through the upload records that opts selects, least recently
// updated first.
func (r *Router) List(ctx context.Context, opts ListOptions) (Page, error) {
	q := store.Query{
		State: store.State(opts.State), Owner: opts.Owner, Tenant: opts.Tenant, Route: opts.Route,
		Limit: opts.Limit,
	}
	if opts.Cursor != "" {
		c, err := decodeCursor(opts.Cursor)
		if err != nil {
			return Page{}, ErrBadRequest.With("the cursor is not one List returned")
		}
		q.After = c
	}
	q, err := q.Check()
	if err != nil {
		return Page{}, ErrBadRequest.With("invalid list options: an unknown state, or a limit outside 1-1000")
	}
	recs, err := r.store.List(ctx, q)
	if err != nil {
		return Page{}, apierr.Unavailable(err)
	}
	p := Page{Uploads: make([]Upload, len(recs))}
	for i, rec := range recs {
		p.Uploads[i] = r.serverJSON(rec)
	}
	if len(recs) == q.Limit {
		p.Next = encodeCursor(recs[len(recs)-1].Cursor())
	}
	return p, nil
}

// serverJSON is uploadJSON with what only the server sees.
func (r *Router) serverJSON(rec *store.Upload) Upload {
	u := r.uploadJSON(rec)
	u.Owner, u.Tenant = rec.Owner, rec.Tenant
	return u
}

func encodeCursor(c store.Cursor) string {
	b, _ := json.Marshal([]string{c.UpdatedAt.UTC().Format(time.RFC3339Nano), c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.Cursor{}, err
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 2 || !lifecycle.ValidID(parts[1]) {
		return store.Cursor{}, errors.New("malformed cursor")
	}
	t, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return store.Cursor{}, err
	}
	return store.Cursor{UpdatedAt: t, ID: parts[1]}, nil
}

// Get returns upload id's record, whoever owns it.
func (r *Router) Get(ctx context.Context, id string) (Upload, error) {
	rec, err := r.engine.Record(ctx, id)
	if err != nil {
		return Upload{}, apierr.API(err)
	}
	return r.serverJSON(rec), nil
}

// Delete removes upload id: its bytes, derivatives, staged bytes and
// record, and gives back its quota. An upload still receiving bytes or
// being processed is ErrConflict; a quarantined one is left to
// DeleteQuarantined.
func (r *Router) Delete(ctx context.Context, id string) error {
	return r.deleteFile(ctx, id, deletion{via: "api", actor: actorOf(ctx), waitUploading: true})
}

// deletion says who deletes an upload and how.
type deletion struct {
	via, actor string // for the audit log
	// waitUploading deletes a resumable upload still receiving bytes once
	// the request bringing them ends; without it, such an upload is a
	// conflict (its client ends it with a tus DELETE).
	waitUploading bool
}

// deleteFile removes upload id (see lifecycle.Engine.Delete) and writes
// the deletion to the audit log.
func (r *Router) deleteFile(ctx context.Context, id string, d deletion) error {
	rec, err := r.engine.Delete(ctx, id, d.waitUploading)
	if err != nil {
		return apierr.API(err)
	}
	r.recordAudit(ctx, store.AuditFileDeleted, d.actor, rec.Tenant, id, map[string]string{"route": rec.Route, "via": d.via})
	return nil
}

// Rename changes upload id's display name (made safe as a client's name
// is). The storage key, and so every URL, stays the same.
func (r *Router) Rename(ctx context.Context, id, name string) (Upload, error) {
	clean := safename.Clean(name)
	if !lifecycle.ValidID(id) {
		return Upload{}, ErrNotFound
	}
	var old string
	rec, err := r.engine.Update(ctx, id, func(u *store.Upload) error {
		old = u.Name
		u.Name = clean
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Upload{}, ErrNotFound
	}
	if err != nil {
		return Upload{}, apierr.Unavailable(err)
	}
	r.recordAudit(ctx, store.AuditFileRenamed, actorOf(ctx), rec.Tenant, id, map[string]string{"from": old, "to": clean})
	return r.serverJSON(rec), nil
}

// SignedURL returns a URL path (under the Router's BasePath) that serves
// ready upload id's file for ttl (Config.SignedURLTTL when 0), whether or
// not its route is public. SignURL signs by storage key instead, without
// looking the file up.
func (r *Router) SignedURL(ctx context.Context, id string, ttl time.Duration) (string, error) {
	rec, err := r.engine.Record(ctx, id)
	if err != nil {
		return "", apierr.API(err)
	}
	if rec.State != store.Ready {
		return "", ErrNotFound.With("the file is not ready")
	}
	if ttl <= 0 {
		ttl = r.cfg.SignedURLTTL
	}
	return r.SignURL(rec.Key, ttl), nil
}

// FromURL says whose a file fetched by UploadFromURL is.
type FromURL struct {
	Owner  string
	Tenant string
	Tier   string // for Config.Rules
	// Name is the file's display name; defaults to the URL path's last
	// segment.
	Name string
	// Metadata is handed to the route's callbacks as their metadata: it
	// must encode to JSON that decodes into the route's M.
	Metadata any
	// Input is the route input to keep with the upload, as JSON.
	Input json.RawMessage
}

// fetchError maps a safefetch error to the *Error a caller sees.
func fetchError(err error) *Error {
	code := safefetch.Code(err)
	switch code {
	case "url_too_large":
		return ErrTooLarge.Wrap(err)
	case "url_forbidden_address", "url_forbidden_scheme", "url_forbidden_port", "url_invalid", "url_too_many_redirects":
		return apierr.Variant(ErrURLRefused, code, err)
	}
	return apierr.Variant(ErrURLFetch, code, err)
}

// fetchedBody reports the errors of a fetched file's body as fetch errors,
// which the upload's record then keeps.
type fetchedBody struct{ io.Reader }

func (b fetchedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = fetchError(err)
	}
	return n, err
}

// UploadFromURL fetches a file from rawURL into route, as if its owner had
// uploaded it: the route's size limit, type checks, scan, derivatives,
// quota and OnComplete apply (its middleware does not run). The fetch is
// safe against server-side request forgery: loopback, private, link-local
// and cloud metadata addresses are refused (also after redirects and DNS
// resolution) unless Config.Fetch allows them, and redirects, time and
// size are capped.
func (r *Router) UploadFromURL(ctx context.Context, route, rawURL string, from FromURL) (Upload, error) {
	h, ok := r.route(route)
	if !ok {
		return Upload{}, ErrUnknownRoute
	}
	cfg := h.Policy()
	meta, err := json.Marshal(from.Metadata)
	if err != nil {
		return Upload{}, ErrBadRequest.With("FromURL.Metadata does not encode to JSON").Wrap(err)
	}
	if err := h.checkInput(from.Input); err != nil {
		return Upload{}, apierr.API(err)
	}
	g := lifecycle.Grant{Owner: from.Owner, Tenant: from.Tenant, Tier: from.Tier, Meta: meta}
	resp, err := r.fetcher.Get(ctx, rawURL)
	if err != nil {
		return Upload{}, fetchError(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > cfg.MaxFileSize {
		return Upload{}, ErrTooLarge.With("the file is larger than this route's limit of " + apierr.FormatSize(cfg.MaxFileSize))
	}
	name := from.Name
	if name == "" {
		name = path.Base(resp.URL.Path)
		if u, err := url.PathUnescape(name); err == nil {
			name = u
		}
		if name == "/" || name == "." || strings.TrimSpace(name) == "" {
			name = "download"
		}
	}
	ctype, _, _ := strings.Cut(resp.ContentType, ";")
	p, err := r.engine.Receive(ctx, h, fetchedBody{resp.Body}, name, strings.TrimSpace(ctype), g, from.Input, resp.ContentLength)
	if err != nil {
		return Upload{}, apierr.API(err)
	}
	rec, err := r.engine.Settle(ctx, h, p)
	if err != nil {
		return Upload{}, apierr.API(err)
	}
	return r.serverJSON(rec), nil
}
