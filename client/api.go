package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The states of an upload.
const (
	StateUploading   = "uploading"
	StateProcessing  = "processing"
	StateReady       = "ready"
	StateRejected    = "rejected"    // bad type, size or input, or refused by the route
	StateQuarantined = "quarantined" // malware
	StateFailed      = "failed"      // internal; send the file again
)

// Final reports whether state is one an upload never leaves: ready,
// rejected, quarantined or failed.
func Final(state string) bool {
	switch state {
	case StateReady, StateRejected, StateQuarantined, StateFailed:
		return true
	}
	return false
}

// Upload is an upload's record, as GET B/uploads/{id} answers it. URL and
// Derivatives are made absolute against the Client's base URL.
type Upload struct {
	ID        string          `json:"id"`
	Route     string          `json:"route"`
	Name      string          `json:"name"`
	Size      int64           `json:"size"`
	Type      string          `json:"type,omitempty"`   // from the file's content
	SHA256    string          `json:"sha256,omitempty"` // hex, once all the bytes are in
	State     string          `json:"state"`
	Key       string          `json:"key,omitempty"`
	URL       string          `json:"url,omitempty"` // where the file is served, once ready
	CreatedAt time.Time       `json:"createdAt"`
	Result    json.RawMessage `json:"result,omitempty"` // what the route's completion callback returned
	Error     *UploadError    `json:"error,omitempty"`  // why the upload was refused or failed

	// Scan is the malware scan's outcome: "clean", "infected",
	// "unscanned" or "released"; empty when the file was not scanned.
	// Signature names the malware found.
	Scan      string `json:"scan,omitempty"`
	Signature string `json:"signature,omitempty"`

	// Derivatives are the URLs of the file's derivatives, by name.
	Derivatives map[string]string `json:"derivatives,omitempty"`
	// Duration is a video's running time in seconds.
	Duration float64 `json:"duration,omitempty"`
}

// UploadError is the error of an upload record.
type UploadError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Final reports whether u is in a final state.
func (u *Upload) Final() bool { return Final(u.State) }

// Err is the error of an upload that ended otherwise than ready, as an
// *Error that matches the sentinel of its code; nil for any other state.
func (u *Upload) Err() error {
	if !u.Final() || u.State == StateReady {
		return nil
	}
	return recordError(u)
}

func (c *Client) fixURLs(u *Upload) {
	u.URL = c.resolve(u.URL)
	for k, v := range u.Derivatives {
		u.Derivatives[k] = c.resolve(v)
	}
}

// Get returns upload id's record. Only its owner may read it: the server
// answers ErrNotFound to anyone else.
func (c *Client) Get(ctx context.Context, id string) (*Upload, error) {
	var u Upload
	if err := c.getJSON(ctx, "/uploads/"+pathID(id), &u); err != nil {
		return nil, err
	}
	c.fixURLs(&u)
	return &u, nil
}

// ListOptions select the uploads List returns.
type ListOptions struct {
	// Route is required: the server identifies the caller by that route's
	// middleware.
	Route string
	// State selects uploads in one state; "" selects all.
	State string
	// Cursor continues a listing: pass the previous page's Next.
	Cursor string
	// Limit is the most uploads per page, 1 to 100. Defaults to the
	// server's, 20.
	Limit int
}

// Page is one page of List.
type Page struct {
	Uploads []Upload `json:"uploads"`
	// Next is the cursor of the next page; "" on the last page.
	Next string `json:"next,omitempty"`
}

// List returns a page of the caller's uploads of a route, most recently
// changed first.
func (c *Client) List(ctx context.Context, opts *ListOptions) (*Page, error) {
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	q := url.Values{"route": {o.Route}}
	if o.State != "" {
		q.Set("state", o.State)
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var p Page
	if err := c.getJSON(ctx, "/uploads?"+q.Encode(), &p); err != nil {
		return nil, err
	}
	for i := range p.Uploads {
		c.fixURLs(&p.Uploads[i])
	}
	return &p, nil
}

// Delete deletes upload id: its file, derivatives and record. An upload
// still receiving bytes is ended by tus termination. Deleting an upload
// that is gone already is not an error when a try of this call may have
// deleted it.
func (c *Client) Delete(ctx context.Context, id string) error {
	retried := false
	for n := 1; ; n++ {
		_, err := c.sendOnce(ctx, http.MethodDelete, c.URL("/uploads/"+pathID(id)), nil, nil)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrNotFound) && retried:
			return nil
		case errors.Is(err, ErrConflict):
			// Still receiving bytes? tus termination ends it.
			if u, gerr := c.Get(ctx, id); gerr == nil && u.State == StateUploading {
				_, terr := c.send(ctx, http.MethodDelete, c.URL("/tus/"+pathID(id)), tusHeader(), nil)
				if terr == nil || errors.Is(terr, ErrNotFound) {
					return nil
				}
				return terr
			}
			return err
		}
		var e *Error
		retried = !errors.As(err, &e) // the request may have reached the server
		if berr := c.backoff(ctx, n, err); berr != nil {
			return berr
		}
	}
}

// Route is one upload route, as GET B/routes describes it.
type Route struct {
	Name        string       `json:"name"`
	Accept      []string     `json:"accept"`      // type categories or MIME types
	MaxFileSize int64        `json:"maxFileSize"` // bytes
	MinFiles    int          `json:"minFiles"`
	MaxFiles    int          `json:"maxFiles"`
	Public      bool         `json:"public"`
	Input       []InputField `json:"input"` // a hint of the route's JSON input
}

// InputField describes one field of a route's input.
type InputField struct {
	Name     string       `json:"name"`
	Type     string       `json:"type"` // string, number, integer, boolean, array, object
	Required bool         `json:"required,omitempty"`
	Rules    string       `json:"rules,omitempty"` // the server's validate tag
	Fields   []InputField `json:"fields,omitempty"`
}

// Routes returns the server's upload routes.
func (c *Client) Routes(ctx context.Context) ([]Route, error) {
	var out struct {
		Routes []Route `json:"routes"`
	}
	if err := c.getJSON(ctx, "/routes", &out); err != nil {
		return nil, err
	}
	return out.Routes, nil
}
