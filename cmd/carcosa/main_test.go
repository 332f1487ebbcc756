package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/client"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

const base = "/api/uploads"

type noteInput struct {
	Topic string `json:"topic" validate:"required"`
}

// server is a Router with a "notes" route (text, with a topic) and a
// "files" route (anything), whose owner is the bearer token; patched counts
// the bytes of PATCH bodies that reached it, and onPatch sees the count.
type server struct {
	url     string
	patched atomic.Int64
	onPatch atomic.Pointer[func(total int64)]
}

func setup(t *testing.T) *server {
	t.Helper()
	r, err := carcosa.New(carcosa.Config{BasePath: base, DataDir: t.TempDir(), Store: memstore.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	grant := func(req *http.Request) (carcosa.Grant[string], error) {
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			return carcosa.Grant[string]{}, carcosa.Unauthorized("send a token")
		}
		return carcosa.Grant[string]{Owner: tok}, nil
	}
	carcosa.Handle(r, "notes", carcosa.Route[noteInput, string]{
		Accept: []string{"text"},
		Middleware: func(ctx context.Context, req *carcosa.Request[noteInput]) (carcosa.Grant[string], error) {
			g, err := grant(req.HTTP)
			g.Metadata = req.Input.Topic
			return g, err
		},
		OnComplete: func(ctx context.Context, topic string, f carcosa.File) (any, error) {
			return map[string]string{"topic": topic}, nil
		},
	})
	carcosa.Handle(r, "files", carcosa.Route[struct{}, string]{
		Accept:      []string{"any"},
		MaxFileSize: 64 << 20,
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[string], error) {
			return grant(req.HTTP)
		},
	})
	s := &server{}
	mux := http.NewServeMux()
	mux.Handle(base+"/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPatch {
			req.Body = &counting{ReadCloser: req.Body, s: s}
		}
		r.ServeHTTP(w, req)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		r.Close()
	})
	s.url = srv.URL + base
	return s
}

type counting struct {
	io.ReadCloser
	s *server
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	total := c.s.patched.Add(int64(n))
	if f := c.s.onPatch.Load(); f != nil {
		(*f)(total)
	}
	return n, err
}

// env points the command at s and at a state directory of its own, and
// returns that directory.
func env(t *testing.T, s *server) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("CARCOSA_URL", s.url)
	t.Setenv("CARCOSA_TOKEN", "")
	t.Setenv("CARCOSA_STATE_DIR", dir)
	return dir
}

// runCLI runs the command line and returns its exit code and outputs.
func runCLI(ctx context.Context, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "uploads", "*.json"))
	return m
}

func TestUploadListGetRm(t *testing.T) {
	s := setup(t)
	stateDir := env(t, s)
	ctx := t.Context()
	dir := t.TempDir()
	a := writeFile(t, dir, "a.txt", []byte("apples\n"))
	b := writeFile(t, dir, "b.txt", []byte("bananas\n"))

	code, out, errOut := runCLI(ctx, "upload", "-route", "notes", "-token", "alice", "-input", `{"topic":"fruit"}`, a, b)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out)
	}
	var ids []string
	for i, name := range []string{"a.txt", "b.txt"} {
		f := strings.Split(lines[i], "\t")
		if len(f) != 4 || f[0] != name || f[2] != "ready" || !strings.HasPrefix(f[3], s.url+"/files/") {
			t.Fatalf("line %q", lines[i])
		}
		ids = append(ids, f[1])
	}
	if !strings.Contains(errOut, "a.txt  7 B / 7 B  100%") {
		t.Errorf("no progress in %q", errOut)
	}
	if left := stateFiles(t, stateDir); len(left) != 0 {
		t.Errorf("state left after the uploads: %v", left)
	}

	// Flags after the arguments, -json.
	c3 := writeFile(t, dir, "c.txt", []byte("cherries\n"))
	code, out, errOut = runCLI(ctx, "upload", c3, "-route", "notes", "-input", `{"topic":"fruit"}`, "-json", "-token", "alice")
	var rec client.Upload
	if code != exitOK || json.Unmarshal([]byte(out), &rec) != nil || rec.State != "ready" || string(rec.Result) != `{"topic":"fruit"}` {
		t.Fatalf("exit %d, %q, %s", code, out, errOut)
	}
	ids = append(ids, rec.ID)

	code, out, errOut = runCLI(ctx, "ls", "-route", "notes", "-token", "alice")
	if code != exitOK || strings.Count(out, "\n") != 4 || !strings.HasPrefix(out, "ID") {
		t.Fatalf("ls: exit %d, %q, %s", code, out, errOut)
	}
	for _, id := range ids {
		if !strings.Contains(out, id) {
			t.Errorf("ls does not show %s: %q", id, out)
		}
	}
	// Paged by the server, limited here.
	code, out, _ = runCLI(ctx, "ls", "-route", "notes", "-token", "alice", "-json", "-limit", "2")
	if code != exitOK || strings.Count(out, "\n") != 2 {
		t.Fatalf("ls -limit 2: exit %d, %q", code, out)
	}
	if code, out, _ = runCLI(ctx, "ls", "-route", "notes", "-token", "bob"); code != exitOK || strings.Count(out, "\n") != 1 {
		t.Fatalf("bob's ls: exit %d, %q", code, out)
	}

	sum := sha256.Sum256([]byte("apples\n"))
	code, out, errOut = runCLI(ctx, "get", "-token", "alice", ids[0])
	if code != exitOK || !strings.Contains(out, hex.EncodeToString(sum[:])) || !strings.Contains(out, "a.txt") || !strings.Contains(out, `{"topic":"fruit"}`) {
		t.Fatalf("get: exit %d, %q, %s", code, out, errOut)
	}
	code, out, _ = runCLI(ctx, "get", ids[1], "-json", "-token", "alice")
	if code != exitOK || json.Unmarshal([]byte(out), &rec) != nil || rec.ID != ids[1] || rec.Name != "b.txt" {
		t.Fatalf("get -json: exit %d, %q", code, out)
	}

	code, out, errOut = runCLI(ctx, "rm", "-token", "alice", ids[0])
	if code != exitOK || out != "deleted "+ids[0]+"\n" {
		t.Fatalf("rm: exit %d, %q, %s", code, out, errOut)
	}
	code, _, errOut = runCLI(ctx, "get", "-token", "alice", ids[0])
	if code != exitRefused || !strings.Contains(errOut, "not_found") || !strings.Contains(errOut, ids[0]) {
		t.Fatalf("get after rm: exit %d, %s", code, errOut)
	}
	if code, _, errOut = runCLI(ctx, "rm", "-token", "alice", ids[0]); code != exitRefused || !strings.Contains(errOut, "not_found") {
		t.Fatalf("rm again: exit %d, %s", code, errOut)
	}

	code, out, _ = runCLI(ctx, "routes")
	if code != exitOK || !strings.Contains(out, "notes") || !strings.Contains(out, "topic string (required)") {
		t.Fatalf("routes: exit %d, %q", code, out)
	}
}

// A refused file exits 1 with the server's code and message, and the
// rejected record.
func TestUploadRefused(t *testing.T) {
	s := setup(t)
	stateDir := env(t, s)
	dir := t.TempDir()
	png := writeFile(t, dir, "cat.png", []byte("\x89PNG\r\n\x1a\n not really"))
	code, out, errOut := runCLI(t.Context(), "upload", "-route", "notes", "-input", `{"topic":"pets"}`, "-token", "alice", png)
	if code != exitRefused || !strings.Contains(out, "rejected") || !strings.Contains(errOut, "cat.png") || !strings.Contains(errOut, "(HTTP 415)") {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
	if left := stateFiles(t, stateDir); len(left) != 0 {
		t.Errorf("state left after a refusal: %v", left)
	}

	// Bad input: the field is named.
	txt := writeFile(t, dir, "a.txt", []byte("a"))
	code, _, errOut = runCLI(t.Context(), "upload", "-route", "notes", "-input", `{}`, "-token", "alice", txt)
	if code != exitRefused || !strings.Contains(errOut, "invalid_input") || !strings.Contains(errOut, "input field topic: rule required") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	// No token: said how to give one.
	code, _, errOut = runCLI(t.Context(), "upload", "-route", "files", txt)
	if code != exitRefused || !strings.Contains(errOut, "unauthorized") || !strings.Contains(errOut, "CARCOSA_TOKEN") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	// An unknown route.
	code, _, errOut = runCLI(t.Context(), "upload", "-route", "nope", "-token", "alice", txt)
	if code != exitRefused || !strings.Contains(errOut, "unknown_route") || !strings.Contains(errOut, "carcosa routes") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// An upload interrupted mid-way resumes on the next run from what the
// server has, and its state is forgotten once it is over.
func TestUploadResumes(t *testing.T) {
	s := setup(t)
	stateDir := env(t, s)
	t.Setenv("CARCOSA_TOKEN", "alice")
	data := make([]byte, 1<<20+5)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	f := writeFile(t, t.TempDir(), "big.bin", data)

	ctx, cancel := context.WithCancel(t.Context())
	stop := func(total int64) {
		if total >= 600<<10 {
			cancel()
		}
	}
	s.onPatch.Store(&stop)
	code, out, errOut := runCLI(ctx, "upload", "-route", "files", "-chunk", "64KiB", f)
	if code != exitInterrupted || out != "" || !strings.Contains(errOut, "interrupted") {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
	if left := stateFiles(t, stateDir); len(left) != 1 {
		t.Fatalf("state after the interruption: %v", left)
	}
	s.onPatch.Store(nil)
	first := s.patched.Load()

	code, out, errOut = runCLI(t.Context(), "upload", "-route", "files", "-chunk", "64KiB", "-json", f)
	var rec client.Upload
	if code != exitOK || json.Unmarshal([]byte(out), &rec) != nil {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
	sum := sha256.Sum256(data)
	if rec.State != "ready" || rec.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("record %+v", rec)
	}
	second := s.patched.Load() - first
	if second >= int64(len(data)) || first+second > int64(len(data))+64<<10 {
		t.Errorf("the server read %d then %d bytes of %d", first, second, len(data))
	}
	// The progress starts where the server was.
	if strings.Contains(errOut, "big.bin  0 B /") {
		t.Errorf("the resumed upload started at 0: %q", errOut)
	}
	if left := stateFiles(t, stateDir); len(left) != 0 {
		t.Errorf("state left after the upload: %v", left)
	}
}

func TestUsage(t *testing.T) {
	s := setup(t)
	env(t, s)
	f := writeFile(t, t.TempDir(), "a.txt", []byte("a"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage:"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"upload", f}, "-route is required"},
		{[]string{"upload", "-route", "notes"}, "no file given"},
		{[]string{"upload", "-route", "notes", "-input", "{not json", f}, "-input is not JSON"},
		{[]string{"upload", "-route", "notes", "/no/such/file"}, "no such file"},
		{[]string{"upload", "-route", "notes", "-chunk", "1KiB", f}, "less than 64KiB"},
		{[]string{"upload", "-route", "notes", "-bogus", f}, "flag provided but not defined"},
		{[]string{"ls"}, "-route is required"},
		{[]string{"get"}, "no upload ID"},
		{[]string{"rm"}, "no upload ID"},
		{[]string{"upload", "-route", "notes", "-url", "ftp://x", f}, "not an http or https URL"},
		{[]string{"get", "-H", "nocolon", "x"}, "is not \"Name: value\""},
	} {
		code, _, errOut := runCLI(t.Context(), tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q", tc.args, code, errOut)
		}
	}
	t.Setenv("CARCOSA_URL", "")
	if code, _, errOut := runCLI(t.Context(), "get", "x"); code != exitUsage || !strings.Contains(errOut, "CARCOSA_URL") {
		t.Errorf("no URL: exit %d, %q", code, errOut)
	}
	if code, out, _ := runCLI(t.Context(), "help"); code != exitOK || !strings.Contains(out, "usage:") {
		t.Errorf("help: exit %d", code)
	}
}

// A server that cannot be reached exits 3, and the upload can be resumed.
func TestUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + base
	srv.Close()
	t.Setenv("CARCOSA_STATE_DIR", t.TempDir())
	f := writeFile(t, t.TempDir(), "a.txt", []byte("a"))
	code, _, errOut := runCLI(t.Context(), "upload", "-url", url, "-route", "notes", "-retries", "1", f)
	if code != exitUnavailable || !strings.Contains(errOut, "cannot reach the server") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t.Context(), "ls", "-url", url, "-route", "notes", "-retries", "2")
	if code != exitUnavailable {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}
