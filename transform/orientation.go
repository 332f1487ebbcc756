package transform

import (
	"encoding/binary"
	"image"

	"github.com/disintegration/imaging"
)

// jpegOrientation returns the EXIF orientation (1..8) of the JPEG whose
// beginning b holds, or 1 when there is none. It reads the segments before
// the first scan, which DecodeConfig has consumed.
func jpegOrientation(b []byte) int {
	o := 1
	jpegSegments(b, func(marker byte, p []byte) bool {
		if marker == 0xe1 { // APP1: Exif, or XMP, which is skipped
			if v := exifOrientation(p); v != 0 {
				o = v
				return false
			}
		}
		return true
	})
	return o
}

// jpegSegments calls fn with the marker and payload of each segment of
// the JPEG whose start b holds, up to the first scan, while fn returns
// true.
func jpegSegments(b []byte, fn func(marker byte, payload []byte) bool) {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return
		}
		m := b[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // markers without a length
			i += 2
			continue
		case m == 0xda || m == 0xd9: // start of scan, end of image
			return
		}
		end := i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		if end > len(b) || end < i+4 {
			return
		}
		if !fn(m, b[i+4:end]) {
			return
		}
		i = end
	}
}

// exifOrientation returns the orientation tag of IFD0 in the APP1 payload
// p, or 0 if p is not Exif or has no valid orientation.
func exifOrientation(p []byte) int {
	if len(p) < 6+8 || string(p[:6]) != "Exif\x00\x00" {
		return 0
	}
	t := p[6:] // the TIFF structure; offsets are relative to it
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	e := int(off) + 2
	for range n {
		if e+12 > len(t) {
			return 0
		}
		// An entry: tag, type, count, value (a SHORT sits in the first two
		// bytes of the value field).
		if bo.Uint16(t[e:]) == 0x0112 {
			if bo.Uint16(t[e+2:]) != 3 {
				return 0
			}
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
		e += 12
	}
	return 0
}

// orient turns img upright according to EXIF orientation o. Orientations
// 5 to 8 swap width and height.
func orient(img image.Image, o int) image.Image {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img) // imaging turns counter-clockwise
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}
