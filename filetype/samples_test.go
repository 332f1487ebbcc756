package filetype

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			img.Set(x, y, color.RGBA{R: uint8(60 * x), G: uint8(60 * y), B: 128, A: 255})
		}
	}
	return img
}

func samplePNG(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage()); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func sampleJPEG(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(), &jpeg.Options{Quality: 80}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func sampleGIF(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, testImage(), nil); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func sampleZIP(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("hello.txt")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write([]byte("hello from a zip archive\n")); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

const (
	samplePDF = "%PDF-1.4\n" +
		"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
		"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
	sampleText  = "Meeting notes\n\nThe yellow sign was seen again near the lake of Hali. ✓ déjà vu\n"
	sampleJSON  = `{"name":"carcosa","files":[{"id":1,"size":42},{"id":2,"size":7}],"ok":true}`
	sampleCSV   = "name,age,city\nalice,30,paris\nbob,25,rome\ncarol,41,oslo\n"
	sampleHTML  = "<!DOCTYPE html>\n<html><head><title>hi</title></head><body><script>alert(1)</script></body></html>\n"
	sampleSVG   = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`
	sampleShell = "#!/bin/sh\necho hello\nrm -rf /tmp/x\n"
)

// sampleELF is a 64-bit little-endian ELF executable header for x86-64.
func sampleELF() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4] = 2                                    // ELFCLASS64
	h[5] = 1                                    // little endian
	h[6] = 1                                    // EV_CURRENT
	binary.LittleEndian.PutUint16(h[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], 0x3e) // EM_X86_64
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint64(h[24:], 0x401000)
	binary.LittleEndian.PutUint64(h[32:], 64)
	binary.LittleEndian.PutUint16(h[52:], 64)
	return h
}

// samplePE is a DOS header whose e_lfanew points at a PE signature and a
// COFF header for x86-64.
func samplePE() []byte {
	h := make([]byte, 0x100)
	copy(h, "MZ")
	copy(h[0x4e:], "This program cannot be run in DOS mode.\r\r\n$")
	binary.LittleEndian.PutUint32(h[0x3c:], 0x80)
	copy(h[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(h[0x84:], 0x8664)
	binary.LittleEndian.PutUint16(h[0x86:], 1)
	return h
}

// sampleWAV is a RIFF/WAVE header with one second of silence declared and a
// few samples present.
func sampleWAV() []byte {
	var b bytes.Buffer
	data := make([]byte, 64)
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	_ = binary.Write(&b, binary.LittleEndian, uint32(16))
	_ = binary.Write(&b, binary.LittleEndian, uint16(1))     // PCM
	_ = binary.Write(&b, binary.LittleEndian, uint16(1))     // mono
	_ = binary.Write(&b, binary.LittleEndian, uint32(8000))  // sample rate
	_ = binary.Write(&b, binary.LittleEndian, uint32(16000)) // byte rate
	_ = binary.Write(&b, binary.LittleEndian, uint16(2))     // block align
	_ = binary.Write(&b, binary.LittleEndian, uint16(16))    // bits per sample
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// sampleMP4 is an ISO base media file starting with an ftyp box followed by
// an empty mdat box.
func sampleMP4() []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(24))
	b.WriteString("ftypisom")
	_ = binary.Write(&b, binary.BigEndian, uint32(0x200))
	b.WriteString("isommp41")
	_ = binary.Write(&b, binary.BigEndian, uint32(8))
	b.WriteString("mdat")
	return b.Bytes()
}

// sampleUnknown is binary content no detector recognises.
func sampleUnknown() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	b[0], b[1], b[2], b[3] = 0x13, 0x37, 0x00, 0x01
	return b
}

// sampleLargeJSON is a JSON array longer than SniffLen.
func sampleLargeJSON() []byte {
	return []byte("[" + strings.Repeat(`{"id":12345,"name":"hastur"},`, 400) + `{"id":0}]`)
}

type sample struct {
	name string
	data []byte
}

func allSamples(tb testing.TB) []sample {
	return []sample{
		{"png", samplePNG(tb)},
		{"jpeg", sampleJPEG(tb)},
		{"gif", sampleGIF(tb)},
		{"pdf", []byte(samplePDF)},
		{"text", []byte(sampleText)},
		{"json", []byte(sampleJSON)},
		{"csv", []byte(sampleCSV)},
		{"html", []byte(sampleHTML)},
		{"svg", []byte(sampleSVG)},
		{"elf", sampleELF()},
		{"pe", samplePE()},
		{"shell", []byte(sampleShell)},
		{"zip", sampleZIP(tb)},
		{"wav", sampleWAV()},
		{"mp4", sampleMP4()},
		{"unknown", sampleUnknown()},
		{"empty", nil},
	}
}
