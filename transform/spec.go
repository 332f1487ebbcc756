package transform

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Fit says how a source is fitted to a Spec's width and height when both
// are given. With one of them zero, the other follows the source's aspect
// ratio and Cover, Contain and Fill give the same image.
type Fit string

const (
	// Cover scales the source to cover width×height and crops the centre:
	// the output is exactly width×height, nothing is distorted, edges may
	// be cut. The default.
	Cover Fit = "cover"
	// Contain scales the source to fit within width×height (enlarging it
	// if smaller) and pads it, centred, to exactly width×height with a
	// background: white for JPEG, transparent for PNG, GIF, WebP and AVIF.
	Contain Fit = "contain"
	// Fill stretches the source to exactly width×height.
	Fill Fit = "fill"
	// Inside scales the source down to fit within width×height, keeping
	// its aspect ratio; a source that already fits keeps its size.
	Inside Fit = "inside"
)

// Format is an output format.
type Format string

const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	// WebP is lossy WebP, with transparency kept (see encodeWebP).
	WebP Format = "webp"
	// AVIF is lossy AVIF, with transparency kept (see encodeAVIF).
	AVIF Format = "avif"
	// Auto lets the client's Accept header choose, per request, with
	// Negotiate: AVIF if it accepts image/avif, else WebP if it accepts
	// image/webp, else what an empty Format gives. Image, which sees no
	// request, treats it as empty; a route's derivatives, made once for
	// every client, may not use it.
	Auto Format = "auto"
)

// DefaultQuality is the quality of a Spec whose Quality is zero.
const DefaultQuality = 82

// Spec is one transform. Zero Width or Height keeps the aspect ratio from
// the other; both zero keeps the size (within Limits.MaxSide). The zero
// Spec re-encodes the source in its own format at its own size.
type Spec struct {
	Width, Height int
	Fit           Fit    // "" is Cover
	Format        Format // "" is the source's format if JPEG, PNG or GIF, else JPEG
	Quality       int    // JPEG, WebP and AVIF quality 1..100; 0 is DefaultQuality
}

// ParseQuery reads a Spec from the parameters w, h (0..lim.MaxSide), fit
// (cover, contain, fill, inside), fm (jpeg, jpg, png, gif, webp, avif,
// auto) and q (1..100)
// of a URL query; other parameters are ignored, absent ones left zero. A
// parameter given twice, empty or out of range is an error matching
// ErrBadSpec whose text names it.
func ParseQuery(q url.Values, lim Limits) (Spec, error) {
	lim = lim.withDefaults()
	var s Spec
	var err error
	if s.Width, err = intParam(q, "w", 0, lim.MaxSide); err != nil {
		return Spec{}, err
	}
	if s.Height, err = intParam(q, "h", 0, lim.MaxSide); err != nil {
		return Spec{}, err
	}
	if s.Quality, err = intParam(q, "q", 1, 100); err != nil {
		return Spec{}, err
	}
	fit, err := param(q, "fit")
	if err != nil {
		return Spec{}, err
	}
	s.Fit = Fit(fit)
	if fit != "" && !s.Fit.valid() {
		return Spec{}, fmt.Errorf("%w: fit must be cover, contain, fill or inside", ErrBadSpec)
	}
	fm, err := param(q, "fm")
	if err != nil {
		return Spec{}, err
	}
	switch fm {
	case "":
	case "jpeg", "jpg":
		s.Format = JPEG
	case "png", "gif", "webp", "avif", "auto":
		s.Format = Format(fm)
	default:
		return Spec{}, fmt.Errorf("%w: fm must be jpeg, png, gif, webp, avif or auto", ErrBadSpec)
	}
	return s, nil
}

// param returns the value of the query parameter name, "" if absent.
func param(q url.Values, name string) (string, error) {
	vs, ok := q[name]
	switch {
	case !ok:
		return "", nil
	case len(vs) != 1:
		return "", fmt.Errorf("%w: %s is given more than once", ErrBadSpec, name)
	case vs[0] == "":
		return "", fmt.Errorf("%w: %s is empty", ErrBadSpec, name)
	}
	return vs[0], nil
}

// intParam returns the integer parameter name, 0 if absent, or an error if
// it is not a decimal number from lo to hi.
func intParam(q url.Values, name string, lo, hi int) (int, error) {
	v, err := param(q, name)
	if err != nil || v == "" {
		return 0, err
	}
	// Digits only: no sign, no spaces, and short enough not to overflow.
	n, err := strconv.Atoi(v)
	if len(v) > 9 || strings.Trim(v, "0123456789") != "" || err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s must be a whole number from %d to %d", ErrBadSpec, name, lo, hi)
	}
	return n, nil
}

func (f Fit) valid() bool {
	switch f {
	case Cover, Contain, Fill, Inside:
		return true
	}
	return false
}

func (f Format) valid() bool {
	switch f {
	case JPEG, PNG, GIF, WebP, AVIF, Auto:
		return true
	}
	return false
}

// lossy reports whether Quality applies to f: Auto may turn out lossy.
func (f Format) lossy() bool {
	switch f {
	case "", JPEG, WebP, AVIF, Auto:
		return true
	}
	return false
}

// Validate reports whether s is within lim, with an error matching
// ErrBadSpec that names the first field at fault.
func (s Spec) Validate(lim Limits) error {
	lim = lim.withDefaults()
	switch {
	case s.Width < 0 || s.Width > lim.MaxSide:
		return fmt.Errorf("%w: width must be from 0 to %d", ErrBadSpec, lim.MaxSide)
	case s.Height < 0 || s.Height > lim.MaxSide:
		return fmt.Errorf("%w: height must be from 0 to %d", ErrBadSpec, lim.MaxSide)
	case s.Fit != "" && !s.Fit.valid():
		return fmt.Errorf("%w: fit must be cover, contain, fill or inside", ErrBadSpec)
	case s.Format != "" && !s.Format.valid():
		return fmt.Errorf("%w: format must be jpeg, png, gif, webp, avif or auto", ErrBadSpec)
	case s.Quality < 0 || s.Quality > 100:
		return fmt.Errorf("%w: quality must be from 1 to 100", ErrBadSpec)
	}
	return nil
}

// withDefaults returns a copy of s with Fit and Quality filled in.
func (s Spec) withDefaults() Spec {
	if s.Fit == "" {
		s.Fit = Cover
	}
	if s.Quality == 0 {
		s.Quality = DefaultQuality
	}
	return s
}

// Canonical returns s as a deterministic string with the defaults filled
// in, such as "w256_h256_cover_jpeg_q82", for storage keys and signatures:
// specs that give the same output give the same string. The format is
// "auto" when it follows the source's (Format ""), for the keys made
// before Auto existed, and "accept" for Auto, which a client's Accept
// header resolves: a signature over one is not one over the other. The
// quality is left out where it has no effect (PNG, GIF). It holds only
// [a-z0-9_], even for an
// invalid spec, which is written distinctly (negative numbers as "n1",
// unknown names in hex) but which Validate refuses.
func (s Spec) Canonical() string {
	s = s.withDefaults()
	var b strings.Builder
	b.WriteString("w")
	b.WriteString(canonicalInt(s.Width))
	b.WriteString("_h")
	b.WriteString(canonicalInt(s.Height))
	b.WriteString("_")
	b.WriteString(canonicalName(string(s.Fit), s.Fit.valid()))
	b.WriteString("_")
	switch s.Format {
	case "":
		b.WriteString("auto")
	case Auto:
		b.WriteString("accept")
	default:
		b.WriteString(canonicalName(string(s.Format), s.Format.valid()))
	}
	if s.Format.lossy() || !s.Format.valid() {
		b.WriteString("_q")
		b.WriteString(canonicalInt(s.Quality))
	}
	return b.String()
}

func canonicalInt(n int) string {
	if n < 0 {
		return "n" + strconv.FormatUint(uint64(-int64(n)), 10)
	}
	return strconv.Itoa(n)
}

func canonicalName(name string, valid bool) string {
	if valid {
		return name
	}
	return "x" + hex.EncodeToString([]byte(name))
}
