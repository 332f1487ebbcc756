package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/scan"
)

// TestClamdKinds runs the scanning kinds at a tiny size on the test clamd,
// clamdscan among them when it is installed.
func TestClamdKinds(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	kinds := "clamdscan,scan-client,carcosa-clamd"
	if _, err := exec.LookPath("clamdscan"); err != nil {
		t.Log("clamdscan is not in PATH (Debian: apt-get install clamdscan); measuring the other kinds only")
		kinds = "scan-client,carcosa-clamd"
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, []string{"-kinds", kinds, "-scenarios", "single", "-size", "2MiB", "-reps", "1", "-dir", dir, "-clamd", addr},
		strings.NewReader(""), &stdout, &stderr)
	t.Log(stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	t.Log(out)
	want := []string{"scan-client", "carcosa-clamd", "MB/s to ready"}
	if strings.HasPrefix(kinds, "clamdscan") {
		want = append(want, "scan-client/clamdscan", "carcosa-clamd/clamdscan")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the report lacks %q", w)
		}
	}
	if strings.Contains(out, " - ") {
		t.Errorf("the report has missing figures:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "found EICAR at the end of a 2MiB stream") {
		t.Error("the bench did not check that clamd scans the whole upload")
	}
	if strings.HasPrefix(kinds, "clamdscan") && !strings.Contains(stderr.String(), "clamdscan found EICAR at the end of a 2MiB file") {
		t.Error("the bench did not check that clamdscan sends the whole file")
	}
}

// TestCarcosaClamdScans checks that the carcosa-clamd kind answers an
// upload only once it is scanned: clean data is ready and recorded clean,
// data carrying EICAR is refused.
func TestCarcosaClamdScans(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	k, _ := kindByName("carcosa-clamd")
	h, release, err := k.Handler(serveOptions{Dir: t.TempDir(), MaxFileSize: 8 << 20, Clamd: addr})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer func() {
		srv.Close()
		release()
	}()
	ctx := context.Background()
	tgt := target{endpoint: srv.URL + k.TusPath, wantState: k.WantState}

	clean := filepath.Join(t.TempDir(), "clean.bin")
	if err := writeDataFile(clean, 1<<20); err != nil {
		t.Fatal(err)
	}
	c, err := newTusClient(clean, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	loc, err := c.create(ctx, tgt.endpoint, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.patch(ctx, loc, 0, 1<<20, 1<<20, tgt.wantState); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/uploads/" + path.Base(loc))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ State, Scan string }
	json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if rec.State != "ready" || rec.Scan != "clean" {
		t.Errorf("the clean upload's record says state %q, scan %q; want ready, clean", rec.State, rec.Scan)
	}

	infected := filepath.Join(t.TempDir(), "infected.bin")
	if err := os.WriteFile(infected, []byte(strings.Repeat("x", 4096)+scan.EICAR), 0o644); err != nil {
		t.Fatal(err)
	}
	ci, err := newTusClient(infected, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	_, err = ci.upload(ctx, tgt, int64(4096+len(scan.EICAR)), 0)
	if err == nil || !strings.Contains(err.Error(), "malware_detected") {
		t.Errorf("uploading EICAR: %v, want a 422 malware_detected", err)
	}
}

// TestGoroutines runs the -goroutines check on the test clamd.
func TestGoroutines(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-clamd", addr, "-goroutines", "40"}, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Log(stdout.String())
	for _, want := range []string{"40 scans (20 of EICAR found infected, 20 of 64 KiB clean)", "goroutines: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
}

func TestClamdFlags(t *testing.T) {
	t.Setenv("CARCOSA_TEST_CLAMD", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-kinds", "carcosa-clamd"}, "needs -clamd"},
		{[]string{"-kinds", "clamdscan", "-clamd", "127.0.0.1:3310"}, "runs the scenarios single and large"},
		{[]string{"-kinds", "scan-client", "-scenarios", "single,concurrent", "-clamd", "127.0.0.1:3310"}, "not concurrent"},
		{[]string{"-goroutines", "10"}, "-goroutines needs"},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseFlags(%q) = %v, want an error saying %q", c.args, err, c.want)
		}
	}
	if _, err := parseFlags([]string{"-kinds", "clamdscan,scan-client,carcosa-clamd", "-scenarios", "single,large", "-clamd", "127.0.0.1:3310"}, &bytes.Buffer{}); err != nil {
		t.Errorf("the scanning kinds on single and large: %v", err)
	}
}

func TestClamdscanConfig(t *testing.T) {
	for addr, want := range map[string]string{
		"tcp://127.0.0.1:3310":         "TCPSocket 3310\nTCPAddr 127.0.0.1\nStreamMaxLength 256M\n",
		"localhost:3311":               "TCPSocket 3311\nTCPAddr localhost\nStreamMaxLength 256M\n",
		"unix:///run/clamav/clamd.ctl": "LocalSocket /run/clamav/clamd.ctl\nStreamMaxLength 256M\n",
		"tcp://[::1]:3310":             "TCPSocket 3310\nTCPAddr ::1\nStreamMaxLength 256M\n",
	} {
		if got, err := clamdscanConfig(addr, 256<<20); err != nil || got != want {
			t.Errorf("clamdscanConfig(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for size, want := range map[int64]string{1: "1M", 1<<20 + 1: "2M", 4 << 20: "4M"} {
		if got, _ := clamdscanConfig("127.0.0.1:3310", size); !strings.HasSuffix(got, "StreamMaxLength "+want+"\n") {
			t.Errorf("clamdscanConfig for %d bytes = %q, want StreamMaxLength %s", size, got, want)
		}
	}
	if _, err := clamdscanConfig("clamd", 1); err == nil {
		t.Error("clamdscanConfig(\"clamd\") succeeded")
	}
}
