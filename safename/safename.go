// Package safename turns a client-supplied file name into a name that is
// safe to show to people and to put in a Content-Disposition header.
//
// The name a browser or API client sends with an upload is untrusted input.
// It may carry a directory path ("../../etc/passwd", `C:\Users\x\a.png`),
// invisible or direction-changing characters that disguise the real
// extension ("invoice\u202Egpj.exe" renders as "invoiceexe.jpg"), control
// characters that break headers and terminals, names that Windows refuses
// to create (CON, LPT1, "a.txt."), or simply too many bytes. Carcosa never
// builds storage keys from this name; it only keeps it for display and for
// the file name offered on download. Clean makes that name harmless for
// those uses while keeping as much of what the user typed as possible.
//
// Clean applies these rules, in this order:
//
//  1. Invalid UTF-8 bytes are dropped.
//  2. Only the last path element is kept: the name is split on both '/' and
//     '\', so no separator survives, and a leading Windows drive prefix such
//     as "C:" is dropped.
//  3. The name is put in Unicode Normalization Form C (NFC).
//  4. NUL and every other control character (Cc), every format character
//     (Cf: bidirectional overrides, embeddings and isolates, the LRM and RLM
//     marks, zero-width spaces and joiners, the byte order mark, soft
//     hyphens, ...), line and paragraph separators (Zl, Zp), private-use
//     characters and unassigned code points are removed. Each run of the
//     remaining white space (any Zs character, such as U+00A0 or U+3000) is
//     replaced by a single ASCII space. Removing characters can make the
//     name non-normalized again, so it is brought back to NFC afterwards.
//  5. The characters Windows reserves, < > : " | ? *, are replaced by '_'.
//  6. Leading and trailing spaces and dots are trimmed; Windows does not
//     allow a name to end in either, and a name made only of dots ("." or
//     "..") is unusable.
//  7. Windows device names (CON, PRN, AUX, NUL, COM0-COM9, LPT0-LPT9, the
//     COM and LPT names with the superscript digits ¹ ² ³, and CONIN$ and
//     CONOUT$), compared without regard to ASCII case and with or without
//     an extension ("con.txt", "Lpt1", "nul.tar.gz"), get a leading '_'
//     ("_con.txt").
//  8. A name longer than MaxLen bytes of UTF-8 is shortened. The extension
//     (from the last dot on) is kept when it is at most MaxExtLen bytes
//     long, and the part before it is cut; otherwise the whole name is cut.
//     Cuts fall on a rune boundary, preferably one that does not split a
//     base character from its combining marks, and never leave a trailing
//     space or dot.
//  9. A name that ends up empty becomes "file".
//
// The result is valid UTF-8 in NFC, contains no '/', '\', NUL, control or
// format characters, is at most MaxLen bytes long, is never "", "." or "..",
// and neither starts nor ends with a space or a dot. Clean is idempotent:
// Clean(Clean(x)) == Clean(x).
package safename

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// MaxLen is the largest number of bytes a cleaned name occupies.
	MaxLen = 255
	// MaxExtLen is the longest extension, in bytes and including the dot,
	// that is kept when a name has to be shortened.
	MaxExtLen = 32
	// Fallback is the name Clean returns when nothing usable is left.
	Fallback = "file"
)

// maxBackoff bounds how many bytes a cut may move back to avoid separating
// a character from the combining marks that follow it.
const maxBackoff = 64

// Clean returns a safe display name for name. It never returns "": an
// unusable name becomes "file". See the package documentation for the rules.
func Clean(name string) string {
	// Rule 1.
	s := strings.ToValidUTF8(name, "")

	// Rule 2.
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	if len(s) >= 2 && s[1] == ':' && isASCIILetter(s[0]) {
		s = s[2:]
	}

	// Rule 3.
	s = norm.NFC.String(s)

	// Rules 4 and 5.
	s = filter(s)

	// Rule 6.
	s = strings.Trim(s, " .")

	// Rule 7.
	if isDeviceName(s) {
		s = "_" + s
	}

	// Rule 8.
	if len(s) > MaxLen {
		s = shorten(s)
	}

	// Rule 9.
	if s == "" {
		return Fallback
	}
	return s
}

// Ext returns the lowercase extension of the cleaned name, including the
// dot (".png"), or "" when it has none. The name is passed through Clean
// first, so the extension is the one a user actually sees: Ext of
// "invoice\u202Egpj.exe" is ".exe".
func Ext(name string) string {
	c := Clean(name)
	i := strings.LastIndexByte(c, '.')
	if i <= 0 {
		return ""
	}
	return strings.ToLower(c[i:])
}

// filter removes the runes rule 4 forbids, collapses white space, replaces
// the reserved characters of rule 5 and renormalizes the result to NFC.
func filter(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	changed := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Zs, r):
			if r != ' ' || space {
				changed = true
			}
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		case isReserved(r):
			b.WriteByte('_')
			changed = true
		case unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S):
			b.WriteRune(r)
		default:
			// Cc, Cf, Co, Cs, Zl, Zp and unassigned code points. A
			// removed rune does not end a run of white space.
			changed = true
			continue
		}
		space = false
	}
	if !changed {
		return s
	}
	return norm.NFC.String(b.String())
}

// isReserved reports whether r may not appear in a Windows file name. The
// path separators are listed as well, although rule 2 already removed them.
func isReserved(r rune) bool {
	switch r {
	case '<', '>', ':', '"', '|', '?', '*', '/', '\\':
		return true
	}
	return false
}

func isASCIILetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isDeviceName reports whether Windows would treat the file name s as a
// device: the part before the first dot, without trailing spaces, is one of
// the reserved device names.
func isDeviceName(s string) bool {
	stem := s
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	stem = strings.TrimRight(stem, " ")
	if len(stem) < 3 || len(stem) > 7 {
		return false
	}
	up := asciiUpper(stem)
	switch up {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if strings.HasPrefix(up, "COM") || strings.HasPrefix(up, "LPT") {
		switch up[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

// asciiUpper upper-cases the ASCII letters of s and leaves every other byte
// alone, the way Windows compares device names.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// shorten cuts s, which has no leading or trailing spaces or dots, to at
// most MaxLen bytes, keeping a short extension when there is one.
func shorten(s string) string {
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i <= MaxExtLen {
		ext := s[i:]
		if base := cut(s[:i], MaxLen-len(ext)); base != "" {
			return base + ext
		}
	}
	return cut(s, MaxLen)
}

// cut returns the longest prefix of s of at most n bytes that ends on a rune
// boundary, preferring a boundary that does not split a character from the
// marks combining with it, with trailing spaces and dots removed.
func cut(s string, n int) string {
	if len(s) <= n {
		return strings.TrimRight(s, " .")
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	for j := i; j > 0 && i-j <= maxBackoff; {
		if norm.NFC.PropertiesString(s[j:]).BoundaryBefore() {
			i = j
			break
		}
		_, size := utf8.DecodeLastRuneInString(s[:j])
		j -= size
	}
	return strings.TrimRight(s[:i], " .")
}
