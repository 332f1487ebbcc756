package carcosa

import (
	"cmp"
	"net/http"

	"github.com/carcosa-dev/carcosa/internal/apierr"
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
