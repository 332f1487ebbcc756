package carcosa

import (
	"cmp"
	"encoding/json"
	"net/http"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/store"
)

// serveUpload answers GET B/uploads/{id}: the record, to its owner only.
func (r *Router) serveUpload(w http.ResponseWriter, req *http.Request) {
	rec, _, err := r.authorize(req, req.PathValue("id"))
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, r.uploadJSON(rec))
}

// deleteUpload answers DELETE B/uploads/{id}: the file and its record go, to
// its owner only. An upload still receiving bytes is ended with tus
// termination instead; one being processed answers 409.
func (r *Router) deleteUpload(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	rec, _, err := r.authorize(req, id)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	err = r.deleteFile(req.Context(), id, deletion{via: "http", actor: cmp.Or(rec.Owner, "anonymous")})
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fileOf is the callbacks' view of a record.
func (r *Router) fileOf(u *store.Upload) File {
	f := File{
		ID: u.ID, Route: u.Route, Owner: u.Owner, Tenant: u.Tenant, Name: u.Name, Type: u.Type,
		Size: u.Size, SHA256: u.SHA256, Key: u.Key, CreatedAt: u.CreatedAt,
	}
	// A file being completed has the URLs it will be served at.
	if u.State == store.Ready || u.State == store.Processing {
		f.URL = r.files.KeyURL(u)
		f.Derivatives = r.files.DerivativeURLs(u)
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
		out.URL = r.files.FileURL(u)
		out.Derivatives = r.files.DerivativeURLs(u)
	}
	if u.ErrorCode != "" {
		out.Error = &apierr.JSON{Code: u.ErrorCode, Message: u.ErrorMessage}
	}
	return out
}
