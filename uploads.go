package carcosa

import (
	"cmp"
	"net/http"

	"github.com/carcosa-dev/carcosa/store"
)

// serveUpload answers GET B/uploads/{id}: the record, to its owner only.
func (r *Router) serveUpload(w http.ResponseWriter, req *http.Request) {
	rec, _, err := r.authorize(req, req.PathValue("id"))
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	writeJSON(w, http.StatusOK, r.uploadJSON(rec))
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
	ctx := req.Context()
	switch rec.State {
	case store.Uploading:
		r.writeError(w, req, ErrConflict.with("the upload is still receiving bytes; end it with a tus DELETE"))
		return
	case store.Processing:
		r.writeError(w, req, ErrConflict.with("the upload is being processed; try again shortly"))
		return
	case store.Quarantined:
		r.writeError(w, req, ErrConflict.with("the file is quarantined; an operator decides what becomes of it"))
		return
	}
	if err := r.deleteStored(ctx, rec); err != nil {
		r.writeError(w, req, unavailable(err))
		return
	}
	if rec.Via == "tus" {
		r.removeStaged(ctx, id) // a failed upload's bytes, kept for a retry
	}
	if err := r.dropRecord(ctx, id); err != nil {
		r.writeError(w, req, unavailable(err))
		return
	}
	r.recordAudit(ctx, store.AuditFileDeleted, cmp.Or(rec.Owner, "anonymous"), rec.Tenant, id, map[string]string{"route": rec.Route, "via": "http"})
	r.log.InfoContext(ctx, "upload deleted", "upload", id, "route", rec.Route)
	w.WriteHeader(http.StatusNoContent)
}
