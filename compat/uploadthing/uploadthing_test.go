package uploadthing_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/compat/uploadthing"
)

type bundle struct {
	srv    *httptest.Server
	router *carcosa.Router
	ut     string // the endpoint's URL
}

type input struct {
	Album string `json:"album" validate:"required"`
}

type meta struct {
	Album string `json:"album"`
}

// setup serves a Router under /api/uploads/ and its UploadThing endpoint
// at /api/uploadthing, with an "images" route (up to 10 files, owner from
// the X-User header) and a "docs" route.
func setup(t *testing.T, opts *uploadthing.Options) *bundle {
	t.Helper()
	r, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	carcosa.Handle(r, "images", carcosa.Route[input, meta]{
		Accept: []string{"image"}, MaxFileSize: 4 << 20, MaxFiles: 10,
		Middleware: func(ctx context.Context, req *carcosa.Request[input]) (carcosa.Grant[meta], error) {
			user := req.HTTP.Header.Get("X-User")
			if user == "" {
				return carcosa.Grant[meta]{}, carcosa.ErrForbidden.With("sign in first")
			}
			return carcosa.Grant[meta]{Owner: user, Metadata: meta{Album: req.Input.Album}}, nil
		},
		OnComplete: func(ctx context.Context, m meta, f carcosa.File) (any, error) {
			return map[string]any{"album": m.Album, "id": f.ID, "sha256": f.SHA256}, nil
		},
	})
	carcosa.Handle(r, "docs", carcosa.Route[struct{}, struct{}]{
		Accept: []string{"pdf", "text", "any"}, MaxFileSize: 1000, Attachment: true,
	})
	ut, err := uploadthing.New(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/uploads/", r)
	mux.Handle("/api/uploadthing", ut)
	mux.Handle("/api/uploadthing/", ut)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &bundle{srv: srv, router: r, ut: srv.URL + "/api/uploadthing"}
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type file struct {
	Name string `json:"name"`
	Size int    `json:"size"`
	Type string `json:"type"`
}

type presigned struct {
	URL      string  `json:"url"`
	Key      string  `json:"key"`
	Name     string  `json:"name"`
	CustomID *string `json:"customId"`
}

// action sends an upload request as UploadThing's client does.
func (b *bundle) action(t *testing.T, slug, user string, body any) (*http.Response, []byte) {
	t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, b.ut+"?actionType=upload&slug="+slug, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-uploadthing-package", "@uploadthing/react")
	req.Header.Set("x-uploadthing-version", "7.7.4")
	if user != "" {
		req.Header.Set("X-User", user)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, got
}

func (b *bundle) presign(t *testing.T, slug, user string, body any) []presigned {
	t.Helper()
	resp, got := b.action(t, slug, user, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload request: %d %s", resp.StatusCode, got)
	}
	var out []presigned
	if err := json.Unmarshal(got, &out); err != nil {
		t.Fatalf("upload request: %v: %s", err, got)
	}
	return out
}

// offset asks for the bytes an ingest URL has, as the client does.
func offset(t *testing.T, u string) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, u, nil)
	resp, _ := do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	n, err := strconv.ParseInt(resp.Header.Get("x-ut-range-start"), 10, 64)
	if err != nil {
		t.Fatalf("x-ut-range-start %q: %v", resp.Header.Get("x-ut-range-start"), err)
	}
	return n
}

// put sends data, the file's bytes from start, as the client does.
func put(t *testing.T, u string, start int64, data []byte) (*http.Response, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "blob")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPut, u, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-")
	resp, got := do(t, req)
	var out map[string]any
	if err := json.Unmarshal(got, &out); err != nil {
		t.Fatalf("PUT answered %d %q: %v", resp.StatusCode, got, err)
	}
	return resp, out
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

func TestRouteConfig(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	resp, got := do(t, mustRequest(http.MethodGet, b.ut, nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, got)
	}
	var cfg []struct {
		Slug   string                    `json:"slug"`
		Config map[string]map[string]any `json:"config"`
	}
	if err := json.Unmarshal(got, &cfg); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if len(cfg) != 2 || cfg[0].Slug != "docs" || cfg[1].Slug != "images" {
		t.Fatalf("slugs: %s", got)
	}
	img := cfg[1].Config["image"]
	if img["maxFileSize"] != "4MB" || img["maxFileCount"] != 10.0 || img["minFileCount"] != 1.0 || img["contentDisposition"] != "inline" {
		t.Errorf("images: %s", got)
	}
	docs := cfg[0].Config
	if len(docs) != 3 || docs["blob"]["maxFileSize"] != "1000B" || docs["pdf"]["contentDisposition"] != "attachment" || docs["text"] == nil {
		t.Errorf("docs: %s", got)
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		4 << 20: "4MB", 16 << 30: "16GB", 512 << 10: "512KB", 1000: "1000B", 1: "1B",
		3<<20 + 1<<10: "3073KB", 1536 << 20: "1536MB",
	} {
		if got := uploadthing.FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// A file cut midway resumes from x-ut-range-start; the last PUT answers
// with the file's URL, its SHA-256 and OnComplete's result.
func TestUploadResumes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	data := pngOf(t, 300, 200)
	one := pngOf(t, 20, 10)
	ps := b.presign(t, "images", "ann", map[string]any{
		"input": map[string]string{"album": "trip"},
		"files": []file{{"a.png", len(data), "image/png"}, {"b.png", len(one), "image/png"}},
	})
	if len(ps) != 2 || ps[0].Name != "a.png" || ps[1].Name != "b.png" || ps[0].CustomID != nil || ps[0].Key == ps[1].Key {
		t.Fatalf("presigned: %+v", ps)
	}
	if !strings.HasPrefix(ps[0].URL, b.ut+"/ingest/"+ps[0].Key+"?") {
		t.Fatalf("ingest URL %s", ps[0].URL)
	}
	if n := offset(t, ps[0].URL); n != 0 {
		t.Fatalf("offset before any byte: %d", n)
	}
	half := int64(len(data) / 2)
	resp, out := put(t, ps[0].URL, 0, data[:half])
	if resp.StatusCode != http.StatusOK || out["code"] != "interrupted" {
		t.Fatalf("cut PUT: %d %v", resp.StatusCode, out)
	}
	if n := offset(t, ps[0].URL); n != half {
		t.Fatalf("offset after the cut: %d, want %d", n, half)
	}
	// A PUT from the wrong place is refused and changes nothing.
	if _, out := put(t, ps[0].URL, 1, data[1:]); out["code"] != "conflict" {
		t.Fatalf("PUT from the wrong offset: %v", out)
	}
	resp, out = put(t, ps[0].URL, half, data[half:])
	if resp.StatusCode != http.StatusOK || out["error"] != nil {
		t.Fatalf("last PUT: %d %v", resp.StatusCode, out)
	}
	sum := sha256.Sum256(data)
	if out["fileHash"] != hex.EncodeToString(sum[:]) || out["key"] != ps[0].Key {
		t.Errorf("answer: %v", out)
	}
	sd, _ := out["serverData"].(map[string]any)
	if sd["album"] != "trip" || sd["id"] != ps[0].Key || sd["sha256"] != out["fileHash"] {
		t.Errorf("serverData: %v", out["serverData"])
	}
	for _, k := range []string{"url", "ufsUrl", "appUrl"} {
		if u, _ := out[k].(string); !strings.HasPrefix(u, b.srv.URL+"/api/uploads/files/") {
			t.Errorf("%s = %v", k, out[k])
		}
	}
	if got := get(t, out["ufsUrl"].(string)); !bytes.Equal(got, data) {
		t.Errorf("the file's URL serves %d bytes, not the file's %d", len(got), len(data))
	}
	// The record is the Router's, as any upload's.
	rec, err := b.router.Get(context.Background(), ps[0].Key)
	if err != nil || rec.State != "ready" || rec.Owner != "ann" || rec.Type != "image/png" {
		t.Errorf("record: %+v %v", rec, err)
	}
	// A client that lost the answer asks again and gets it.
	if n := offset(t, ps[0].URL); n != int64(len(data)) {
		t.Errorf("offset of a finished file: %d", n)
	}
	if _, again := put(t, ps[0].URL, 0, data); again["fileHash"] != out["fileHash"] {
		t.Errorf("PUT again: %v", again)
	}
	// The second file, in one PUT.
	if _, out := put(t, ps[1].URL, 0, one); out["error"] != nil || out["name"] != "b.png" {
		t.Errorf("second file: %v", out)
	}
}

// A file whose bytes the route refuses is answered 200 with an error the
// client hands to onUploadError; its record ends rejected.
func TestRefusedFile(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	text := []byte("not an image at all, only words\n")
	ps := b.presign(t, "images", "ann", map[string]any{
		"input": map[string]string{"album": "x"},
		"files": []file{{"fake.png", len(text), "image/png"}},
	})
	resp, out := put(t, ps[0].URL, 0, text)
	if resp.StatusCode != http.StatusOK || out["code"] != "type_not_allowed" {
		t.Fatalf("%d %v", resp.StatusCode, out)
	}
	if msg, _ := out["error"].(string); msg == "" {
		t.Fatalf("no message: %v", out)
	}
	rec, err := b.router.Get(context.Background(), ps[0].Key)
	if err != nil || rec.State != "rejected" {
		t.Fatalf("record: %+v %v", rec, err)
	}
	// More bytes than declared.
	ps = b.presign(t, "images", "ann", map[string]any{
		"input": map[string]string{"album": "x"},
		"files": []file{{"a.png", 10, "image/png"}},
	})
	if _, out := put(t, ps[0].URL, 0, pngOf(t, 5, 5)); out["code"] != "bad_request" {
		t.Fatalf("too many bytes: %v", out)
	}
}

func TestUploadRequestErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	okInput := map[string]string{"album": "x"}
	for _, tc := range []struct {
		name   string
		slug   string
		user   string
		body   any
		status int
		code   string
	}{
		{"unknown slug", "nope", "ann", map[string]any{"files": []file{{"a.png", 10, "image/png"}}}, 404, "unknown_route"},
		{"forbidden", "images", "", map[string]any{"input": okInput, "files": []file{{"a.png", 10, "image/png"}}}, 403, "forbidden"},
		{"too large", "images", "ann", map[string]any{"input": okInput, "files": []file{{"a.png", 5 << 20, "image/png"}}}, 413, "too_large"},
		{"wrong type", "images", "ann", map[string]any{"input": okInput, "files": []file{{"a.txt", 10, "text/plain"}}}, 400, "type_not_allowed"},
		{"too many", "docs", "", map[string]any{"files": []file{{"a.txt", 10, "text/plain"}, {"b.txt", 10, "text/plain"}}}, 400, "too_many_files"},
		{"missing input", "images", "ann", map[string]any{"files": []file{{"a.png", 10, "image/png"}}}, 400, "invalid_input"},
		{"no files", "images", "ann", map[string]any{"input": okInput}, 400, "bad_request"},
		{"no size", "docs", "", map[string]any{"files": []map[string]any{{"name": "a", "type": "text/plain"}}}, 400, "bad_request"},
		{"not JSON", "docs", "", "{", 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := b.action(t, tc.slug, tc.user, tc.body)
			var e struct{ Message, Code string }
			json.Unmarshal(got, &e)
			if resp.StatusCode != tc.status || e.Code != tc.code || e.Message == "" {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, got, tc.status, tc.code)
			}
		})
	}
	req := mustRequest(http.MethodPost, b.ut+"?actionType=multipart-complete&slug=docs", strings.NewReader(`{}`))
	if resp, got := do(t, req); resp.StatusCode != 400 || !strings.Contains(string(got), "actionType") {
		t.Errorf("other action: %d %s", resp.StatusCode, got)
	}
	// Nothing was recorded for any of them.
	page, err := b.router.List(context.Background(), carcosa.ListOptions{})
	if err != nil || len(page.Uploads) != 0 {
		t.Errorf("uploads recorded: %+v %v", page.Uploads, err)
	}
}

// Ingest URLs are signed: another upload's key, a changed expiry or an
// expired URL are refused.
func TestIngestURLIsSigned(t *testing.T) {
	t.Parallel()
	b := setup(t, &uploadthing.Options{IngestTTL: 1})
	data := []byte("plain text\n")
	ps := b.presign(t, "docs", "", map[string]any{"files": []file{{"a.txt", len(data), "text/plain"}}})
	expired := ps[0].URL
	b2 := setup(t, nil)
	ps2 := b2.presign(t, "docs", "", map[string]any{"files": []file{{"a.txt", len(data), "text/plain"}}})
	good := ps2[0].URL
	other := strings.Replace(good, "/ingest/"+ps2[0].Key, "/ingest/"+strings.Repeat("a", len(ps2[0].Key)), 1)
	later := strings.Replace(good, "expires=", "expires=9", 1)
	for name, u := range map[string]string{"expired": expired, "other key": other, "later expiry": later, "no signature": strings.Split(good, "?")[0]} {
		req := mustRequest(http.MethodHead, u, nil)
		if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-ut-range-start") != "" {
			t.Errorf("%s: HEAD answered %d", name, resp.StatusCode)
		}
		req = mustRequest(http.MethodPut, u, strings.NewReader("x"))
		if resp, got := do(t, req); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(got), `"code":"forbidden"`) {
			t.Errorf("%s: PUT answered %d %s", name, resp.StatusCode, got)
		}
	}
	if _, out := put(t, good, 0, data); out["error"] != nil {
		t.Errorf("the good URL: %v", out)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	b := setup(t, &uploadthing.Options{AllowOrigins: []string{"https://app.example"}})
	req := mustRequest(http.MethodOptions, b.ut+"/ingest/x", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	resp, _ := do(t, req)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Range") || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "x-ut-range-start") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	req = mustRequest(http.MethodGet, b.ut, nil)
	req.Header.Set("Origin", "https://evil.example")
	if resp, _ := do(t, req); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin allowed")
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	r, err := carcosa.New(carcosa.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, o := range []uploadthing.Options{{Path: "api/ut"}, {Path: "/api/ut/"}, {BaseURL: "ftp://x"}, {BaseURL: "https://x/y"}, {IngestTTL: -1}} {
		if _, err := uploadthing.New(r, &o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if _, err := uploadthing.New(nil, nil); err == nil {
		t.Error("a nil Router accepted")
	}
}

func mustRequest(method, u string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		panic(err)
	}
	return req
}

// A draining Router refuses new uploads, and still takes the bytes of
// those begun.
func TestDrainRefusesNewUploads(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	data := []byte("some words\n")
	ps := b.presign(t, "docs", "", map[string]any{"files": []file{{"a.txt", len(data), "text/plain"}}})
	b.router.Drain()
	resp, got := b.action(t, "docs", "", map[string]any{"files": []file{{"b.txt", len(data), "text/plain"}}})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(got), `"message"`) {
		t.Errorf("upload request while draining: %d %s", resp.StatusCode, got)
	}
	if _, out := put(t, ps[0].URL, 0, data); out["error"] != nil {
		t.Errorf("bytes of an upload begun: %v", out)
	}
}

// The bytes of an UploadThing upload are live progress events, as a tus
// upload's are, for the upload's owner.
func TestIngestProgressEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	data := pngOf(t, 200, 100)
	ps := b.presign(t, "images", "ann", map[string]any{
		"input": map[string]string{"album": "x"},
		"files": []file{{"a.png", len(data), "image/png"}},
	})
	req := mustRequest(http.MethodGet, b.srv.URL+"/api/uploads/uploads/"+ps[0].Key+"/events", nil)
	req.Header.Set("X-User", "ann")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	if _, out := put(t, ps[0].URL, 0, data); out["error"] != nil {
		t.Fatalf("PUT: %v", out)
	}
	var seen []string
	buf := make([]byte, 64<<10)
	var stream strings.Builder
	for !strings.Contains(stream.String(), `"state":"ready"`) {
		n, err := resp.Body.Read(buf)
		stream.Write(buf[:n])
		if err != nil && !strings.Contains(stream.String(), `"state":"ready"`) {
			t.Fatalf("the stream ended before ready: %v\n%s", err, stream.String())
		}
	}
	for _, line := range strings.Split(stream.String(), "\n") {
		if strings.HasPrefix(line, "event: ") {
			seen = append(seen, strings.TrimPrefix(line, "event: "))
		}
	}
	want := `"offset":` + strconv.Itoa(len(data))
	if !strings.Contains(stream.String(), "event: progress") || !strings.Contains(stream.String(), want) {
		t.Errorf("no progress to %d bytes in %v:\n%s", len(data), seen, stream.String())
	}
}
