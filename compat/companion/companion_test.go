package companion_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/compat/companion"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
)

type bundle struct {
	srv    *httptest.Server
	router *carcosa.Router
	bucket *storage.Bucket // nil when the Router keeps files on disk
	ep     string          // Uppy's companionEndpoint
}

type input struct {
	Album string `json:"album"`
}

type meta struct {
	Album string `json:"album"`
}

// setup serves a Router under /api/uploads/ and its Companion routes under
// /companion, with an "images" route (owner from the X-User header), a
// "files" route for anything up to 16 MiB and a "small" one of 1 MiB. The
// files are kept in a new bucket of the S3 endpoint of the environment
// when s3 is set, else on disk.
func setup(t *testing.T, s3 bool, configure ...func(*carcosa.Config)) *bundle {
	t.Helper()
	cfg := carcosa.Config{BasePath: "/api/uploads", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	for _, f := range configure {
		f(&cfg)
	}
	b := &bundle{}
	if s3 {
		ep := testenv.S3Endpoint(t)
		name := testenv.TempS3Bucket(t, ep)
		bk, err := storage.Open(t.Context(), testenv.S3URL(ep, name, ""))
		if err != nil {
			t.Fatal(err)
		}
		b.bucket = bk
		cfg.Storage = bk
	}
	r, err := carcosa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	owner := func(req *http.Request) (string, error) {
		if u := req.Header.Get("X-User"); u != "" {
			return u, nil
		}
		return "", carcosa.ErrForbidden.With("sign in first")
	}
	carcosa.Handle(r, "images", carcosa.Route[input, meta]{
		Accept: []string{"image"}, MaxFileSize: 4 << 20,
		Middleware: func(ctx context.Context, req *carcosa.Request[input]) (carcosa.Grant[meta], error) {
			o, err := owner(req.HTTP)
			return carcosa.Grant[meta]{Owner: o, Metadata: meta{Album: req.Input.Album}}, err
		},
		OnComplete: func(ctx context.Context, m meta, f carcosa.File) (any, error) {
			return map[string]any{"album": m.Album}, nil
		},
	})
	for name, max := range map[string]int64{"files": 16 << 20, "small": 1 << 20} {
		carcosa.Handle(r, name, carcosa.Route[struct{}, struct{}]{
			Accept: []string{"any"}, MaxFileSize: max,
			Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
				o, err := owner(req.HTTP)
				return carcosa.Grant[struct{}]{Owner: o}, err
			},
		})
	}
	c, err := companion.New(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/uploads/", r)
	mux.Handle("/companion/", c)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	b.router = r
	b.ep = b.srv.URL + "/companion"
	return b
}

// call sends a request as Uppy's companion client does, as user, and
// decodes a 2xx answer's JSON into out.
func (b *bundle) call(t *testing.T, method, path, user string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.ep+"/s3"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-User", user)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		var e struct{ Message, Code string }
		if err := json.Unmarshal(data, &e); err != nil || e.Code == "" {
			t.Errorf("%s %s: %d answer is not {message, code}: %s", method, path, res.StatusCode, data)
		}
		return res.StatusCode
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return res.StatusCode
}

type created struct {
	Key      string `json:"key"`
	UploadID string `json:"uploadId"`
}

func (b *bundle) create(t *testing.T, user, route, name, typ string, extra map[string]any) created {
	t.Helper()
	md := map[string]any{"route": route, "relativePath": nil, "name": name, "type": typ}
	for k, v := range extra {
		md[k] = v
	}
	var c created
	if st := b.call(t, "POST", "/multipart", user, map[string]any{"filename": name, "type": typ, "metadata": md}, &c); st != 200 {
		t.Fatalf("create: status %d", st)
	}
	if c.Key == "" || c.UploadID == "" {
		t.Fatalf("create: %+v", c)
	}
	return c
}

func (c created) path(suffix string) string {
	return "/multipart/" + url.PathEscape(c.UploadID) + suffix + "?" + url.Values{"key": {c.Key}}.Encode()
}

// putPart signs part n and PUTs data to its URL, as Uppy does (no
// Content-Type), and returns the ETag without quotes.
func (b *bundle) putPart(t *testing.T, user string, c created, n int, data []byte) string {
	t.Helper()
	var s struct {
		URL     string `json:"url"`
		Expires int64  `json:"expires"`
	}
	if st := b.call(t, "GET", c.path("/"+strconv.Itoa(n)), user, nil, &s); st != 200 {
		t.Fatalf("sign part %d: status %d", n, st)
	}
	if s.Expires <= 0 {
		t.Errorf("sign part %d: expires %d", n, s.Expires)
	}
	return put(t, s.URL, data)
}

func put(t *testing.T, u string, data []byte) string {
	t.Helper()
	req, _ := http.NewRequest("PUT", u, bytes.NewReader(data))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PUT part: %d %s", res.StatusCode, body)
	}
	etag := strings.Trim(res.Header.Get("ETag"), `"`)
	if etag == "" {
		t.Fatal("PUT part: no ETag")
	}
	return etag
}

type part struct {
	PartNumber int    `json:"PartNumber"`
	ETag       string `json:"ETag"`
	Size       int64  `json:"Size,omitempty"`
}

type completion struct {
	Location string `json:"location"`
	Key      string `json:"key"`
}

func random(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// idOf is the Carcosa ID within an uploadId.
func idOf(c created) string { id, _, _ := strings.Cut(c.UploadID, "."); return id }

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func get(t *testing.T, u string) []byte {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, data)
	}
	return data
}

// gone checks that the bucket holds no object at key.
func (b *bundle) gone(t *testing.T, key string) {
	t.Helper()
	if _, err := b.bucket.Open(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the object at %s is still there (%v)", key, err)
	}
}

// TestMultipart is Uppy's multipart flow: create, sign and PUT parts,
// pause (list the parts) and resume, complete, and the file served back.
func TestMultipart(t *testing.T) {
	b := setup(t, true)
	data := random(11 << 20) // parts of 5, 5 and 1 MiB
	c := b.create(t, "alice", "files", "big.bin", "application/octet-stream", nil)

	e1 := b.putPart(t, "alice", c, 1, data[:5<<20])
	// Pause; on resume Uppy lists the parts S3 has.
	var listed []part
	if st := b.call(t, "GET", c.path(""), "alice", nil, &listed); st != 200 || len(listed) != 1 || listed[0].PartNumber != 1 || strings.Trim(listed[0].ETag, `"`) != e1 || listed[0].Size != 5<<20 {
		t.Fatalf("list parts: %d %+v", st, listed)
	}
	var batch struct {
		PresignedUrls map[string]string `json:"presignedUrls"`
	}
	if st := b.call(t, "GET", c.path("/batch")+"&partNumbers=2,3", "alice", nil, &batch); st != 200 || len(batch.PresignedUrls) != 2 {
		t.Fatalf("batch: %d %+v", st, batch)
	}
	e2 := put(t, batch.PresignedUrls["2"], data[5<<20:10<<20])
	e3 := b.putPart(t, "alice", c, 3, data[10<<20:])

	// Another owner, and a wrong key, find nothing.
	for _, p := range []string{c.path(""), c.path("/1")} {
		if st := b.call(t, "GET", p, "mallory", nil, nil); st != 404 {
			t.Errorf("GET %s by another owner: %d, want 404", p, st)
		}
	}
	wrong := c
	wrong.Key = "files/x.bin"
	if st := b.call(t, "GET", wrong.path(""), "alice", nil, nil); st != 404 {
		t.Errorf("wrong key: %d, want 404", st)
	}
	if st := b.call(t, "POST", c.path("/complete"), "mallory", map[string]any{"parts": []part{{1, e1, 0}}}, nil); st != 404 {
		t.Errorf("complete by another owner: %d, want 404", st)
	}

	// An uploadId whose S3 part is not the upload's finds no parts.
	tampered := c
	tampered.UploadID = idOf(c) + ".not-an-upload"
	if st := b.call(t, "GET", tampered.path(""), "alice", nil, nil); st != 404 {
		t.Errorf("list with another S3 upload id: %d, want 404", st)
	}
	// Parts S3 does not have are the client's error; the upload stays.
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": []part{{1, "0123abcd", 0}}}, nil); st != 400 {
		t.Errorf("complete with a wrong ETag: %d, want 400", st)
	}
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": []part{{1, e1, 0}, {1, e1, 0}}}, nil); st != 400 {
		t.Errorf("complete with a part twice: %d, want 400", st)
	}

	var done completion
	parts := []part{{3, e3, 0}, {1, `"` + e1 + `"`, 0}, {2, e2, 0}} // any order, quoted or not
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": parts}, &done); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	if done.Key != c.Key || done.Location == "" {
		t.Fatalf("complete: %+v", done)
	}
	if got := get(t, done.Location); !bytes.Equal(got, data) {
		t.Fatalf("served %d bytes, not the file's %d", len(got), len(data))
	}
	up, err := b.router.Get(t.Context(), idOf(c))
	if err != nil {
		t.Fatal(err)
	}
	if up.State != "ready" || up.SHA256 != sha(data) || up.Size != int64(len(data)) || up.Name != "big.bin" {
		t.Fatalf("record: %+v", up)
	}
	// The answer lost, Uppy may complete again.
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": parts}, &done); st != 200 {
		t.Errorf("complete again: %d", st)
	}
}

// TestImage checks the route's input and OnComplete, and a file whose
// bytes are no image, refused and removed.
func TestImage(t *testing.T) {
	b := setup(t, true)
	img := pngOf(t, 64, 64)
	c := b.create(t, "alice", "images", "a.png", "image/png", map[string]any{"input": `{"album":"cats"}`})
	e := b.putPart(t, "alice", c, 1, img)
	var done completion
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": []part{{1, e, 0}}}, &done); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	up, err := b.router.Get(t.Context(), idOf(c))
	if err != nil || up.State != "ready" || up.Type != "image/png" || !strings.Contains(string(up.Result), "cats") {
		t.Fatalf("record: %+v %v", up, err)
	}

	// A declared PNG that is text.
	c = b.create(t, "alice", "images", "b.png", "image/png", nil)
	e = b.putPart(t, "alice", c, 1, []byte(strings.Repeat("not an image\n", 100)))
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": []part{{1, e, 0}}}, nil); st != 415 {
		t.Errorf("complete of a false PNG: %d, want 415", st)
	}
	b.gone(t, c.Key)
	if up, err := b.router.Get(t.Context(), idOf(c)); err != nil || up.State != "rejected" {
		t.Errorf("record of a false PNG: %+v %v", up, err)
	}

	// A declared type the route does not accept.
	if st := b.call(t, "POST", "/multipart", "alice", map[string]any{"filename": "a.txt", "type": "text/plain", "metadata": map[string]any{"route": "images"}}, nil); st != 415 {
		t.Errorf("create of a text file on images: %d, want 415", st)
	}
	// No route, no owner.
	if st := b.call(t, "POST", "/multipart", "alice", map[string]any{"filename": "a.png", "type": "image/png", "metadata": map[string]any{}}, nil); st != 400 {
		t.Errorf("create without a route: %d, want 400", st)
	}
	if st := b.call(t, "POST", "/multipart", "", map[string]any{"filename": "a.png", "type": "image/png", "metadata": map[string]any{"route": "images"}}, nil); st != 403 {
		t.Errorf("create without an owner: %d, want 403", st)
	}
}

// TestTooLarge: a file larger than its route allows is refused on
// completion, and its object removed.
func TestTooLarge(t *testing.T) {
	b := setup(t, true)
	c := b.create(t, "alice", "small", "big.bin", "application/octet-stream", nil)
	e := b.putPart(t, "alice", c, 1, random(2<<20))
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": []part{{1, e, 0}}}, nil); st != 413 {
		t.Errorf("complete: %d, want 413", st)
	}
	b.gone(t, c.Key)
}

// TestAbort: Uppy's DELETE on a removed file ends its upload.
func TestAbort(t *testing.T) {
	b := setup(t, true)
	c := b.create(t, "alice", "files", "a.bin", "", nil)
	b.putPart(t, "alice", c, 1, random(1000))
	if st := b.call(t, "DELETE", c.path(""), "mallory", nil, nil); st != 404 {
		t.Errorf("abort by another owner: %d, want 404", st)
	}
	var out map[string]any
	if st := b.call(t, "DELETE", c.path(""), "alice", nil, &out); st != 200 || len(out) != 0 {
		t.Fatalf("abort: %d %v", st, out)
	}
	if _, err := b.router.Get(t.Context(), idOf(c)); !errors.Is(err, carcosa.ErrNotFound) {
		t.Errorf("record after abort: %v", err)
	}
	if st := b.call(t, "GET", c.path(""), "alice", nil, nil); st != 404 {
		t.Errorf("list after abort: %d, want 404", st)
	}
	// TempS3Bucket fails the test if a multipart upload is left.
}

// TestExpired: a multipart upload never completed is ended by the sweep
// once past UploadTTL, its S3 multipart upload aborted.
func TestExpired(t *testing.T) {
	b := setup(t, true, func(c *carcosa.Config) { c.UploadTTL = time.Second })
	c := b.create(t, "alice", "files", "a.bin", "", nil)
	b.putPart(t, "alice", c, 1, random(1000))
	time.Sleep(1200 * time.Millisecond)
	if err := b.router.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	up, err := b.router.Get(t.Context(), idOf(c))
	if err != nil || up.State != "rejected" || up.Error == nil || up.Error.Code != "upload_expired" {
		t.Fatalf("record: %+v %v", up, err)
	}
	if st := b.call(t, "GET", c.path(""), "alice", nil, nil); st != 409 {
		t.Errorf("list after expiry: %d, want 409", st)
	}
	// TempS3Bucket fails the test if the multipart upload is left.
}

// TestPostForm is Uppy's path for a file it does not send in parts: a POST
// policy from /s3/params, a form POST to the bucket, and no call after;
// the upload is finished once its object is found.
func TestPostForm(t *testing.T) {
	b := setup(t, true)
	img := pngOf(t, 32, 32)
	q := url.Values{"filename": {"c.png"}, "type": {"image/png"}, "metadata[route]": {"images"}, "metadata[relativePath]": {"null"}, "metadata[input]": {`{"album":"dogs"}`}}
	var pol struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Fields  map[string]string `json:"fields"`
		Headers map[string]string `json:"headers"`
	}
	if st := b.call(t, "GET", "/params?"+q.Encode(), "alice", nil, &pol); st != 200 {
		t.Fatalf("params: %d", st)
	}
	if pol.Method != "POST" || pol.URL == "" || pol.Fields["key"] == "" || pol.Fields["policy"] == "" {
		t.Fatalf("params: %+v", pol)
	}
	post := func(data []byte) int {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, v := range pol.Fields {
			mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("file", "c.png")
		fw.Write(data)
		mw.Close()
		res, err := http.Post(pol.URL, mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := post(random(5 << 20)); st < 400 {
		t.Errorf("a POST larger than the route allows: %d, want S3's refusal", st)
	}
	if st := post(img); st != 204 && st != 200 && st != 201 {
		t.Fatalf("form POST: %d", st)
	}
	key := pol.Fields["key"]
	id := strings.TrimSuffix(key[strings.LastIndex(key, "/")+1:], ".png")
	// No request says the file is there: a job looks for it.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if up, err := b.router.Get(t.Context(), id); err != nil || up.State != "uploading" {
			break
		}
	}
	up, err := b.router.Get(t.Context(), id)
	if err != nil || up.State != "ready" || up.SHA256 != sha(img) || up.Size != int64(len(img)) || !strings.Contains(string(up.Result), "dogs") {
		t.Fatalf("after the sweep: %+v %v", up, err)
	}
}

// TestNotS3: a bucket that is not S3's answers 501, and keeps no record.
func TestNotS3(t *testing.T) {
	b := setup(t, false)
	if st := b.call(t, "POST", "/multipart", "alice", map[string]any{"filename": "a.png", "type": "image/png", "metadata": map[string]any{"route": "images"}}, nil); st != 501 {
		t.Errorf("create: %d, want 501", st)
	}
	if st := b.call(t, "GET", "/params?filename=a.png&type=image/png&metadata[route]=images", "alice", nil, nil); st != 501 {
		t.Errorf("params: %d, want 501", st)
	}
	list, err := b.router.List(t.Context(), carcosa.ListOptions{Route: "images", Owner: "alice"})
	if err != nil || len(list.Uploads) != 0 {
		t.Errorf("records left: %+v %v", list, err)
	}
	if st := b.call(t, "GET", "/multipart/nothing/1?key=x", "alice", nil, nil); st != 404 {
		t.Errorf("unknown upload: %d, want 404", st)
	}
}

// TestCORS: an allowed origin gets its headers, and preflights are
// answered.
func TestCORS(t *testing.T) {
	r, err := carcosa.New(carcosa.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h, err := companion.New(r, &companion.Options{AllowOrigins: []string{"https://app.example"}})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("OPTIONS", "/companion/s3/multipart", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
	req = httptest.NewRequest("OPTIONS", "/companion/s3/multipart", nil)
	req.Header.Set("Origin", "https://evil.example")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin allowed: %v", w.Header())
	}
	if _, err := companion.New(r, &companion.Options{Path: "companion/"}); err == nil {
		t.Error("a bad Path accepted")
	}
}

// TestDrain: a draining Router refuses new uploads, and lets those begun
// go on.
func TestDrain(t *testing.T) {
	b := setup(t, true)
	c := b.create(t, "alice", "files", "a.bin", "", nil)
	b.router.Drain()
	if st := b.call(t, "POST", "/multipart", "alice", map[string]any{"filename": "b.bin", "type": "", "metadata": map[string]any{"route": "files"}}, nil); st != 503 {
		t.Errorf("create while draining: %d, want 503", st)
	}
	if st := b.call(t, "GET", "/params?filename=b.bin&metadata[route]=files", "alice", nil, nil); st != 503 {
		t.Errorf("params while draining: %d, want 503", st)
	}
	data := random(3000)
	e := b.putPart(t, "alice", c, 1, data)
	var done completion
	if st := b.call(t, "POST", c.path("/complete"), "alice", map[string]any{"parts": []part{{1, e, 0}}}, &done); st != 200 {
		t.Fatalf("complete while draining: %d", st)
	}
	if got := get(t, done.Location); !bytes.Equal(got, data) {
		t.Error("the file served differs")
	}
}
