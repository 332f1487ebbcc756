package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary run the example's main, for the tests of
// its exit status, which run this binary again with mainEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const mainEnv = "CARCOSA_EXAMPLE_RUN_MAIN"

// runMain runs the example's main with args in a process of its own and
// returns its exit code and output.
func runMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit) && ctx.Err() == nil:
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("running main %v: %v\n%s", args, err, out)
	return 0, ""
}

// TestClamdUnreachableExits checks that -clamd naming no running clamd
// stops the server before it listens, with exit code 1 and a message that
// names the flag and the address.
func TestClamdUnreachableExits(t *testing.T) {
	code, out := runMain(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-clamd", "tcp://127.0.0.1:1")
	t.Logf("output:\n%s", out)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if want := "-clamd: clamd at tcp://127.0.0.1:1 does not answer"; !strings.Contains(out, want) {
		t.Errorf("the output does not say %q", want)
	}
	if strings.Contains(out, "msg=listening") {
		t.Error("the server listened before failing")
	}
}

func TestClamdMaxSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"100MiB": 100 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "4096": 4096, "7B": 7} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "1MB", "MiB", "9999999999GiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) succeeded", in)
		}
	}
	for n, want := range map[byteSize]string{100 << 20: "100MiB", 1 << 30: "1GiB", 1536 << 20: "1536MiB", 1000: "1000B"} {
		if got := n.String(); got != want {
			t.Errorf("String(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestServerTimeouts checks that the server bounds how long a client may
// take to send its headers and keep an idle connection, and sets no
// deadline on a whole request or response, which would cut long uploads
// and downloads.
func TestServerTimeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("ReadHeaderTimeout %v, IdleTimeout %v; want both set", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Errorf("ReadTimeout %v, WriteTimeout %v; want none", srv.ReadTimeout, srv.WriteTimeout)
	}
}

// TestCaptionReachesResult checks that an image's caption, sent as the
// route's input the way the page sends it, reaches OnComplete and comes
// back in the record's result, and that the server logs the ready file
// once.
func TestCaptionReachesResult(t *testing.T) {
	t.Parallel()
	base, logs := startServerLogs(t, options{Data: t.TempDir()})
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8)))
	client := &http.Client{Timeout: 30 * time.Second}
	resp, body := send(t, client, http.MethodPost, base+"/api/uploads/tus/", img.Bytes(), map[string]string{
		"Upload-Length":   strconv.Itoa(img.Len()),
		"Upload-Metadata": "route " + b64("images") + ",filename " + b64("dot.png") + ",input " + b64(`{"caption":"A grey square"}`),
		"Content-Type":    "application/offset+octet-stream",
	})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus creation with upload: %s, Upload-State %q %s", resp.Status, resp.Header.Get("Upload-State"), truncate(body))
	}
	id := path.Base(resp.Header.Get("Location"))
	resp, body = send(t, client, http.MethodGet, base+"/api/uploads/uploads/"+id, nil, nil)
	var rec struct {
		Result struct {
			Caption string `json:"caption"`
		} `json:"result"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rec) != nil {
		t.Fatalf("GET the record: %s %s", resp.Status, truncate(body))
	}
	if rec.Result.Caption != "A grey square" {
		t.Errorf("the record's result %s; want the caption", truncate(body))
	}
	ready := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, id) && strings.Contains(line, "ready") {
			ready++
		}
	}
	if ready != 1 {
		t.Errorf("the server logs the ready upload %d times, want once:\n%s", ready, logs.String())
	}
}

// TestMetricsServed checks that /metrics serves the Router's metrics in
// Prometheus's text format, counting an upload once it is ready.
func TestMetricsServed(t *testing.T) {
	t.Parallel()
	base := startServer(t)
	client := &http.Client{Timeout: 30 * time.Second}
	data := []byte("hello, metrics\n")
	resp, body := send(t, client, http.MethodPost, base+"/api/uploads/tus/", data, map[string]string{
		"Upload-Length":   strconv.Itoa(len(data)),
		"Upload-Metadata": "route " + b64("documents") + ",filename " + b64("hello.txt"),
		"Content-Type":    "application/offset+octet-stream",
	})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus creation with upload: %s, Upload-State %q %s", resp.Status, resp.Header.Get("Upload-State"), truncate(body))
	}
	resp, body = send(t, client, http.MethodGet, base+"/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	want := `carcosa_uploads_total{route="documents",state="ready"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("GET /metrics lacks %s:\n%s", want, truncate(body))
	}
}
