package main

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"
)

// Each browser that loads the page is an owner of its own: the page hands it
// a random visitor ID in a cookie, and the routes' middleware returns that
// ID as the Grant's Owner, so that one visitor cannot read, resume or delete
// another's uploads, and the quotas count per visitor. Requests without the
// cookie (curl, scripts, tus-js-client in Node) share one anonymous owner
// and cannot touch a visitor's uploads.

// visitorCookie is the name of the cookie that holds the visitor ID.
const visitorCookie = "carcosa_visitor"

// visitorIDBytes is the size of a visitor ID: 128 random bits, which no
// one guesses.
const visitorIDBytes = 16

// visitorMaxAge is how long a browser keeps its ID after it last loaded
// the page. A browser that loses its ID loses its uploads with it (they
// stay, but no request can name their owner any more), so it is long, and
// renewed on every load.
const visitorMaxAge = 365 * 24 * time.Hour

// visitorOwnerPrefix keeps visitors' owners apart from the anonymous
// owner, "", and readable in the records and the audit log.
const visitorOwnerPrefix = "visitor:"

// newVisitorID returns a fresh visitor ID: visitorIDBytes from crypto/rand
// in lowercase hex.
func newVisitorID() string {
	b := make([]byte, visitorIDBytes)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}

// parseVisitorID reports whether s is a visitor ID exactly as newVisitorID
// spells it: 32 lowercase hex digits, nothing else. The cookie is client
// input, so any other text, upper-case hex included, is no ID.
func parseVisitorID(s string) (id string, ok bool) {
	if len(s) != 2*visitorIDBytes {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return s, true
}

// visitorID returns the visitor ID of req's cookie, and false when it
// has no cookie or one that is not exactly an ID (a quoted value
// included).
func visitorID(req *http.Request) (string, bool) {
	c, err := req.Cookie(visitorCookie)
	if err != nil || c.Quoted {
		return "", false
	}
	return parseVisitorID(c.Value)
}

// visitorOwner is the owner that the routes' middleware returns for req:
// its visitor's, or "", the anonymous owner that every request without a
// valid cookie shares.
func visitorOwner(req *http.Request) string {
	if id, ok := visitorID(req); ok {
		return visitorOwnerPrefix + id
	}
	return ""
}

// withVisitorCookie serves the page through next, and with it the visitor
// cookie: the browser's own ID again, to renew it, or a new one when it has
// none or a malformed one. Only the page sets it; the files the page loads
// and the API do not.
func withVisitorCookie(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/" {
			id, ok := visitorID(req)
			if !ok {
				id = newVisitorID()
			}
			http.SetCookie(w, &http.Cookie{
				Name:     visitorCookie,
				Value:    id,
				Path:     "/",
				MaxAge:   int(visitorMaxAge / time.Second),
				HttpOnly: true, // the page's scripts never need it
				SameSite: http.SameSiteLaxMode,
				// Over plain HTTP a Secure cookie would not be sent back.
				Secure: req.TLS != nil,
			})
			// The response names one browser: no shared cache may keep it.
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, req)
	})
}
