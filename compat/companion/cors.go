package companion

import (
	"net/http"
	"slices"
)

// cors gives a request from an allowed origin (Options.AllowOrigins) the
// headers its browser needs to read the answer.
func (h *Handler) cors(w http.ResponseWriter, req *http.Request) {
	origin := req.Header.Get("Origin")
	if origin == "" || len(h.origins) == 0 {
		return
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	if !slices.Contains(h.origins, "*") && !slices.Contains(h.origins, origin) {
		return
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
}

// servePreflight answers a CORS preflight; Uppy sends Content-Type
// (application/json) with its POSTs, and Authorization is for apps that
// authenticate with it.
func (h *Handler) servePreflight(w http.ResponseWriter, req *http.Request) {
	hd := w.Header()
	if hd.Get("Access-Control-Allow-Origin") != "" {
		hd.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		hd.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-ID, traceparent, tracestate")
		hd.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}
