package scan

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// parseReply reads clamd's answer to INSTREAM, without its NUL:
//
//	stream: OK
//	stream: Eicar-Test-Signature FOUND
//	stream: Eicar-Test-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND
//	INSTREAM size limit exceeded. ERROR
//
// The third is the form under ExtendedDetectionInfo. An ERROR about size
// matches ErrTooLarge, any other ERROR or an answer of another form
// ErrUnavailable; both keep clamd's words.
func parseReply(reply string) (Verdict, error) {
	s := strings.TrimSpace(strings.TrimRight(reply, "\x00"))
	const prefix, found = "stream: ", " FOUND"
	switch {
	case s == "ERROR" || strings.HasSuffix(s, " ERROR"):
		reason := strings.TrimSpace(strings.TrimSuffix(s, "ERROR"))
		if strings.Contains(reason, "size limit exceeded") {
			return Verdict{}, fmt.Errorf("%w: clamd: %s", ErrTooLarge, reason)
		}
		return Verdict{}, fmt.Errorf("%w: clamd: %q", ErrUnavailable, reason)
	case s == prefix+"OK":
		return Verdict{}, nil
	case len(s) > len(prefix)+len(found) && strings.HasPrefix(s, prefix) && strings.HasSuffix(s, found):
		name := signatureName(s[len(prefix) : len(s)-len(found)])
		if !validName(name) {
			break
		}
		// Under AlertExceedsMax, clamd names a stream it could not scan
		// whole with a signature of its own.
		if strings.HasPrefix(name, "Heuristics.Limits.Exceeded.MaxFileSize") || strings.HasPrefix(name, "Heuristics.Limits.Exceeded.MaxScanSize") {
			return Verdict{}, fmt.Errorf("%w: clamd: %s", ErrTooLarge, name)
		}
		return Verdict{Infected: true, Signature: name}, nil
	}
	return Verdict{}, fmt.Errorf("%w: clamd answered %q", ErrUnavailable, s)
}

// signatureName drops the "(hash:size)" that ExtendedDetectionInfo adds to
// a signature's name.
func signatureName(s string) string {
	i := strings.LastIndexByte(s, '(')
	if i <= 0 || !strings.HasSuffix(s, ")") {
		return s
	}
	hash, size, ok := strings.Cut(s[i+1:len(s)-1], ":")
	if !ok || hash == "" || size == "" || strings.Trim(hash, "0123456789abcdef") != "" || strings.Trim(size, "0123456789") != "" {
		return s
	}
	return s[:i]
}

func validName(s string) bool {
	if s == "" || strings.TrimSpace(s) != s || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
