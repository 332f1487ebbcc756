package transform

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query string
		want  Spec
		canon string
	}{
		{"", Spec{}, "w0_h0_cover_auto_q82"},
		{"w=256&h=256&fit=cover&fm=jpeg&q=82", Spec{256, 256, Cover, JPEG, 82}, "w256_h256_cover_jpeg_q82"},
		{"w=256&h=256&fm=jpg", Spec{256, 256, "", JPEG, 0}, "w256_h256_cover_jpeg_q82"},
		{"w=100&fit=inside", Spec{Width: 100, Fit: Inside}, "w100_h0_inside_auto_q82"},
		{"h=4096&fit=contain&fm=png", Spec{Height: 4096, Fit: Contain, Format: PNG}, "w0_h4096_contain_png"},
		{"w=10&h=20&fit=fill&fm=gif&q=5", Spec{10, 20, Fill, GIF, 5}, "w10_h20_fill_gif"},
		{"w=007&other=x&sig=abc", Spec{Width: 7}, "w7_h0_cover_auto_q82"},
		{"w=64&fm=webp", Spec{Width: 64, Format: WebP}, "w64_h0_cover_webp_q82"},
		{"fm=avif&q=50", Spec{Format: AVIF, Quality: 50}, "w0_h0_cover_avif_q50"},
		{"fm=auto", Spec{Format: Auto}, "w0_h0_cover_accept_q82"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseQuery(q, Limits{})
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tt.query, err)
			continue
		}
		if s != tt.want {
			t.Errorf("ParseQuery(%q) = %+v, want %+v", tt.query, s, tt.want)
		}
		if err := s.Validate(Limits{}); err != nil {
			t.Errorf("ParseQuery(%q) gives a spec Validate refuses: %v", tt.query, err)
		}
		if c := s.Canonical(); c != tt.canon {
			t.Errorf("ParseQuery(%q).Canonical() = %q, want %q", tt.query, c, tt.canon)
		}
	}
}

func TestParseQueryRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ query, says string }{
		{"w=100000", "w must be"},
		{"w=4097", "w must be"},
		{"w=-1", "w must be"},
		{"w=+5", "w must be"},
		{"w=1e3", "w must be"},
		{"w=%2010", "w must be"},
		{"w=99999999999999999999", "w must be"},
		{"h=abc", "h must be"},
		{"w=", "w is empty"},
		{"w=1&w=2", "more than once"},
		{"q=0", "q must be"},
		{"q=101", "q must be"},
		{"fit=bogus", "fit must be"},
		{"fit=COVER", "fit must be"},
		{"fm=bmp", "fm must be jpeg, png, gif, webp, avif or auto"},
		{"fm=AVIF", "fm must be"},
		{"fm=webp&fm=avif", "more than once"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseQuery(q, Limits{})
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("ParseQuery(%q) = %v, want ErrBadSpec saying %q", tt.query, err, tt.says)
		}
	}
	// MaxSide bounds w and h.
	if _, err := ParseQuery(url.Values{"w": {"300"}}, Limits{MaxSide: 256}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("w=300 with MaxSide 256: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	bad := []Spec{
		{Width: -1},
		{Height: 4097},
		{Width: 100000},
		{Fit: "bogus"},
		{Format: "bmp"},
		{Format: "WEBP"},
		{Quality: -1},
		{Quality: 101},
	}
	for _, s := range bad {
		if err := s.Validate(Limits{}); !errors.Is(err, ErrBadSpec) {
			t.Errorf("Validate(%+v) = %v, want ErrBadSpec", s, err)
		}
	}
	good := []Spec{{}, {Width: 4096, Height: 4096, Fit: Fill, Format: GIF, Quality: 100}, {Quality: 1},
		{Format: WebP}, {Format: AVIF, Quality: 30}, {Format: Auto}}
	for _, s := range good {
		if err := s.Validate(Limits{}); err != nil {
			t.Errorf("Validate(%+v) = %v", s, err)
		}
	}
}

var canonicalChars = regexp.MustCompile(`^[a-z0-9_]+$`)

func TestCanonical(t *testing.T) {
	t.Parallel()
	// Defaults are filled in: equal specs give equal strings.
	same := [][2]Spec{
		{{Width: 10}, {Width: 10, Fit: Cover, Quality: DefaultQuality}},
		{{Width: 10, Format: PNG, Quality: 50}, {Width: 10, Format: PNG}},
	}
	for _, p := range same {
		if a, b := p[0].Canonical(), p[1].Canonical(); a != b {
			t.Errorf("%+v gives %q, %+v gives %q", p[0], a, p[1], b)
		}
	}
	// Different outputs give different strings, and every string is safe,
	// invalid specs' too.
	specs := []Spec{
		{}, {Width: 10}, {Height: 10}, {Width: 10, Fit: Inside}, {Format: JPEG}, {Quality: 50},
		{Width: -10}, {Fit: "../../etc"}, {Format: "PNG"}, {Fit: "cover_x"}, {Quality: -5},
		{Format: WebP}, {Format: WebP, Quality: 50}, {Format: AVIF}, {Format: AVIF, Quality: 50},
		{Format: Auto}, {Format: Auto, Quality: 50}, {Format: "accept"},
	}
	seen := map[string]Spec{}
	for _, s := range specs {
		c := s.Canonical()
		if !canonicalChars.MatchString(c) {
			t.Errorf("%+v gives %q, not [a-z0-9_]", s, c)
		}
		if o, ok := seen[c]; ok {
			t.Errorf("%+v and %+v both give %q", s, o, c)
		}
		seen[c] = s
	}
}
