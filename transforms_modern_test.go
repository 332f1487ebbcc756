package carcosa_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/webp"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/transform"
)

// setupModern is setup with a route that makes a WebP derivative of every
// image and offers a preset whose format each client's Accept chooses.
func setupModern(t *testing.T, public bool) *testBundle {
	t.Helper()
	tb := setupConfig(t, memstore.New(), nil)
	carcosa.Handle(tb.router, "modern", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 4 << 20, Public: public,
		Derivatives: map[string]transform.Spec{"thumb": {Width: 64, Height: 64, Format: transform.WebP}},
		Presets:     map[string]transform.Spec{"card": {Width: 48, Format: transform.Auto}},
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	return tb
}

// webpSize decodes a WebP and returns its size.
func webpSize(t *testing.T, b []byte) image.Point {
	t.Helper()
	img, err := webp.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a WebP: %v", err)
	}
	return img.Bounds().Size()
}

// avifSize checks that b is an AVIF file (an ftyp box of brand avif) and
// returns the size its ispe property gives.
func avifSize(t *testing.T, b []byte) image.Point {
	t.Helper()
	if len(b) < 12 || string(b[4:8]) != "ftyp" || string(b[8:12]) != "avif" {
		t.Fatalf("not an AVIF: %q", b[:min(len(b), 16)])
	}
	i := bytes.Index(b, []byte("ispe"))
	if i < 0 || len(b) < i+16 {
		t.Fatal("AVIF without an ispe property")
	}
	return image.Point{int(binary.BigEndian.Uint32(b[i+8:])), int(binary.BigEndian.Uint32(b[i+12:]))}
}

func TestWebPDerivative(t *testing.T) {
	t.Parallel()
	tb := setupModern(t, true)
	resp, body := tb.multipartUpload(t, "modern", "photo.png", pngBytes(t, 400))
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)
	u, ok := rec.Derivatives["thumb"]
	if rec.State != "ready" || !ok {
		t.Fatalf("record = %+v, want a thumb", rec)
	}
	if keys := tb.storedKeys(t); !slices.Contains(keys, strings.TrimSuffix(rec.Key, ".png")+"/thumb.webp") {
		t.Fatalf("objects %v, want the thumb stored as .webp", keys)
	}
	resp, body = tb.do(t, "GET", tb.server.URL+u, "", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/webp" {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if size := webpSize(t, body); size != (image.Point{64, 64}) {
		t.Fatalf("thumb is %v, want 64×64", size)
	}
}

func TestWebPAndAVIFTransforms(t *testing.T) {
	t.Parallel()
	tb := setupModern(t, false)
	resp, body := tb.multipartUpload(t, "modern", "photo.png", pngBytes(t, 400)) // 400×201
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)
	for _, tt := range []struct {
		format transform.Format
		mime   string
		size   func(*testing.T, []byte) image.Point
	}{
		{transform.WebP, "image/webp", webpSize},
		{transform.AVIF, "image/avif", avifSize},
	} {
		u, err := tb.router.TransformURL(context.Background(), rec.Key, transform.Spec{Width: 64, Format: tt.format}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(u, "fm="+string(tt.format)) {
			t.Fatalf("URL %s does not say fm=%s", u, tt.format)
		}
		for _, when := range []string{"rendered", "cached"} {
			resp, body := tb.do(t, "GET", tb.server.URL+u, "", nil, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.mime || resp.Header.Get("Vary") != "" {
				t.Fatalf("%s %s: %d %v", tt.format, when, resp.StatusCode, resp.Header)
			}
			if size := tt.size(t, body); size != (image.Point{64, 32}) {
				t.Fatalf("%s %s: %v, want 64×32", tt.format, when, size)
			}
		}
		// The signature covers the format.
		other := strings.Replace(u, "fm="+string(tt.format), "fm=jpeg", 1)
		resp, body := tb.do(t, "GET", tb.server.URL+other, "", nil, nil)
		wantError(t, resp, body, http.StatusForbidden, "transform_not_allowed")
	}
	var exts []string
	for _, k := range tb.storedKeys(t) {
		if strings.HasPrefix(k, ".carcosa-cache/") {
			exts = append(exts, path.Ext(k))
		}
	}
	if strings.Join(exts, " ") != ".avif .webp" && strings.Join(exts, " ") != ".webp .avif" {
		t.Fatalf("cached %v, want one .webp and one .avif", exts)
	}
}

func TestAutoFormat(t *testing.T) {
	t.Parallel()
	tb := setupModern(t, false)
	resp, body := tb.multipartUpload(t, "modern", "photo.png", pngBytes(t, 400)) // 400×201
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)
	signed, err := tb.router.TransformURL(context.Background(), rec.Key, transform.Spec{Width: 100, Format: transform.Auto}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(signed, "fm=auto") {
		t.Fatalf("URL %s does not say fm=auto", signed)
	}
	preset := rec.URL + "?preset=card"
	if strings.Contains(rec.URL, "?") { // signed: the route is private
		preset = rec.URL + "&preset=card"
	}
	chrome := "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	tests := []struct {
		accept string
		mime   string
	}{
		{chrome, "image/avif"},
		{"image/webp,*/*", "image/webp"},
		{"image/avif;q=0, image/webp;q=0.5", "image/webp"},
		{"image/*,*/*;q=0.8", "image/png"}, // the source's format
		{"", "image/png"},
	}
	etags := map[string]string{}
	for _, u := range []string{signed, preset} {
		for _, tt := range tests {
			for _, when := range []string{"rendered", "cached"} {
				hdr := map[string]string{}
				if tt.accept != "" {
					hdr["Accept"] = tt.accept
				}
				resp, body := tb.do(t, "GET", tb.server.URL+u, "", nil, hdr)
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.mime || resp.Header.Get("Vary") != "Accept" {
					t.Fatalf("Accept %q, %s: %d %v %s", tt.accept, when, resp.StatusCode, resp.Header, body)
				}
				var size image.Point
				switch tt.mime {
				case "image/avif":
					size = avifSize(t, body)
				case "image/webp":
					size = webpSize(t, body)
				default:
					_, size = decodeImage(t, body)
				}
				want := 100
				if u == preset {
					want = 48
				}
				if size.X != want {
					t.Fatalf("Accept %q: %v, want %d wide", tt.accept, size, want)
				}
				if e, ok := etags[u+tt.mime]; ok && e != resp.Header.Get("ETag") {
					t.Fatalf("ETag %s then %s for the same output", e, resp.Header.Get("ETag"))
				}
				etags[u+tt.mime] = resp.Header.Get("ETag")
			}
		}
	}
	if len(etags) != 6 {
		t.Fatalf("ETags %v, want one per URL and format", etags)
	}
	// Cached by the chosen format, never as "auto" or "accept".
	for _, k := range tb.storedKeys(t) {
		if strings.HasPrefix(k, ".carcosa-cache/") && strings.Contains(k, "accept") {
			t.Fatalf("cached as %s", k)
		}
	}
	// The signature of fm=auto is not that of no fm, nor of a format.
	for _, fm := range []string{"fm=webp", "fm=jpeg"} {
		resp, body := tb.do(t, "GET", tb.server.URL+strings.Replace(signed, "fm=auto", fm, 1), "", nil, nil)
		wantError(t, resp, body, http.StatusForbidden, "transform_not_allowed")
	}
	resp, body = tb.do(t, "GET", tb.server.URL+strings.Replace(signed, "&fm=auto", "", 1), "", nil, nil)
	wantError(t, resp, body, http.StatusForbidden, "transform_not_allowed")
}

func TestAutoFormatDerivativeRefused(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), nil)
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(p.(string), "auto") {
			t.Fatalf("Handle with an auto derivative: %v, want a panic naming auto", p)
		}
	}()
	carcosa.Handle(tb.router, "bad", carcosa.Route[struct{}, struct{}]{
		Accept:      []string{"image"},
		Derivatives: map[string]transform.Spec{"thumb": {Width: 64, Format: transform.Auto}},
	})
}
