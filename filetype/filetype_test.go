package filetype

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gabriel-vasile/mimetype"
)

func samplesByName(tb testing.TB) map[string][]byte {
	m := make(map[string][]byte)
	for _, s := range allSamples(tb) {
		m[s.name] = s.data
	}
	return m
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want Type
	}{
		{"png", samplePNG(t), Type{"image/png", ".png"}},
		{"jpeg", sampleJPEG(t), Type{"image/jpeg", ".jpg"}},
		{"gif", sampleGIF(t), Type{"image/gif", ".gif"}},
		{"pdf", []byte(samplePDF), Type{"application/pdf", ".pdf"}},
		{"text", []byte(sampleText), Type{"text/plain", ".txt"}},
		{"json", []byte(sampleJSON), Type{"application/json", ".json"}},
		{"large json", sampleLargeJSON(), Type{"application/json", ".json"}},
		{"csv", []byte(sampleCSV), Type{"text/csv", ".csv"}},
		{"html", []byte(sampleHTML), Type{"text/html", ".html"}},
		{"svg", []byte(sampleSVG), Type{"image/svg+xml", ".svg"}},
		{"elf", sampleELF(), Type{"application/x-executable", ".elf"}},
		{"pe", samplePE(), Type{"application/vnd.microsoft.portable-executable", ".exe"}},
		{"shell", []byte(sampleShell), Type{"text/x-shellscript", ".sh"}},
		{"zip", sampleZIP(t), Type{"application/zip", ".zip"}},
		{"wav", sampleWAV(), Type{"audio/wav", ".wav"}},
		{"mp4", sampleMP4(), Type{"video/mp4", ".mp4"}},
		{"unknown", sampleUnknown(), Type{UnknownMIME, ".bin"}},
		{"empty", []byte{}, Type{EmptyMIME, ".bin"}},
		{"nil", nil, Type{EmptyMIME, ".bin"}},
		{"utf16 text with BOM", []byte("\xff\xfeh\x00i\x00\n\x00"), Type{"text/plain", ".txt"}},
		{"whitespace", []byte("  \n\t\n"), Type{"text/plain", ".txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Detect(tt.data)
			if got != tt.want {
				t.Fatalf("Detect() = %#v, want %#v", got, tt.want)
			}
			if strings.Contains(got.MIME, ";") {
				t.Fatalf("MIME %q carries parameters", got.MIME)
			}
		})
	}
}

func TestDetectIgnoresBytesAfterSniffLen(t *testing.T) {
	text := bytes.Repeat([]byte("plain words and more words\n"), 2*SniffLen/27)
	withTail := append(append([]byte{}, text[:SniffLen]...), 0x00, 0x01, 0x02, 0x03)
	if got, want := Detect(withTail), Detect(text[:SniffLen]); got != want {
		t.Fatalf("Detect with bytes after SniffLen = %v, want %v", got, want)
	}
	if got := Detect(text); got.MIME != "text/plain" {
		t.Fatalf("Detect(long text) = %v, want text/plain", got)
	}
}

func TestAccepts(t *testing.T) {
	s := samplesByName(t)
	tests := []struct {
		sample   string
		accepted []string
		want     bool
	}{
		// Categories.
		{"png", []string{"image"}, true},
		{"jpeg", []string{"image"}, true},
		{"gif", []string{"image"}, true},
		{"svg", []string{"image"}, false},
		{"pdf", []string{"image"}, false},
		{"mp4", []string{"video"}, true},
		{"mp4", []string{"audio"}, false},
		{"wav", []string{"audio"}, true},
		{"wav", []string{"video"}, false},
		{"pdf", []string{"pdf"}, true},
		{"png", []string{"pdf"}, false},
		{"text", []string{"text"}, true},
		{"json", []string{"text"}, true},
		{"csv", []string{"text"}, true},
		{"html", []string{"text"}, false},
		{"svg", []string{"text"}, false},
		{"shell", []string{"text"}, false},
		{"pe", []string{"text"}, false},
		{"empty", []string{"text"}, false},
		{"unknown", []string{"text"}, false},
		{"elf", []string{"any"}, true},
		{"empty", []string{"any"}, true},
		{"unknown", []string{"any"}, true},
		{"png", []string{"video", "image"}, true},
		{"png", nil, false},
		{"png", []string{" IMAGE "}, true},

		// Exact types, aliases and parent chain.
		{"png", []string{"image/png"}, true},
		{"png", []string{"Image/PNG"}, true},
		{"png", []string{"image/jpeg"}, false},
		{"wav", []string{"audio/x-wav"}, true},
		{"zip", []string{"application/x-zip-compressed"}, true},
		{"csv", []string{"text/csv"}, true},
		{"csv", []string{"text/plain"}, true},
		{"json", []string{"text/plain"}, true},
		{"json", []string{"application/json"}, true},
		{"html", []string{"text/plain"}, false},
		{"html", []string{"text/html"}, true},
		{"svg", []string{"image/svg+xml"}, true},
		{"shell", []string{"text/plain"}, false},
		{"shell", []string{"text/x-shellscript"}, true},
		{"shell", []string{"application/x-sh"}, true},
		{"elf", []string{"application/x-elf"}, true},
		{"pe", []string{"application/vnd.microsoft.portable-executable"}, true},
		{"empty", []string{EmptyMIME}, true},
		{"unknown", []string{UnknownMIME}, true},
		{"png", []string{UnknownMIME}, false},
		{"pdf", []string{"application/pdf; charset=binary"}, true},

		// Wildcards.
		{"png", []string{"image/*"}, true},
		{"svg", []string{"image/*"}, false},
		{"mp4", []string{"video/*"}, true},
		{"wav", []string{"audio/*"}, true},
		{"text", []string{"text/*"}, true},
		{"json", []string{"text/*"}, true},
		{"csv", []string{"text/*"}, true},
		{"html", []string{"text/*"}, false},
		{"shell", []string{"text/*"}, false},
		{"zip", []string{"application/*"}, true},
		{"pdf", []string{"application/*"}, true},
		{"pe", []string{"application/*"}, false},
		{"elf", []string{"application/*"}, false},
		{"unknown", []string{"application/*"}, false},
		{"empty", []string{"application/*"}, false},

		// Malformed entries never match.
		{"png", []string{""}, false},
		{"png", []string{"images"}, false},
		{"png", []string{"image/"}, false},
		{"png", []string{"*/*"}, false},
	}
	for _, tt := range tests {
		det := Detect(s[tt.sample])
		if got := Accepts(tt.accepted, det); got != tt.want {
			t.Errorf("Accepts(%q, %s [%s]) = %v, want %v", tt.accepted, tt.sample, det.MIME, got, tt.want)
		}
	}
}

func TestAcceptsDerivedTypes(t *testing.T) {
	tests := []struct {
		entry string
		mime  string
		want  bool
	}{
		{"application/zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true},
		{"application/zip", "application/epub+zip", true},
		{"application/zip", "application/java-archive", false},
		{"application/zip", "application/vnd.android.package-archive", false},
		{"application/x-ole-storage", "application/msword", true},
		{"application/x-ole-storage", "application/x-ms-installer", false},
		{"image/png", "image/apng", true},
		{"video/mp4", "image/avif", false},
		{"video/mp4", "audio/mp4", false},
		{"video/mp4", "video/3gpp", true},
		{"image", "image/heic", true},
		{"image", "image/avif", true},
		{"video", "image/avif", false},
		{"application/ogg", "audio/ogg", true},
		{"text/xml", "application/rss+xml", true},
		{"text/xml", "application/xhtml+xml", false},
		{"text", "text/xml", false},
		{"text", "text/rtf", false},
		{"text", "text/x-python", false},
		{"text", "text/javascript", false},
		{"text", "image/x-portable-bitmap", false},
		{"text", "application/geo+json", true},
		{"text", "text/vcard", true},
		{"text/plain", "text/vtt", true},
		{"text/plain", "application/xhtml+xml", false},
		{"application/json", "application/geo+json", true},
		{"audio/webm", "video/webm", true},
		{"audio", "video/webm", false},
		{"image/*", "image/vnd.adobe.photoshop", true},
		{"image", "image/vnd.adobe.photoshop", false},
		{"application/x-elf", "application/x-sharedlib", true},
	}
	for _, tt := range tests {
		if got := Accepts([]string{tt.entry}, Type{MIME: tt.mime}); got != tt.want {
			t.Errorf("Accepts(%q, %s) = %v, want %v", tt.entry, tt.mime, got, tt.want)
		}
	}
}

func TestValidAccept(t *testing.T) {
	valid := []string{
		"image", "video", "audio", "pdf", "text", "any", " Image ",
		"image/png", "IMAGE/PNG", "image/svg+xml", "application/pdf", "application/x-pdf",
		"audio/x-wav", "text/csv", "application/json",
		"image/*", "video/*", "audio/*", "text/*", "application/*", "font/*", "model/*",
		EmptyMIME, UnknownMIME,
	}
	for _, e := range valid {
		if err := ValidAccept(e); err != nil {
			t.Errorf("ValidAccept(%q) = %v, want nil", e, err)
		}
	}
	invalid := []string{
		"", "   ", "images", "jpeg", "*/*", "*/png", "image/", "/png", "image/png; q=1",
		"image/jp*", "foo/*", "multipart/*", "image/jpg", "application/x-msdownload",
		"image png", "text/plain/extra",
	}
	for _, e := range invalid {
		err := ValidAccept(e)
		if err == nil {
			t.Errorf("ValidAccept(%q) = nil, want an error", e)
			continue
		}
		if !strings.HasPrefix(err.Error(), "filetype: ") {
			t.Errorf("ValidAccept(%q) error %q lacks the package prefix", e, err)
		}
	}
}

func TestIsExecutable(t *testing.T) {
	s := samplesByName(t)
	want := map[string]bool{
		"png": false, "jpeg": false, "gif": false, "pdf": false, "text": false,
		"json": false, "csv": false, "html": false, "svg": false, "elf": true,
		"pe": true, "shell": true, "zip": false, "wav": false, "mp4": false,
		"unknown": false, "empty": false,
	}
	for name, data := range s {
		w, ok := want[name]
		if !ok {
			t.Fatalf("no expectation for sample %q", name)
		}
		if got := IsExecutable(Detect(data)); got != w {
			t.Errorf("IsExecutable(%s) = %v, want %v", name, got, w)
		}
	}
	byMIME := map[string]bool{
		"application/x-sharedlib":                 true,
		"application/x-object":                    true,
		"application/x-mach-binary":               true,
		"application/x-java-applet":               true,
		"application/java-archive":                true,
		"application/x-java-archive":              true,
		"application/vnd.android.package-archive": true,
		"application/wasm":                        true,
		"application/x-msdownload":                true,
		"application/x-ms-installer":              true,
		"application/x-msi":                       true,
		"text/x-python":                           true,
		"text/x-perl":                             true,
		"text/x-php":                              true,
		"text/javascript":                         true,
		"application/x-bat":                       true,
		"application/x-bytecode.python":           true,
		"TEXT/X-SHELLSCRIPT; charset=utf-8":       true,
		"application/vnd.oasis.opendocument.text": false,
		"image/webp":                              false,
		"text/csv":                                false,
		"":                                        false,
	}
	for m, w := range byMIME {
		if got := IsExecutable(Type{MIME: m}); got != w {
			t.Errorf("IsExecutable(%q) = %v, want %v", m, got, w)
		}
	}
}

func TestExtensionAgrees(t *testing.T) {
	s := samplesByName(t)
	tests := []struct {
		file   string
		sample string
		want   bool
	}{
		{"cat.jpg", "png", false},
		{"cat.png", "png", true},
		{"cat.PNG", "png", true},
		{"cat", "png", true},
		{"photo.jpeg", "jpeg", true},
		{"photo.jpg", "jpeg", true},
		{"photo.jpe", "jpeg", true},
		{"photo.png", "jpeg", false},
		{"anim.gif", "gif", true},
		{"notes.md", "text", true},
		{"data.log", "text", true},
		{"README", "text", true},
		{"notes.txt", "text", true},
		{"evil.png", "text", false},
		{"x.exe", "text", false},
		{"x.dll", "text", false},
		{"report.pdf", "text", false},
		{"page.html", "text", false},
		{"pic.svg", "text", false},
		{"app.js", "text", false},
		{"run.bat", "text", false},
		{"data.json", "json", true},
		{"data.txt", "json", true},
		{"data.exe", "json", false},
		{"table.csv", "csv", true},
		{"table.txt", "csv", true},
		{"invoice.pdf", "pdf", true},
		{"invoice.pdf", "pe", false},
		{"setup.exe", "pe", true},
		{"lib.dll", "pe", true},
		{"setup.txt", "pe", false},
		{"page.html", "html", true},
		{"page.htm", "html", true},
		{"page.txt", "html", false},
		{"pic.svg", "svg", true},
		{"pic.png", "svg", false},
		{"run.sh", "shell", true},
		{"run.txt", "shell", false},
		{"prog", "elf", true},
		{"prog.png", "elf", false},
		{"bundle.zip", "zip", true},
		{"report.docx", "zip", true},
		{"book.epub", "zip", true},
		{"app.jar", "zip", false},
		{"bundle.png", "zip", false},
		{"sound.wav", "wav", true},
		{"sound.mp3", "wav", false},
		{"movie.mp4", "mp4", true},
		{"movie.m4v", "mp4", true},
		{"movie.avi", "mp4", false},
		{"blob.dat", "unknown", true},
		{"blob.bin", "unknown", true},
		{"blob.xyz", "unknown", true},
		{"blob", "unknown", true},
		{"blob.png", "unknown", false},
		{"blob.pdf", "unknown", false},
		{"blob.txt", "unknown", false},
		{"blob.exe", "unknown", false},
		{"blob.sh", "unknown", false},
		{"empty.txt", "empty", true},
		{"empty.md", "empty", true},
		{"empty.png", "empty", false},
		{"empty.exe", "empty", false},
	}
	for _, tt := range tests {
		det := Detect(s[tt.sample])
		ext := ""
		if i := strings.LastIndexByte(tt.file, '.'); i >= 0 {
			ext = strings.ToLower(tt.file[i:])
		}
		if got := ExtensionAgrees(ext, det); got != tt.want {
			t.Errorf("ExtensionAgrees(%q, %s [%s]) = %v, want %v", ext, tt.sample, det.MIME, got, tt.want)
		}
	}
}

func TestExtensionAgreesByMIME(t *testing.T) {
	tests := []struct {
		ext  string
		mime string
		want bool
	}{
		{".tif", "image/tiff", true},
		{".tiff", "image/tiff", true},
		{".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true},
		{".zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false},
		{".docm", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false},
		{".doc", "application/x-ole-storage", true},
		{".msi", "application/x-ole-storage", false},
		{".jar", "application/java-archive", true},
		{".heic", "image/heic", true},
		{".m4a", "audio/x-m4a", true},
		{".xml", "application/gpx+xml", true},
		{".gpx", "text/xml", true},
		{"png", "image/png", true},
		{".", "image/png", true},
	}
	for _, tt := range tests {
		if got := ExtensionAgrees(tt.ext, Type{MIME: tt.mime}); got != tt.want {
			t.Errorf("ExtensionAgrees(%q, %s) = %v, want %v", tt.ext, tt.mime, got, tt.want)
		}
	}
}

func TestPolyglot(t *testing.T) {
	pngData := samplePNG(t)
	jpegData := sampleJPEG(t)
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"clean png", pngData, false},
		{"clean jpeg", jpegData, false},
		{"clean gif", sampleGIF(t), false},
		{"clean pdf", []byte(samplePDF), false},
		{"clean wav", sampleWAV(), false},
		{"clean mp4", sampleMP4(), false},
		{"png + script", join(pngData, []byte("<script>alert(1)</script>")), true},
		{"png + SCRIPT", join(pngData, []byte("<SCRIPT src=//x>")), true},
		{"jpeg + php", join(jpegData, []byte("<?php system($_GET['c']); ?>")), true},
		{"gif + iframe", join(sampleGIF(t), []byte("<iframe src=x>")), true},
		{"png + javascript url", join(pngData, []byte("JavaScript:alert(1)")), true},
		{"png + svg", join(pngData, []byte("<svg onload=alert(1)>")), true},
		{"pdf + html", []byte(samplePDF + "<html><body>x</body></html>"), true},
		{"wav + script", join(sampleWAV(), []byte("<script>")), true},
		{"png + zip", join(pngData, sampleZIP(t)), true},
		{"jpeg + pe", join(jpegData, samplePE()), true},
		{"png + bare MZ", join(pngData, []byte("MZ"), make([]byte, 80)), false},
		{"script beyond head", join(pngData, make([]byte, SniffLen), []byte("<script>")), false},
		{"text with script", []byte("notes <script> here"), false},
		{"html", []byte(sampleHTML), false},
		{"svg", []byte(sampleSVG), false},
		{"zip + MZ", join(sampleZIP(t), samplePE()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			det := Detect(tt.data)
			if got := Polyglot(tt.data, det); got != tt.want {
				t.Fatalf("Polyglot(%s [%s]) = %v, want %v", tt.name, det.MIME, got, tt.want)
			}
		})
	}
}

func TestInlineSafe(t *testing.T) {
	s := samplesByName(t)
	want := map[string]bool{
		"png": true, "jpeg": true, "gif": true, "pdf": true, "text": true,
		"json": false, "csv": false, "html": false, "svg": false, "elf": false,
		"pe": false, "shell": false, "zip": false, "wav": true, "mp4": true,
		"unknown": false, "empty": false,
	}
	for name, data := range s {
		if got := InlineSafe(Detect(data)); got != want[name] {
			t.Errorf("InlineSafe(%s) = %v, want %v", name, got, want[name])
		}
	}
	for _, m := range []string{"image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "text/javascript"} {
		if InlineSafe(Type{MIME: m}) {
			t.Errorf("InlineSafe(%s) = true, want false", m)
		}
	}
}

// TestTablesMatchMimetype guards the hand-written tables against typos and
// against renames in a future mimetype release.
func TestTablesMatchMimetype(t *testing.T) {
	for m, exts := range extensionGroups {
		n := mimetype.Lookup(m)
		if n == nil {
			t.Errorf("extensionGroups: %q is unknown to mimetype", m)
			continue
		}
		if n.String() != m {
			t.Errorf("extensionGroups: %q is an alias of %q", m, n.String())
		}
		for _, e := range exts {
			if !strings.HasPrefix(e, ".") || strings.ToLower(e) != e {
				t.Errorf("extensionGroups[%q]: malformed extension %q", m, e)
			}
		}
	}
	for m := range imageMIMEs {
		if n := mimetype.Lookup(m); n == nil || n.String() != m {
			t.Errorf("imageMIMEs: %q is not a primary mimetype type", m)
		}
	}
	for parent, children := range containerChildren {
		for _, c := range children {
			n := mimetype.Lookup(c)
			if n == nil {
				t.Errorf("containerChildren[%q]: %q unknown", parent, c)
				continue
			}
			if !chainContains(c, parent) {
				t.Errorf("containerChildren[%q]: %q does not derive from it", parent, c)
			}
		}
	}
}

func BenchmarkDetectAndCheck(b *testing.B) {
	data := sampleJPEG(b)
	accepted := []string{"image", "application/pdf"}
	b.ReportAllocs()
	for b.Loop() {
		t := Detect(data)
		_ = Accepts(accepted, t)
		_ = ExtensionAgrees(".jpg", t)
		_ = Polyglot(data, t)
		_ = IsExecutable(t)
	}
}

func TestForMIME(t *testing.T) {
	for in, want := range map[string]Type{
		"image/png":                 {MIME: "image/png", Extension: ".png"},
		" Image/PNG; charset=x ":    {MIME: "image/png", Extension: ".png"},
		"application/pdf":           {MIME: "application/pdf", Extension: ".pdf"},
		"text/plain":                {MIME: "text/plain", Extension: ".txt"},
		"application/x-nonexistent": {MIME: "application/x-nonexistent", Extension: ".bin"},
		"application/x-elf":         {MIME: "application/x-elf", Extension: ".elf"},
		"":                          {MIME: "", Extension: ".bin"},
	} {
		if got := ForMIME(in); got != want {
			t.Errorf("ForMIME(%q) = %+v, want %+v", in, got, want)
		}
	}
}
