package filetype

import (
	"errors"
	"fmt"
	"mime"
	"strings"
)

// notPlainText lists descendants of text/plain that are not plain data:
// documents with embedded objects, e-mail and web archives.
var notPlainText = setOf(
	"text/rtf",
	"application/warc",
	"message/rfc822",
)

// wildcardTypes are the top-level types a wildcard entry may name.
var wildcardTypes = setOf(
	"application", "audio", "font", "image", "message", "model", "text", "video",
)

// isText reports whether m belongs to the Text category.
func isText(m string) bool {
	if node(m) == nil || restricted(m) || notPlainText[m] || topLevel(m) == "image" {
		return false
	}
	plain := false
	for _, c := range chain(m) {
		switch c {
		case "text/xml":
			return false
		case "text/plain":
			plain = true
		}
	}
	return plain
}

// Accepts reports whether detected satisfies one of the accepted entries.
//
// An entry is matched case-insensitively and is one of:
//
//   - a Category name: "image", "video", "audio", "pdf", "text" or "any"
//     (see the Category constants for what each admits);
//   - a wildcard "type/*", which admits detected types whose own top-level
//     type is "type"; "text/*" also admits the Text category (JSON, ...);
//   - an exact MIME type such as "image/png". It admits that type, its
//     aliases in mimetype's tree (e.g. "application/x-zip"), and types
//     mimetype derives from it: "application/zip" admits DOCX and EPUB,
//     "image/png" admits APNG, "text/plain" admits exactly the Text
//     category, "text/xml" admits RSS or GPX. Derived types crossing to
//     another media kind are not admitted ("video/mp4" does not admit an
//     AVIF image).
//
// Executables and active content (HTML, XHTML, SVG, JavaScript, scripts)
// match only "any" or an exact entry that names them or an executable or
// active type they derive from: "image/*" and "image" never admit SVG,
// "text" and "text/*" never admit HTML, and "application/zip" never admits a
// JAR. Empty files (EmptyMIME) and unrecognised binary (UnknownMIME) match
// only "any" or an exact entry naming them.
func Accepts(accepted []string, detected Type) bool {
	m := normMIME(detected.MIME)
	for _, entry := range accepted {
		if acceptsOne(normMIME(entry), m) {
			return true
		}
	}
	return false
}

func acceptsOne(entry, m string) bool {
	if entry == string(Any) {
		return true
	}
	if m == "" {
		return false
	}
	switch Category(entry) {
	case Image:
		return imageMIMEs[m]
	case Video:
		return topLevel(m) == "video" && !restricted(m)
	case Audio:
		return topLevel(m) == "audio" && !restricted(m)
	case PDF:
		return m == "application/pdf"
	case Text:
		return isText(m)
	}
	typ, sub, ok := strings.Cut(entry, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	if sub == "*" {
		if m == EmptyMIME || m == UnknownMIME || restricted(m) {
			return false
		}
		return topLevel(m) == typ || (typ == "text" && isText(m))
	}
	return acceptsExact(entry, m)
}

func acceptsExact(entry, m string) bool {
	if entry == m {
		return true
	}
	if m == EmptyMIME || m == UnknownMIME || entry == EmptyMIME || entry == UnknownMIME {
		return false
	}
	n := node(m)
	if n == nil {
		return false
	}
	if n.Is(entry) {
		return true
	}
	self := normMIME(n.String())
	selfRestricted := restricted(self)
	for p := n.Parent(); p != nil && p.Parent() != nil; p = p.Parent() {
		if !p.Is(entry) {
			continue
		}
		anc := normMIME(p.String())
		switch {
		case selfRestricted:
			return restricted(anc)
		case anc == "text/plain":
			return isText(self)
		default:
			at := topLevel(anc)
			return at == "application" || at == "text" || at == topLevel(self)
		}
	}
	return false
}

// ValidAccept reports whether an accepted entry is well-formed, for checking
// route declarations at start-up. Valid entries are the Category names, a
// wildcard "type/*" over a registered top-level type, and an exact MIME type
// without parameters that Detect can report (its primary name or an alias
// in mimetype's tree, EmptyMIME or UnknownMIME). Entries are
// case-insensitive and may be surrounded by blanks.
func ValidAccept(entry string) error {
	e := strings.ToLower(strings.TrimSpace(entry))
	if e == "" {
		return errors.New("filetype: empty accept entry")
	}
	if !strings.Contains(e, "/") {
		for _, c := range categories {
			if e == string(c) {
				return nil
			}
		}
		return fmt.Errorf("filetype: unknown category %q: want one of %s, a MIME type such as \"image/png\", or a wildcard such as \"image/*\"",
			entry, categoryList())
	}
	if strings.Contains(e, ";") {
		return fmt.Errorf("filetype: accept entry %q must not carry parameters", entry)
	}
	typ, sub, _ := strings.Cut(e, "/")
	if typ == "*" {
		if sub == "*" {
			return fmt.Errorf("filetype: accept entry %q: use %q to accept every type", entry, Any)
		}
		return fmt.Errorf("filetype: accept entry %q: the top-level type cannot be a wildcard", entry)
	}
	if _, _, err := mime.ParseMediaType(e); err != nil {
		return fmt.Errorf("filetype: malformed accept entry %q: %v", entry, err)
	}
	if sub == "*" {
		if !wildcardTypes[typ] {
			return fmt.Errorf("filetype: accept entry %q: unknown top-level type %q", entry, typ)
		}
		return nil
	}
	if strings.Contains(sub, "*") {
		return fmt.Errorf("filetype: accept entry %q: only a whole subtype may be a wildcard, as in %q", entry, typ+"/*")
	}
	if e == EmptyMIME || e == UnknownMIME || node(e) != nil {
		return nil
	}
	return fmt.Errorf("filetype: accept entry %q is not a type the detector reports; see https://github.com/gabriel-vasile/mimetype/blob/master/supported_mimes.md", entry)
}

func categoryList() string {
	names := make([]string, len(categories))
	for i, c := range categories {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
