package transform

import (
	"bytes"
	"context"
	"errors"
	"image"
	"net/url"
	"testing"
)

// Fuzzing: go test -fuzz=FuzzParseQuery ./transform (and FuzzImage). The
// seeds are in the code and under testdata/fuzz.

func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{"", "w=256&h=256&fit=cover&fm=jpeg&q=82", "w=100000", "fm=webp", "fm=auto&q=1", "fm=avif&fm=avif", "w=1&w=2", "fit=inside&h=0"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lim := Limits{MaxSide: 1000}
		s, err := ParseQuery(q, lim)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("ParseQuery(%q): %v does not match ErrBadSpec", raw, err)
			}
			return
		}
		if err := s.Validate(lim); err != nil {
			t.Fatalf("ParseQuery(%q) accepts %+v, which Validate refuses: %v", raw, s, err)
		}
		if c := s.Canonical(); !canonicalChars.MatchString(c) {
			t.Fatalf("Canonical of %+v is %q", s, c)
		}
	})
}

func FuzzImage(f *testing.F) {
	f.Add(encodePNG(f, gradient(16, 12)), uint8(8), uint8(8), uint8(0))
	f.Add(encodeJPEG(f, gradient(16, 12)), uint8(0), uint8(5), uint8(7))
	f.Add(animation(f, 8, 8, 3), uint8(20), uint8(0), uint8(13))
	f.Add(pngBomb(5000, 5000), uint8(1), uint8(1), uint8(1))
	f.Add(withExif(encodeJPEG(f, gradient(8, 4)), 6), uint8(4), uint8(0), uint8(3))
	f.Add(encodePNG(f, gradient(16, 12)), uint8(9), uint8(0), uint8(22))  // WebP, contain
	f.Add(encodeJPEG(f, gradient(16, 12)), uint8(7), uint8(7), uint8(25)) // AVIF
	lim := Limits{MaxPixels: 1 << 16, MaxSide: 64, MaxInputBytes: 1 << 16, MaxOutputBytes: 1 << 16}
	fits := []Fit{"", Cover, Contain, Fill, Inside}
	formats := []Format{"", JPEG, PNG, GIF, WebP, AVIF, Auto}
	f.Fuzz(func(t *testing.T, data []byte, w, h, mode uint8) {
		s := Spec{
			Width:  int(w) % (lim.MaxSide + 1),
			Height: int(h) % (lim.MaxSide + 1),
			Fit:    fits[int(mode)%len(fits)],
			Format: formats[int(mode)/len(fits)%len(formats)],
		}
		for _, rewrite := range []bool{false, true} {
			var out bytes.Buffer
			var err error
			if rewrite {
				_, err = Rewrite(context.Background(), bytes.NewReader(data), lim, &out)
			} else {
				_, err = Image(context.Background(), bytes.NewReader(data), s, lim, &out)
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) &&
					!errors.Is(err, ErrTooManyPixels) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("an error matching no sentinel: %v", err)
				}
				if out.Len() != 0 {
					t.Fatalf("%d bytes written on error", out.Len())
				}
				continue
			}
			if int64(out.Len()) > lim.MaxOutputBytes {
				t.Fatalf("%d bytes of output, over the limit", out.Len())
			}
			cfg, _, err := image.DecodeConfig(&out)
			if err != nil {
				t.Fatalf("the output does not decode: %v", err)
			}
			if int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
				t.Fatalf("the output is %d×%d", cfg.Width, cfg.Height)
			}
			if !rewrite && (cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide) {
				t.Fatalf("%+v gives %d×%d, over MaxSide", s, cfg.Width, cfg.Height)
			}
		}
	})
}
