package transform

import (
	"strconv"
	"strings"
)

// Negotiate resolves a Spec whose Format is Auto for a client whose Accept
// header is accept: AVIF if the client accepts image/avif, else WebP if it
// accepts image/webp, else Format "" (the source's format or JPEG). Any
// other Spec is returned as it is. The result is what a cache key must
// hold, and a response negotiated so must say "Vary: Accept".
//
// Only an explicit image/avif or image/webp counts: image/* and */*
// do not, since browsers that decode AVIF or WebP name them, and
// clients that send */* (curl, crawlers, old browsers) may not decode
// them. A type given with q=0 is not acceptable.
func Negotiate(s Spec, accept string) Spec {
	if s.Format != Auto {
		return s
	}
	switch {
	case accepts(accept, "image/avif"):
		s.Format = AVIF
	case accepts(accept, "image/webp"):
		s.Format = WebP
	default:
		s.Format = ""
	}
	return s
}

// accepts reports whether the Accept header accept names the media type
// mime (lower case) with a q-value above zero, and never with q=0. Media
// ranges with wildcards are ignored; so is anything unreadable.
func accepts(accept, mime string) bool {
	found := false
	for r := range strings.SplitSeq(accept, ",") {
		typ, params, _ := strings.Cut(r, ";")
		if !strings.EqualFold(strings.TrimSpace(typ), mime) {
			continue
		}
		q, ok := qValue(params)
		if !ok {
			continue
		}
		if q == 0 {
			return false
		}
		found = true
	}
	return found
}

// qValue returns the q parameter among a media range's parameters
// ("a=b;q=0.5"), 1 if there is none; ok is false if it is malformed.
// RFC 9110 allows at most three decimals; a longer one is read all the
// same, as browsers do not send them and a stray digit means no harm.
func qValue(params string) (q float64, ok bool) {
	q = 1
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		value = strings.TrimSpace(value)
		if value == "" || len(value) > 8 || strings.Trim(value, "0123456789.") != "" {
			return 0, false
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 || v > 1 {
			return 0, false
		}
		q = v
	}
	return q, true
}
