package carcosa_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

const base = "/api/uploads"

type albumInput struct {
	Album string `json:"album" validate:"required,max=20"`
}

type userMeta struct {
	User string `json:"user"`
}

// testBundle is a running Router on in-memory backends (tus staging on a
// temporary directory), with a middleware that takes the owner from the
// X-User header.
type testBundle struct {
	router    *carcosa.Router
	server    *httptest.Server
	store     store.Store
	storage   storage.Storage
	completed chan carcosa.File
	failed    chan error
	dataDir   string
}

func owner(req *http.Request) (string, error) {
	u := req.Header.Get("X-User")
	if u == "" {
		return "", carcosa.Unauthorized("send X-User")
	}
	if u == "banned" {
		return "", carcosa.Forbidden("banned")
	}
	return u, nil
}

// grantOf is the test routes' middleware: X-User is "owner" or
// "owner@tenant".
func grantOf(req *http.Request) (carcosa.Grant[userMeta], error) {
	u, err := owner(req)
	if err != nil {
		return carcosa.Grant[userMeta]{}, err
	}
	o, tenant, _ := strings.Cut(u, "@")
	return carcosa.Grant[userMeta]{Owner: o, Tenant: tenant, Metadata: userMeta{User: u}}, nil
}

// userOf is the X-User of rec's owner.
func userOf(rec *store.Upload) string {
	if rec.Tenant == "" {
		return rec.Owner
	}
	return rec.Owner + "@" + rec.Tenant
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWith(t, memstore.New())
}

// setupWith is setup with the given Store.
func setupWith(t *testing.T, st store.Store) *testBundle {
	t.Helper()
	return setupConfig(t, st, nil)
}

// setupConfig is setupWith with a Config that configure may change.
func setupConfig(t *testing.T, st store.Store, configure func(*carcosa.Config)) *testBundle {
	t.Helper()
	tb := newBundle(t, st, configure)
	r := tb.router
	carcosa.Handle(r, "images", carcosa.Route[albumInput, userMeta]{
		Accept:      []string{"image"},
		MaxFileSize: 1 << 20,
		MaxFiles:    3,
		Public:      true,
		Middleware: func(ctx context.Context, req *carcosa.Request[albumInput]) (carcosa.Grant[userMeta], error) {
			return grantOf(req.HTTP)
		},
		OnComplete: func(ctx context.Context, m userMeta, f carcosa.File) (any, error) {
			tb.completed <- f
			return map[string]string{"user": m.User, "name": f.Name}, nil
		},
		OnError: func(ctx context.Context, m userMeta, f carcosa.File, err error) {
			tb.failed <- err
		},
	})
	docs := func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[userMeta], error) {
		return grantOf(req.HTTP)
	}
	carcosa.Handle(r, "docs", carcosa.Route[struct{}, userMeta]{
		Accept:      []string{"pdf", "text"},
		MaxFileSize: 1 << 20,
		Middleware:  docs,
	})
	carcosa.Handle(r, "files", carcosa.Route[struct{}, userMeta]{
		Accept:      []string{"any"},
		MaxFileSize: 8 << 20,
		MaxFiles:    2,
		Middleware:  docs,
	})
	carcosa.Handle(r, "strict", carcosa.Route[struct{}, userMeta]{
		Accept:     []string{"text"},
		Middleware: docs,
		OnComplete: func(ctx context.Context, m userMeta, f carcosa.File) (any, error) {
			return nil, carcosa.Reject("not_welcome", "this text is not welcome")
		},
	})
	tb.serve(t)
	return tb
}

// newBundle is a Router on st and a mem:// bucket, with a Config that
// configure may change, and no routes yet; serve starts serving it.
func newBundle(t *testing.T, st store.Store, configure func(*carcosa.Config)) *testBundle {
	t.Helper()
	bk, err := storage.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cfg := carcosa.Config{
		BasePath: base,
		DataDir:  dataDir,
		Store:    st,
		Storage:  bk,
	}
	if configure != nil {
		configure(&cfg)
	}
	r, err := carcosa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		st.Close()
		bk.Close()
	})
	return &testBundle{router: r, store: st, storage: bk, dataDir: dataDir,
		completed: make(chan carcosa.File, 100), failed: make(chan error, 100)}
}

// serve serves tb's Router on a test server, closed when the test ends
// (before the Router).
func (tb *testBundle) serve(t *testing.T) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(base+"/", tb.router)
	tb.server = httptest.NewServer(mux)
	t.Cleanup(tb.server.Close)
}

func (tb *testBundle) url(p string) string { return tb.server.URL + base + p }

// do sends a request as user (no X-User when empty) and returns the
// response with its body read.
func (tb *testBundle) do(t *testing.T, method, url, user string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-User", user)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := tb.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type errResp struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Field string `json:"field"`
			Rule  string `json:"rule"`
		} `json:"fields"`
	} `json:"error"`
}

// wantError checks that resp is a JSON error with status and code.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) errResp {
	t.Helper()
	var e errResp
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %q", ct, body)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body is not JSON: %q", body)
	}
	if e.Error.Code != code {
		t.Fatalf("code %q, want %q (message %q)", e.Error.Code, code, e.Error.Message)
	}
	if e.Error.Message == "" {
		t.Fatal("error without a message")
	}
	return e
}

type record struct {
	ID        string          `json:"id"`
	Route     string          `json:"route"`
	Name      string          `json:"name"`
	Size      int64           `json:"size"`
	Type      string          `json:"type"`
	SHA256    string          `json:"sha256"`
	State     string          `json:"state"`
	Key       string          `json:"key"`
	URL       string          `json:"url"`
	Result    json.RawMessage `json:"result"`
	Error     *struct{ Code, Message string }
	CreatedAt string `json:"createdAt"`
}

func (tb *testBundle) record(t *testing.T, id, user string) record {
	t.Helper()
	resp, body := tb.do(t, "GET", tb.url("/uploads/"+id), user, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET record: %d %s", resp.StatusCode, body)
	}
	var rec record
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// fetch downloads a record's url and returns the bytes.
func (tb *testBundle) fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, body := tb.do(t, "GET", tb.server.URL+url, "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pngBytes makes a real PNG image of about the given width.
func pngBytes(t testing.TB, w int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, w/2+1))
	for x := 0; x < w; x++ {
		for y := 0; y < w/2+1; y++ {
			img.Set(x, y, color.RGBA{uint8(x * y), uint8(x), uint8(y * 7), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// peBytes is the start of a Windows executable.
func peBytes() []byte {
	b := make([]byte, 512)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00\x4c\x01")
	return b
}

type part struct {
	field, name, ctype string
	data               []byte
}

func multipartBody(t *testing.T, parts ...part) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.field + `"`
		if p.name != "" {
			cd += `; filename="` + p.name + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// tusCreate creates a tus upload and returns its URL (absolute).
func (tb *testBundle) tusCreate(t *testing.T, user string, length int64, md string, extra map[string]string) (*http.Response, []byte) {
	t.Helper()
	hdr := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Metadata": md}
	if length >= 0 {
		hdr["Upload-Length"] = strconv.FormatInt(length, 10)
	}
	for k, v := range extra {
		hdr[k] = v
	}
	return tb.do(t, "POST", tb.url("/tus/"), user, nil, hdr)
}

func (tb *testBundle) tusPatch(t *testing.T, loc, user string, offset int64, chunk []byte, extra map[string]string) (*http.Response, []byte) {
	t.Helper()
	hdr := map[string]string{
		"Tus-Resumable": "1.0.0",
		"Upload-Offset": strconv.FormatInt(offset, 10),
		"Content-Type":  "application/offset+octet-stream",
	}
	for k, v := range extra {
		hdr[k] = v
	}
	return tb.do(t, "PATCH", loc, user, bytes.NewReader(chunk), hdr)
}

// tusUpload uploads data in chunks and returns the upload ID and the last
// PATCH's response.
func (tb *testBundle) tusUpload(t *testing.T, user, route, name string, data []byte, chunk int) (string, *http.Response, []byte) {
	t.Helper()
	resp, body := tb.tusCreate(t, user, int64(len(data)), tusMetadata("route", route, "filename", name, "filetype", "application/octet-stream"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	var off int64
	for {
		end := min(int(off)+chunk, len(data))
		resp, body = tb.tusPatch(t, loc, user, off, data[off:end], nil)
		if resp.StatusCode != 204 || end == len(data) {
			return id, resp, body
		}
		off = int64(end)
	}
}

// tusPartials uploads each part as a tus partial upload of route, as user,
// and returns their URLs, for a concatenation.
func (tb *testBundle) tusPartials(t *testing.T, user, route string, parts ...[]byte) []string {
	t.Helper()
	var urls []string
	for _, p := range parts {
		resp, body := tb.tusCreate(t, user, int64(len(p)), tusMetadata("route", route), map[string]string{"Upload-Concat": "partial"})
		if resp.StatusCode != 201 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		loc := resp.Header.Get("Location")
		if resp, body := tb.tusPatch(t, loc, user, 0, p, nil); resp.StatusCode != 204 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		urls = append(urls, loc)
	}
	return urls
}
