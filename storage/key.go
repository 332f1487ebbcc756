package storage

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is matched by errors returned for a key outside the form
// described on Storage.
var ErrInvalidKey = errors.New("storage: invalid key")

// MaxKeyLen is the longest key accepted, in bytes. It is the limit of S3 and
// GCS object names, so a key valid here is valid on every backend.
const MaxKeyLen = 1024

// maxSegmentLen bounds each '/'-separated part of a key: on the file system
// each part is a file or directory name, and most file systems stop at 255.
const maxSegmentLen = 255

// CheckKey reports whether key is a valid object key, returning an error
// matching ErrInvalidKey if not.
//
// Beyond the rules on Storage (ASCII letters, digits, '/', '.', '-', '_'; not
// empty; no leading '/'; no ".."), it also rejects empty and "." path
// segments ("a//b", "a/./b", a trailing '/'). The file system would fold those
// into another key while object stores would not, so refusing them keeps one
// key meaning one object on every backend, and means no key ever needs
// fileblob's escaping.
func CheckKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, reason)
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case key[0] == '/':
		return "starts with '/'"
	case strings.Contains(key, ".."):
		return `contains ".."`
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return fmt.Sprintf("byte %#x at %d is not one of A-Z a-z 0-9 / . _ -", key[i], i)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return "has an empty path segment"
		case seg == ".":
			return `has a "." path segment`
		case len(seg) > maxSegmentLen:
			return fmt.Sprintf("has a path segment longer than %d bytes", maxSegmentLen)
		}
	}
	return ""
}

func keyByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '/', c == '.', c == '_', c == '-':
		return true
	}
	return false
}
