package filetype

import (
	"bytes"
	"encoding/binary"
)

// executableMIMEs lists native executables, installers, packages with
// install scripts, bytecode and scripts. Primary names come from mimetype's
// tree; aliases and common names other tools use are included so that a Type
// built by hand is classified too.
var executableMIMEs = setOf(
	// ELF
	"application/x-elf",
	"application/x-executable",
	"application/x-sharedlib",
	"application/x-object",
	"application/x-coredump",
	"application/x-pie-executable",
	// Windows PE, DOS and friends
	"application/vnd.microsoft.portable-executable",
	"application/x-msdownload",
	"application/x-dosexec",
	"application/x-ms-dos-executable",
	"application/x-msdos-program",
	"application/x-winexe",
	"application/exe",
	"application/x-exe",
	"application/x-ms-installer",
	"application/x-windows-installer",
	"application/x-msi",
	"application/x-installshield",
	"application/x-ms-shortcut",
	"application/vnd.ms-htmlhelp",
	"application/x-ms-application",
	"application/hta",
	"application/x-bat",
	"application/bat",
	"text/x-msdos-batch",
	"application/x-powershell",
	"text/vbscript",
	// Mach-O
	"application/x-mach-binary",
	"application/x-mach-o-executable",
	// Java, Android, WebAssembly, browser extensions, Flash
	"application/x-java-applet",
	"application/java-vm",
	"application/java-archive",
	"application/jar",
	"application/jar-archive",
	"application/x-java-archive",
	"application/x-java-jnlp-file",
	"application/vnd.android.package-archive",
	"application/wasm",
	"application/x-chrome-extension",
	"application/x-xpinstall",
	"application/x-shockwave-flash",
	// Linux packages run maintainer scripts on install
	"application/vnd.debian.binary-package",
	"application/x-rpm",
	// Scripts and bytecode
	"text/x-shellscript",
	"text/x-sh",
	"application/x-sh",
	"application/x-shellscript",
	"application/x-csh",
	"text/x-python",
	"text/x-script.python",
	"application/x-python",
	"application/x-bytecode.python",
	"text/x-perl",
	"application/x-perl",
	"text/x-ruby",
	"application/x-ruby",
	"text/x-lua",
	"text/x-tcl",
	"application/x-tcl",
	"text/x-php",
	"application/x-php",
	"application/x-httpd-php",
	"text/javascript",
	"application/javascript",
	"application/x-javascript",
	"application/ecmascript",
	"text/ecmascript",
)

// activeMIMEs lists document formats a browser executes script in.
var activeMIMEs = setOf(
	"text/html",
	"application/xhtml+xml",
	"image/svg+xml",
	"text/javascript",
	"application/javascript",
	"application/x-javascript",
	"application/ecmascript",
	"text/ecmascript",
	"text/x-component",
	"application/xslt+xml",
	"text/xsl",
	"multipart/related",
)

// imageMIMEs is the Image category: raster formats.
var imageMIMEs = setOf(
	"image/png",
	"image/apng",
	"image/jpeg",
	"image/gif",
	"image/webp",
	"image/avif",
	"image/heic",
	"image/heic-sequence",
	"image/heif",
	"image/heif-sequence",
	"image/bmp",
	"image/tiff",
	"image/x-icon",
	"image/x-icns",
	"image/jxl",
	"image/jp2",
	"image/jpx",
	"image/jpm",
	"image/jxs",
	"image/jxr",
	"image/bpg",
	"image/vnd.radiance",
	"image/x-portable-bitmap",
	"image/x-portable-graymap",
	"image/x-portable-pixmap",
	"image/x-portable-arbitrarymap",
)

func setOf(items ...string) map[string]bool {
	s := make(map[string]bool, len(items))
	for _, it := range items {
		s[it] = true
	}
	return s
}

// IsExecutable reports whether t is native or script executable content:
// ELF, PE (EXE, DLL), Mach-O, Java classes and archives, Android packages,
// WebAssembly, Windows installers and shortcuts, Debian and RPM packages,
// browser extensions, Flash, and scripts (shell, Python, Perl, Ruby, Lua,
// Tcl, PHP, JavaScript, batch files, ...). Types derived from an executable
// type in mimetype's tree count as executable as well.
func IsExecutable(t Type) bool {
	return isExecutableMIME(normMIME(t.MIME))
}

func isExecutableMIME(m string) bool {
	if executableMIMEs[m] {
		return true
	}
	for _, c := range chain(m) {
		if executableMIMEs[c] {
			return true
		}
	}
	return false
}

func isActiveMIME(m string) bool {
	if activeMIMEs[m] {
		return true
	}
	for _, c := range chain(m) {
		if activeMIMEs[c] {
			return true
		}
	}
	return false
}

// restricted reports whether m is executable or active content, which only
// an entry naming it can accept.
func restricted(m string) bool {
	return isExecutableMIME(m) || isActiveMIME(m)
}

// InlineSafe reports whether a browser may display t inline without risk:
// raster images of the Image category (never SVG), video, audio,
// application/pdf and text/plain. Everything else must be served as an
// attachment. Serving code should also send "X-Content-Type-Options: nosniff"
// so the browser keeps to the declared type.
func InlineSafe(t Type) bool {
	m := normMIME(t.MIME)
	if restricted(m) {
		return false
	}
	switch top := topLevel(m); {
	case imageMIMEs[m]:
		return true
	case top == "video" || top == "audio":
		return true
	case m == "application/pdf" || m == "text/plain":
		return true
	}
	return false
}

// markupMarkers are lowercase byte strings that make an HTML parser, a
// script engine or a PHP interpreter act on a file.
var markupMarkers = [][]byte{
	[]byte("<script"),
	[]byte("<html"),
	[]byte("<!doctype html"),
	[]byte("<body"),
	[]byte("<iframe"),
	[]byte("<object"),
	[]byte("<embed"),
	[]byte("<svg"),
	[]byte("<?php"),
	[]byte("javascript:"),
}

// containerMarkers are signatures of archives and documents that a tool
// scanning for them (unzip, a PDF reader, ...) would open even when they do
// not start at offset 0.
var containerMarkers = [][]byte{
	[]byte("PK\x03\x04"),
	[]byte("PK\x01\x02"),
	[]byte("PK\x05\x06"),
	[]byte("Rar!\x1a\x07"),
	[]byte("7z\xbc\xaf\x27\x1c"),
	[]byte("%PDF-"),
	[]byte("\x7fELF"),
	[]byte("This program cannot be run in DOS mode"),
	[]byte("This program must be run under Win32"),
}

// Polyglot reports whether head, detected as t, also carries content another
// parser would act on. It applies to images (except SVG, which is markup
// itself), audio, video and PDF, and reports true when the head contains,
// case-insensitively, an HTML or script marker ("<script", "<html",
// "<!doctype html", "<body", "<iframe", "<object", "<embed", "<svg",
// "<?php", "javascript:"). For images it also reports true when, after
// offset 0, the head holds a ZIP, RAR, 7z, PDF or ELF signature, a DOS stub
// message, or an "MZ" header whose e_lfanew points at a "PE\0\0" signature.
//
// This is a first layer: it inspects only head (at most SniffLen bytes), so
// content appended after the head is not seen. Deeper checks, such as
// decoding the whole image, belong to later stages.
func Polyglot(head []byte, t Type) bool {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	m := normMIME(t.MIME)
	top := topLevel(m)
	image := top == "image" && !isActiveMIME(m)
	media := image || top == "video" || top == "audio" ||
		m == "application/pdf" || m == "application/ogg"
	if !media || len(head) == 0 {
		return false
	}
	lower := asciiLower(head)
	for _, mk := range markupMarkers {
		if bytes.Contains(lower, mk) {
			return true
		}
	}
	if !image || len(head) < 2 {
		return false
	}
	rest := head[1:]
	for _, mk := range containerMarkers {
		if bytes.Contains(rest, mk) {
			return true
		}
	}
	return hasPEStub(head)
}

// asciiLower returns a copy of b with ASCII letters lowercased; other bytes,
// including invalid UTF-8, are kept as they are.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// hasPEStub reports whether head holds, after offset 0, a DOS "MZ" header
// whose e_lfanew field (at offset 0x3C) points at a "PE\0\0" signature that
// is also inside head. A bare "MZ" is too common in compressed data to count.
func hasPEStub(head []byte) bool {
	for i := 1; i+0x40 <= len(head); i++ {
		j := bytes.Index(head[i:], []byte("MZ"))
		if j < 0 {
			return false
		}
		i += j
		if i+0x40 > len(head) {
			return false
		}
		lfanew := uint64(binary.LittleEndian.Uint32(head[i+0x3c:]))
		pe := uint64(i) + lfanew
		if lfanew >= 0x40 && pe+4 <= uint64(len(head)) &&
			bytes.Equal(head[pe:pe+4], []byte("PE\x00\x00")) {
			return true
		}
	}
	return false
}
