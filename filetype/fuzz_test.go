package filetype

import (
	"bytes"
	"testing"
)

var fuzzEntries = []string{
	"image", "video", "audio", "pdf", "text", "any",
	"image/png", "text/plain", "application/zip", "image/svg+xml",
	"image/*", "text/*", "application/*", "application/x-elf",
	EmptyMIME, UnknownMIME,
}

func FuzzDetect(f *testing.F) {
	for _, s := range allSamples(f) {
		f.Add(s.data, Detect(s.data).Extension)
	}
	f.Add(append(samplePNG(f), "<script>"...), ".png")
	f.Add([]byte(sampleText), ".exe")

	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		orig := bytes.Clone(data)
		det := Detect(data)
		if again := Detect(data); again != det {
			t.Fatalf("Detect is not deterministic: %v then %v", det, again)
		}
		if !bytes.Equal(data, orig) {
			t.Fatal("Detect modified its input")
		}
		if det.MIME == "" || det.MIME != normMIME(det.MIME) {
			t.Fatalf("Detect returned un-normalised MIME %q", det.MIME)
		}
		if len(det.Extension) < 2 || det.Extension[0] != '.' {
			t.Fatalf("Detect returned extension %q", det.Extension)
		}
		if len(data) > SniffLen {
			if head := Detect(data[:SniffLen]); head != det {
				t.Fatalf("bytes after SniffLen changed the result: %v vs %v", det, head)
			}
		}

		exec := IsExecutable(det)
		if exec && InlineSafe(det) {
			t.Fatalf("%v is both executable and inline-safe", det)
		}
		if !Accepts([]string{"any"}, det) {
			t.Fatalf("%v not accepted by any", det)
		}
		for _, e := range fuzzEntries {
			ok := Accepts([]string{e}, det)
			if ok && exec && e != "any" && e != "application/x-elf" {
				t.Fatalf("executable %v accepted by %q", det, e)
			}
		}
		if Accepts([]string{"image"}, det) && det.MIME == "image/svg+xml" {
			t.Fatal("SVG accepted as image")
		}
		if err := ValidAccept(ext); err == nil {
			_ = Accepts([]string{ext}, det)
		}
		_ = Accepts([]string{ext}, det)

		if !ExtensionAgrees("", det) {
			t.Fatalf("empty extension disagrees with %v", det)
		}
		if !ExtensionAgrees(det.Extension, det) {
			t.Fatalf("canonical extension %q disagrees with %v", det.Extension, det)
		}
		_ = ExtensionAgrees(ext, det)
		_ = ExtensionAgrees(ext, Type{MIME: ext, Extension: ext})

		_ = Polyglot(data, det)
		_ = Polyglot(data, Type{MIME: "image/png"})
		if len(data) > SniffLen && Polyglot(data, det) != Polyglot(data[:SniffLen], det) {
			t.Fatal("Polyglot looked beyond SniffLen")
		}
		_ = InlineSafe(Type{MIME: ext})
		_ = IsExecutable(Type{MIME: ext})
	})
}
