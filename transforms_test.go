package carcosa_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/scan/scantest"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/transform"
)

// setupGallery is setup with a route that makes two derivatives of every
// image and offers one preset.
func setupGallery(t *testing.T) *testBundle {
	t.Helper()
	return setupGalleryConfig(t, nil)
}

// setupGalleryConfig is setupGallery with a Config that configure may
// change.
func setupGalleryConfig(t *testing.T, configure func(*carcosa.Config)) *testBundle {
	t.Helper()
	tb := setupConfig(t, memstore.New(), configure)
	carcosa.Handle(tb.router, "gallery", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 4 << 20, Public: true,
		Derivatives: map[string]transform.Spec{
			"thumb":   {Width: 256, Height: 256, Fit: transform.Cover, Format: transform.JPEG},
			"preview": {Width: 1280, Fit: transform.Inside},
		},
		Presets: map[string]transform.Spec{"small": {Width: 64, Height: 64, Fit: transform.Fill, Format: transform.PNG}},
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	return tb
}

// decodeImage decodes an image and returns its format and size.
func decodeImage(t *testing.T, b []byte) (string, image.Point) {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return format, img.Bounds().Size()
}

type derivRecord struct {
	Duration    float64
	State       string
	Key         string
	URL         string
	Derivatives map[string]string
	Error       *struct{ Code string }
}

func (tb *testBundle) derivRecord(t *testing.T, body []byte) derivRecord {
	t.Helper()
	id := uploadedID(t, body)
	var r derivRecord
	resp, b := tb.do(t, "GET", tb.url("/uploads/"+id), "alice", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDerivatives(t *testing.T) {
	t.Parallel()
	tb := setupGallery(t)
	src := pngBytes(t, 600) // 600×301
	resp, body := tb.multipartUpload(t, "gallery", "photo.png", src)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)
	if rec.State != "ready" || len(rec.Derivatives) != 2 {
		t.Fatalf("record = %+v", rec)
	}
	format, size := decodeImage(t, tb.fetch(t, rec.Derivatives["thumb"]))
	if format != "jpeg" || size != (image.Point{256, 256}) {
		t.Fatalf("thumb: %s %v, want a 256×256 jpeg", format, size)
	}
	format, size = decodeImage(t, tb.fetch(t, rec.Derivatives["preview"]))
	if format != "png" || size != (image.Point{600, 301}) {
		t.Fatalf("preview: %s %v, want the 600×301 png, not enlarged", format, size)
	}
	// Derivatives are stored beside the file, and go with it.
	keys := tb.storedKeys(t)
	if len(keys) != 3 {
		t.Fatalf("objects %v, want the file and two derivatives", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, strings.TrimSuffix(rec.Key, ".png")) {
			t.Fatalf("object %s is not beside %s", k, rec.Key)
		}
	}
	resp, body = tb.do(t, "DELETE", tb.url("/uploads/"+uploadedID(t, body)), "alice", nil, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("objects left after delete: %v", keys)
	}
}

// countingEngine is the pure-Go engine, counting its calls.
type countingEngine struct {
	*transform.Transformer
	images, rewrites atomic.Int64
}

func (e *countingEngine) Image(ctx context.Context, r io.Reader, s transform.Spec, w io.Writer) (string, error) {
	e.images.Add(1)
	return e.Transformer.Image(ctx, r, s, w)
}

func (e *countingEngine) Rewrite(ctx context.Context, r io.Reader, w io.Writer) (string, error) {
	e.rewrites.Add(1)
	return e.Transformer.Rewrite(ctx, r, w)
}

func TestDerivativesUseConfigImageEngine(t *testing.T) {
	t.Parallel()
	eng := &countingEngine{Transformer: transform.New(transform.Limits{MaxSide: 2048})}
	tb := setupGalleryConfig(t, func(c *carcosa.Config) { c.ImageEngine = eng })
	resp, body := tb.multipartUpload(t, "gallery", "photo.png", pngBytes(t, 600))
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if rec := tb.derivRecord(t, body); rec.State != "ready" || len(rec.Derivatives) != 2 {
		t.Fatalf("record = %+v", rec)
	}
	if n := eng.images.Load(); n != 2 {
		t.Errorf("Config.ImageEngine made %d images, want the 2 derivatives", n)
	}
}

// pngHeader is a PNG whose header claims w×h pixels and which has no
// image data: a decompression bomb's first 33 bytes.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDerivativesRefuseBadImages(t *testing.T) {
	t.Parallel()
	tb := setupGallery(t)
	bomb := pngHeader(200000, 200000) // 40 gigapixels
	resp, body := tb.multipartUpload(t, "gallery", "bomb.png", bomb)
	wantError(t, resp, body, 422, "image_too_large")
	src := pngBytes(t, 300)
	resp, body = tb.multipartUpload(t, "gallery", "cut.png", src[:len(src)/2])
	wantError(t, resp, body, 422, "image_corrupt")
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Fatalf("objects left: %v", keys)
	}
}

func TestOnTheFlyTransforms(t *testing.T) {
	t.Parallel()
	tb := setupGallery(t)
	resp, body := tb.multipartUpload(t, "gallery", "photo.png", pngBytes(t, 400))
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)

	// Unsigned parameters are refused; absurd ones are a bad request.
	resp, body = tb.do(t, "GET", tb.server.URL+rec.URL+"?w=100&h=50&fit=fill", "", nil, nil)
	wantError(t, resp, body, 403, "transform_not_allowed")
	resp, body = tb.do(t, "GET", tb.server.URL+rec.URL+"?w=100000", "", nil, nil)
	wantError(t, resp, body, 400, "bad_transform")
	resp, body = tb.do(t, "GET", tb.server.URL+rec.URL+"?preset=huge", "", nil, nil)
	wantError(t, resp, body, 403, "transform_not_allowed")

	// A signed transform, rendered once for many at the same time.
	u, err := tb.router.TransformURL(context.Background(), rec.Key, transform.Spec{Width: 100, Height: 50, Fit: transform.Fill, Format: transform.JPEG}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	bodies := make([][]byte, 8)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := tb.server.Client().Get(tb.server.URL + u)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" ||
				!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("ETag") == "" {
				t.Errorf("%d %v %s", resp.StatusCode, resp.Header, b.Bytes())
			}
			bodies[i] = b.Bytes()
		}()
	}
	wg.Wait()
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatal("concurrent transforms differ")
		}
	}
	if format, size := decodeImage(t, bodies[0]); format != "jpeg" || size != (image.Point{100, 50}) {
		t.Fatalf("transform: %s %v", format, size)
	}
	// The result is cached in the bucket and served from there.
	cached := 0
	for _, k := range tb.storedKeys(t) {
		if strings.HasPrefix(k, ".carcosa-cache/") {
			cached++
		}
	}
	if cached != 1 {
		t.Fatalf("%d cached transforms, want 1", cached)
	}
	again := tb.fetch(t, u)
	if !bytes.Equal(again, bodies[0]) {
		t.Fatal("the cached transform differs")
	}
	// A preset.
	format, size := decodeImage(t, tb.fetch(t, rec.URL+"?preset=small"))
	if format != "png" || size != (image.Point{64, 64}) {
		t.Fatalf("preset: %s %v", format, size)
	}
	// A tampered signature.
	resp, body = tb.do(t, "GET", tb.server.URL+strings.Replace(u, "w=100", "w=101", 1), "", nil, nil)
	wantError(t, resp, body, http.StatusForbidden, "transform_not_allowed")
}

// TestTransformRanges: a transform's Range is judged as a file's is, both
// when it is rendered and when it comes from the cache.
func TestTransformRanges(t *testing.T) {
	t.Parallel()
	tb := setupGallery(t)
	resp, body := tb.multipartUpload(t, "gallery", "photo.png", pngBytes(t, 400))
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)
	u, err := tb.router.TransformURL(context.Background(), rec.Key, transform.Spec{Width: 90, Format: transform.PNG}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"rendered", "cached"} {
		resp, body := tb.do(t, "GET", tb.server.URL+u, "", nil, map[string]string{"Range": "bytes=-0"})
		wantError(t, resp, body, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable")
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes */") {
			t.Fatalf("%s: Content-Range %q", when, resp.Header.Get("Content-Range"))
		}
	}
	whole := tb.fetch(t, u)
	resp, body = tb.do(t, "GET", tb.server.URL+u, "", nil, map[string]string{"Range": "bytes=" + strings.Repeat("0-0,", 99) + "0-0"})
	if resp.StatusCode != 200 || !bytes.Equal(body, whole) {
		t.Fatalf("a hundred ranges: %d, %d bytes of %d", resp.StatusCode, len(body), len(whole))
	}
}

// TestRewrite: a route that rewrites its images drops what rides along
// with them; the record describes the bytes served.
func TestRewrite(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), nil)
	carcosa.Handle(tb.router, "avatars", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 4 << 20, Public: true, Rewrite: true,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	zip := scantest.Zip("payload.html", bytes.Repeat([]byte("<script>alert(1)</script>"), 100))
	polyglot := append(pngBytes(t, 300), zip...)
	resp, body := tb.multipartUpload(t, "avatars", "me.png", polyglot)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.record(t, uploadedID(t, body), "alice")
	served := tb.fetch(t, rec.URL)
	if bytes.Contains(served, []byte("PK\x03\x04")) || bytes.Contains(served, []byte("<script>")) {
		t.Fatal("the rewritten file still carries the zip")
	}
	if rec.SHA256 != sha(served) || rec.Size != int64(len(served)) {
		t.Fatalf("record %s/%d does not describe the served %d bytes", rec.SHA256, rec.Size, len(served))
	}
	if format, size := decodeImage(t, served); format != "png" || size != (image.Point{300, 151}) {
		t.Fatalf("rewritten: %s %v", format, size)
	}
}

// TestTransformBomb: a stored PNG that claims 40 gigapixels is refused by
// an on-the-fly transform before any pixel is decoded.
func TestTransformBomb(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, body := tb.multipartUpload(t, "files", "bomb.png", pngHeader(200000, 200000)) // a private route
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.record(t, uploadedID(t, body), "alice")
	u, err := tb.router.TransformURL(context.Background(), rec.Key, transform.Spec{Width: 64}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = tb.do(t, "GET", tb.server.URL+u, "", nil, nil)
	wantError(t, resp, body, 422, "image_too_large")
}

// TestTransformMemoryBudget: derivatives and on-the-fly transforms
// reserve their memory from TransformLimits.MaxMemory; one that needs more
// than all of it is refused before decoding.
func TestTransformMemoryBudget(t *testing.T) {
	t.Parallel()
	tb := setupGalleryConfig(t, func(c *carcosa.Config) { c.TransformLimits.MaxMemory = 2 << 20 })

	// 600×301 decodes to 0.7 MB: its derivatives fit.
	resp, body := tb.multipartUpload(t, "gallery", "small.png", pngBytes(t, 600))
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)
	if rec.State != "ready" || len(rec.Derivatives) != 2 {
		t.Fatalf("record = %+v", rec)
	}
	// 1000×501 decodes to 2 MB: over the budget with any derivative.
	resp, body = tb.multipartUpload(t, "gallery", "large.png", pngBytes(t, 1000))
	wantError(t, resp, body, 422, "image_too_large")
	if keys := tb.storedKeys(t); len(keys) != 3 {
		t.Fatalf("objects %v, want the small file and its two derivatives", keys)
	}

	// On the fly: a preset within the budget, a padded 1280×1280 over it.
	resp, body = tb.do(t, "GET", tb.server.URL+rec.URL+"?preset=small", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("preset: %d %s", resp.StatusCode, body)
	}
	u, err := tb.router.TransformURL(context.Background(), rec.Key, transform.Spec{Width: 1280, Height: 1280, Fit: transform.Contain, Format: transform.JPEG}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = tb.do(t, "GET", tb.server.URL+u, "", nil, nil)
	wantError(t, resp, body, 422, "image_too_large")
}

func TestTransformMemoryBudgetNegative(t *testing.T) {
	t.Parallel()
	_, err := carcosa.New(carcosa.Config{DataDir: t.TempDir(), TransformLimits: transform.Limits{MaxMemory: -1}})
	if err == nil || !strings.Contains(err.Error(), "Config.TransformLimits.MaxMemory") {
		t.Fatalf("err = %v, want one naming Config.TransformLimits.MaxMemory", err)
	}
}

// TestVideoDerivatives: a video's derivatives are made from its poster
// frame, with ffmpeg.
func TestVideoDerivatives(t *testing.T) {
	t.Parallel()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg is required under CI (Debian: apt-get install ffmpeg)")
		}
		t.Skip("needs ffmpeg (Debian: apt-get install ffmpeg)")
	}
	video := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=10",
		"-pix_fmt", "yuv420p", video).CombinedOutput()
	if err != nil {
		t.Fatalf("making a test video: %v: %s", err, out)
	}
	data, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}
	tb := setupConfig(t, memstore.New(), nil)
	carcosa.Handle(tb.router, "clips", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"video"}, MaxFileSize: 8 << 20, Public: true,
		Derivatives: map[string]transform.Spec{"poster": {Width: 160, Fit: transform.Inside, Format: transform.JPEG}},
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
	})
	resp, body := tb.multipartUpload(t, "clips", "clip.mp4", data)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rec := tb.derivRecord(t, body)
	format, size := decodeImage(t, tb.fetch(t, rec.Derivatives["poster"]))
	if format != "jpeg" || size != (image.Point{160, 120}) {
		t.Fatalf("poster: %s %v, want a 160×120 jpeg", format, size)
	}
	if rec.Duration < 1.9 || rec.Duration > 2.1 {
		t.Fatalf("duration %v s, want 2", rec.Duration)
	}
}

// TestCompletionSeesURLs: OnComplete gets the URLs the file and its
// derivatives are served at once the upload is ready.
func TestCompletionSeesURLs(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), nil)
	files := make(chan carcosa.File, 1)
	carcosa.Handle(tb.router, "private", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 4 << 20,
		Derivatives: map[string]transform.Spec{"thumb": {Width: 32, Height: 32}},
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: req.HTTP.Header.Get("X-User")}, nil
		},
		OnComplete: func(_ context.Context, _ struct{}, f carcosa.File) (any, error) {
			files <- f
			return nil, nil
		},
	})
	src := pngBytes(t, 100)
	resp, body := tb.multipartUpload(t, "private", "p.png", src)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	f := <-files
	if f.URL == "" || f.Derivatives["thumb"] == "" {
		t.Fatalf("OnComplete got %+v", f)
	}
	if got := tb.fetch(t, f.URL); !bytes.Equal(got, src) {
		t.Fatal("the file's URL serves other bytes")
	}
	if _, size := decodeImage(t, tb.fetch(t, f.Derivatives["thumb"])); size != (image.Point{32, 32}) {
		t.Fatalf("thumb %v", size)
	}
}
