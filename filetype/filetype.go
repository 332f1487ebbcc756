// Package filetype identifies uploaded files by their content.
//
// A client controls everything it sends about a file: the multipart
// Content-Type header, the file name and therefore its extension. None of
// those can be trusted. A file named "avatar.png" and declared as image/png
// may be an HTML page that runs script when a browser opens it, a Windows
// executable, or a shell script. This package therefore derives the type
// only from the leading bytes of the file (its magic numbers), using the
// detector tree of github.com/gabriel-vasile/mimetype, and offers the checks
// an upload pipeline needs around that result:
//
//   - [Detect] names the type of a file from its first [SniffLen] bytes.
//   - [Accepts] and [ValidAccept] match a detected type against the accepted
//     types a route declares (categories such as "image", exact MIME types,
//     or wildcards such as "image/*").
//   - [IsExecutable] recognises native executables and scripts.
//   - [ExtensionAgrees] tells whether the extension the client chose is
//     consistent with the detected content.
//   - [Polyglot] looks for a second format hidden in the head of a media file.
//   - [InlineSafe] tells whether a browser may render the type inline.
//
// Active content (HTML, XHTML, SVG, JavaScript) and executables are never
// matched implicitly: a category or wildcard never admits them, and an exact
// entry admits them only when it names them (or an executable parent such as
// "application/x-elf"). The only entry that admits everything is "any"; routes
// using it should also consult IsExecutable and Polyglot.
//
// Detection relies on mimetype's default read limit. Programs embedding this
// package must not change it with mimetype.SetLimit.
package filetype

import (
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// SniffLen is how many leading bytes Detect needs. It equals the default read
// limit of github.com/gabriel-vasile/mimetype (4096 bytes in v1.4.16). Callers
// should pass min(SniffLen, file size) bytes: some detectors (JSON, CSV, ZIP
// based formats) decide whether the input is the whole file or only its head
// by comparing its length with this limit, so a shorter head of a longer file
// may be misidentified.
const SniffLen = 4096

// EmptyMIME is the MIME type Detect reports for a zero-length file.
const EmptyMIME = "application/x-empty"

// UnknownMIME is the MIME type Detect reports for binary content it does not
// recognise.
const UnknownMIME = "application/octet-stream"

// Category groups MIME types for route declarations.
type Category string

// Categories usable as accepted entries.
const (
	// Image is raster images: PNG, APNG, JPEG, GIF, WebP, AVIF, HEIC/HEIF,
	// BMP, TIFF, ICO/ICNS, JPEG XL, JPEG 2000, JPEG XR, JPEG XS, BPG,
	// Radiance HDR and Netpbm. SVG is not included (it can carry script),
	// nor are CAD drawings, DjVu documents or editor project files such as
	// PSD and XCF; list those by exact MIME type.
	Image Category = "image"
	// Video is every detected type whose top-level type is "video". Note
	// that audio-only WebM and 3GP files are reported as video containers.
	Video Category = "video"
	// Audio is every detected type whose top-level type is "audio".
	Audio Category = "audio"
	// PDF is application/pdf.
	PDF Category = "pdf"
	// Text is text/plain and the plain-data formats mimetype derives from
	// it: CSV, TSV, JSON (and GeoJSON, NDJSON, ...), subtitles, vCard,
	// iCalendar, GEDCOM. Markup and scripts (HTML, SVG, XML, JavaScript,
	// shell, Python, PHP, ...), RTF, e-mail messages and web archives are
	// excluded; list them by exact MIME type.
	Text Category = "text"
	// Any admits every file, including empty, unknown and executable ones.
	Any Category = "any"
)

var categories = []Category{Image, Video, Audio, PDF, Text, Any}

// Type is a detected type.
type Type struct {
	// MIME is the detected media type without parameters, e.g. "image/png".
	MIME string
	// Extension is the canonical extension with its leading dot, e.g.
	// ".png"; ".bin" when the format has no usual extension.
	Extension string
}

// String returns the MIME type.
func (t Type) String() string { return t.MIME }

// fallbackExtension names formats mimetype knows but gives no extension.
var fallbackExtension = map[string]string{
	"application/x-elf":        ".elf",
	"application/x-executable": ".elf",
	"application/x-object":     ".o",
	"application/x-coredump":   ".core",
}

// Detect finds the type of a file from its first bytes.
//
// head should hold the first SniffLen bytes of the file, or the whole file
// when it is shorter; bytes beyond SniffLen are ignored. The result never
// depends on anything but head:
//
//   - an empty head yields {EmptyMIME, ".bin"};
//   - text without a more specific format yields {"text/plain", ".txt"}
//     (any charset parameter is dropped);
//   - unrecognised binary content yields {UnknownMIME, ".bin"}.
func Detect(head []byte) Type {
	if len(head) == 0 {
		return Type{MIME: EmptyMIME, Extension: ".bin"}
	}
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	m := mimetype.Detect(head)
	t := Type{MIME: normMIME(m.String()), Extension: strings.ToLower(m.Extension())}
	if t.Extension == "" {
		t.Extension = fallbackExtension[t.MIME]
	}
	if t.Extension == "" {
		t.Extension = ".bin"
	}
	return t
}

// normMIME drops parameters and surrounding blanks and lowercases a media type.
func normMIME(s string) string {
	s, _, _ = strings.Cut(s, ";")
	return strings.ToLower(strings.TrimSpace(s))
}

// topLevel returns the part of a media type before the slash.
func topLevel(m string) string {
	t, _, _ := strings.Cut(m, "/")
	return t
}

// node returns mimetype's tree node for a normalised media type, or nil.
func node(m string) *mimetype.MIME {
	if m == "" || m == EmptyMIME {
		return nil
	}
	return mimetype.Lookup(m)
}

// chain returns the primary MIME strings of m and of its ancestors in
// mimetype's tree, most specific first, without the root. For a type unknown
// to mimetype it returns just m.
func chain(m string) []string {
	n := node(m)
	if n == nil {
		return []string{m}
	}
	var out []string
	for p := n; p != nil && p.Parent() != nil; p = p.Parent() {
		out = append(out, normMIME(p.String()))
	}
	if len(out) == 0 {
		out = append(out, normMIME(n.String()))
	}
	return out
}

func chainContains(m, target string) bool {
	for _, c := range chain(m) {
		if c == target {
			return true
		}
	}
	return false
}

// ForMIME returns the Type for a declared media type, such as a client's
// claim: its normalized MIME and canonical extension (".bin" when the type is
// unknown). Nothing is detected; compare it with Detect's result.
func ForMIME(mime string) Type {
	m := normMIME(mime)
	t := Type{MIME: m, Extension: ".bin"}
	if mt := mimetype.Lookup(m); mt != nil && mt.Extension() != "" {
		t.Extension = strings.ToLower(mt.Extension())
	}
	if e := fallbackExtension[m]; e != "" {
		t.Extension = e
	}
	return t
}
