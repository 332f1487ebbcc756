package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/testenv"
)

// These tests drive the example from the outside, the way its users do: the
// real tus-js-client in Node, and the web page in Chromium through
// playwright-core. They need node, the packages of e2e/ (npm ci --prefix e2e)
// and, for the page, a system Chromium. Without them the tests skip, except
// under CI=true, where they fail.

const scriptTimeout = 2 * time.Minute

// syncBuffer collects the server's log, shown when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer runs the example in-process on its defaults, with a data
// directory of its own, on a free port and returns its base URL, such as
// http://127.0.0.1:34567. It stops when the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, options{Data: t.TempDir()})
}

// startServerWith is startServer with the given options; Addr is set to a
// free port on 127.0.0.1.
func startServerWith(t *testing.T, o options) string {
	t.Helper()
	base, _ := startServerLogs(t, o)
	return base
}

// startServerLogs is startServerWith, also returning the server's log.
func startServerLogs(t *testing.T, o options) (string, *syncBuffer) {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, log, o, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("the server stopped with an error: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("the server did not stop within 40s")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr, logs
	case err := <-errc:
		errc <- nil // for the cleanup, which waits for the server to stop
		t.Fatalf("the server did not start: %v\nserver log:\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not start within 30s\nserver log:\n%s", logs.String())
	}
	return "", nil
}

// repoRoot is the directory holding go.mod, above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// requireTools checks for node, the e2e packages and, when browser is set,
// Chromium. It returns the e2e directory.
func requireTools(t *testing.T, browser bool) string {
	t.Helper()
	e2e := filepath.Join(repoRoot(t), "e2e")
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (not in PATH)")
	}
	for _, pkg := range []string{"tus-js-client", "playwright-core"} {
		if _, err := os.Stat(filepath.Join(e2e, "node_modules", pkg, "package.json")); err != nil {
			missing = append(missing, "e2e/node_modules/"+pkg)
		}
	}
	if browser {
		if _, err := os.Stat(chromiumPath()); err != nil {
			missing = append(missing, "chromium at "+chromiumPath()+" (set CHROMIUM to another path)")
		}
	}
	if len(missing) == 0 {
		return e2e
	}
	msg := fmt.Sprintf("missing %s; run `npm ci --prefix e2e` in the repository root and install Chromium (apt-get install -y chromium), or run .ci/run", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// runNode runs a script of e2e/ and decodes the last line of its stdout as
// JSON into out. Failures report the script's stderr.
func runNode(t *testing.T, e2e string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = e2e
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start).Round(time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("node %s did not finish within %v\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), scriptTimeout, stderr.String(), stdout.String())
	}
	if err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), out); err != nil {
		t.Fatalf("node %s printed %q, not JSON: %v\nstderr:\n%s", strings.Join(args, " "), last, err, stderr.String())
	}
	if testing.Verbose() {
		t.Logf("node %s (%v):\n%s", strings.Join(args, " "), elapsed, stderr.String())
	}
}

// record is the JSON of GET B/uploads/{id}.
type record struct {
	ID        string `json:"id"`
	Route     string `json:"route"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Type      string `json:"type"`
	SHA256    string `json:"sha256"`
	State     string `json:"state"`
	Key       string `json:"key"`
	URL       string `json:"url"`
	Scan      string `json:"scan"`
	Signature string `json:"signature"`
	Error     *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func getRecord(t *testing.T, base, id string) record {
	t.Helper()
	body, _ := get(t, base+"/api/uploads/uploads/"+url.PathEscape(id), http.StatusOK)
	var rec record
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatalf("GET the record of %s: %v\n%s", id, err, body)
	}
	return rec
}

// get fetches u (relative to nothing: it must be absolute) and checks the
// status.
func get(t *testing.T, u string, want int) ([]byte, http.Header) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", u, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d\n%s", u, resp.Status, want, truncate(body))
	}
	return body, resp.Header
}

// resolve makes a link from the API absolute.
func resolve(t *testing.T, base, link string) string {
	t.Helper()
	if link == "" {
		t.Fatal("the record has no url")
	}
	b, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	l, err := url.Parse(link)
	if err != nil {
		t.Fatalf("the url %q does not parse: %v", link, err)
	}
	return b.ResolveReference(l).String()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func truncate(b []byte) string {
	if len(b) > 500 {
		return string(b[:500]) + "…"
	}
	return string(b)
}

func TestTusJSClientResume(t *testing.T) {
	e2e := requireTools(t, false)
	base := startServer(t)

	src := testenv.RandomBytes(24 << 20)
	file := filepath.Join(t.TempDir(), "random.bin")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}

	var out struct {
		UploadURL   string `json:"uploadUrl"`
		ResumedFrom int64  `json:"resumedFrom"`
	}
	runNode(t, e2e, &out, "tus-upload.mjs", base+"/api/uploads/tus/", file, "files")

	if out.ResumedFrom <= 0 || out.ResumedFrom >= int64(len(src)) {
		t.Errorf("resumedFrom = %d, want between 0 and %d (exclusive)", out.ResumedFrom, len(src))
	}
	u, err := url.Parse(out.UploadURL)
	if err != nil || u.Path == "" {
		t.Fatalf("the upload URL %q does not parse: %v", out.UploadURL, err)
	}
	if !strings.HasPrefix(u.Path, "/api/uploads/tus/") {
		t.Errorf("the upload URL %q is not under /api/uploads/tus/", out.UploadURL)
	}
	id := path.Base(u.Path)

	rec := getRecord(t, base, id)
	if rec.State != "ready" {
		t.Fatalf("state = %q, want ready (error: %+v)", rec.State, rec.Error)
	}
	if rec.ID != id || rec.Route != "files" || rec.Name != "random.bin" {
		t.Errorf("record id, route, name = %q, %q, %q; want %q, files, random.bin", rec.ID, rec.Route, rec.Name, id)
	}
	if rec.Size != int64(len(src)) {
		t.Errorf("size = %d, want %d", rec.Size, len(src))
	}
	want := sum(src)
	if rec.SHA256 != want {
		t.Errorf("sha256 = %s, want %s", rec.SHA256, want)
	}
	body, _ := get(t, resolve(t, base, rec.URL), http.StatusOK)
	if got := sum(body); got != want {
		t.Errorf("the file at %s has %d bytes with sha256 %s; want %d bytes with %s", rec.URL, len(body), got, len(src), want)
	}
}

// gradientPNG is a real 640x480 PNG.
func gradientPNG(t *testing.T) []byte {
	t.Helper()
	const w, h = 640, 480
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{R: uint8(255 * x / w), G: uint8(255 * y / h), B: uint8(255 - 255*x/w), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPageUpload(t *testing.T) {
	e2e := requireTools(t, true)
	base := startServer(t)

	src := gradientPNG(t)
	file := filepath.Join(t.TempDir(), "gradient.png")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}
	artifacts := os.Getenv("CARCOSA_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	shot, err := filepath.Abs(filepath.Join(artifacts, "page-upload.png"))
	if err != nil {
		t.Fatal(err)
	}

	var out struct {
		URL        string `json:"url"`
		SHA256     string `json:"sha256"`
		Caption    string `json:"caption"`
		DropURL    string `json:"dropUrl"`
		DropSHA256 string `json:"dropSha256"`
	}
	runNode(t, e2e, &out, "page.mjs", base+"/", file, shot)
	t.Logf("screenshot: %s", shot)

	want := sum(src)
	body, header := get(t, resolve(t, base, out.URL), http.StatusOK)
	if got := sum(body); got != want {
		t.Errorf("the page's link %s serves %d bytes with sha256 %s; want %d bytes with %s", out.URL, len(body), got, len(src), want)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "image/png") {
		t.Errorf("the page's link serves Content-Type %q, want image/png", ct)
	}
	if out.SHA256 != "" && out.SHA256 != want {
		t.Errorf("the page shows sha256 %s, want %s", out.SHA256, want)
	}
	// page.mjs types a caption in the route's input field.
	if want := "A gradient, captioned"; out.Caption != want {
		t.Errorf("the page shows the caption %q, want %q", out.Caption, want)
	}

	// The page's requests carried its visitor cookie: the upload is that
	// browser's, and a client without the cookie does not find its record.
	link, err := url.Parse(out.URL)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSuffix(path.Base(link.Path), path.Ext(link.Path))
	get(t, base+"/api/uploads/uploads/"+url.PathEscape(id), http.StatusNotFound)

	dropped, _ := get(t, resolve(t, base, out.DropURL), http.StatusOK)
	if !bytes.HasPrefix(dropped, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("the dropped file's link %s does not serve a PNG", out.DropURL)
	}
	if out.DropSHA256 != "" && sum(dropped) != out.DropSHA256 {
		t.Errorf("the dropped file's link serves sha256 %s; its record says %s", sum(dropped), out.DropSHA256)
	}

	if fi, err := os.Stat(shot); err != nil {
		t.Errorf("no screenshot: %v", err)
	} else if fi.Size() == 0 {
		t.Errorf("the screenshot %s is empty", shot)
	}
}

// postMultipart sends data to route as one multipart file named name, and
// returns the response with its body read.
func postMultipart(t *testing.T, client *http.Client, base, route, name string, data []byte) (*http.Response, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	resp, err := client.Post(base+"/api/uploads/routes/"+route, mw.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp, rb
}

// tusCreateWithUpload creates a tus upload of route that carries all of
// data, and returns the response with its body read.
func tusCreateWithUpload(t *testing.T, client *http.Client, base, route, name string, data []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/uploads/tus/", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(data)))
	req.Header.Set("Upload-Metadata", "route "+b64(route)+",filename "+b64(name))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp, rb
}
