package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the bench's child processes: the
// bench re-executes os.Executable() with "serve", "thumbs-worker",
// "thumbs-generate", "decode-worker" or "decode-generate".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && slices.Contains([]string{"serve", "thumbs-worker", "thumbs-generate", "decode-worker", "decode-generate"}, os.Args[1]) {
		if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Under -race, a process sleeps a second before exiting, by default;
	// the servers need not.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// TestEndToEnd runs the whole bench at tiny sizes: both kinds in server
// processes of their own, every scenario, the text and Markdown reports.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	profiles := filepath.Join(dir, "pprof")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, []string{
		"-reps", "2", "-size", "4MiB", "-chunk", "1MiB", "-large", "8MiB",
		"-concurrent", "4", "-concurrent-size", "1MiB",
		"-dir", dir, "-markdown", md, "-pprof", profiles, "-clamd", "127.0.0.1:3310",
	}, strings.NewReader(""), &stdout, &stderr)
	t.Log(stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	t.Log(out)
	for _, want := range []string{
		"carcosa/tusd", "single", "chunked", "concurrent", "large",
		"MB/s to ready", "p99 ms to ready", "RSS added MiB", "peak Go heap MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(out, " - ") {
		t.Errorf("the report has missing figures:\n%s", out)
	}
	// Two repetitions: tusd first, then carcosa first.
	logs := stderr.String()
	first := strings.Index(logs, "single     rep 1/2  tusd")
	second := strings.Index(logs, "single     rep 1/2  carcosa")
	third := strings.Index(logs, "single     rep 2/2  carcosa")
	fourth := strings.Index(logs, "single     rep 2/2  tusd")
	if !(0 <= first && first < second && second < third && third < fourth) {
		t.Errorf("the kinds did not alternate:\n%s", logs)
	}

	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| scenario | figure | tusd | carcosa |", "median", "Command: `", "cores"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the Markdown report lacks %q:\n%s", want, b)
		}
	}
	for _, name := range []string{"carcosa-large-1.pprof", "tusd-single-2.pprof"} {
		if fi, err := os.Stat(filepath.Join(profiles, name)); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	// Nothing is left behind but the report and the profiles.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "BENCHMARKS.md" && e.Name() != "pprof" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestClientCarcosa uploads through the bench's client to an in-process
// Carcosa and checks that the upload it reports done is ready, whole and
// intact.
func TestClientCarcosa(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data.bin")
	const size = 3<<20 + 12345
	if err := writeDataFile(data, size); err != nil {
		t.Fatal(err)
	}
	k, _ := kindByName("carcosa")
	h, release, err := k.Handler(serveOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer func() {
		srv.Close()
		release()
	}()
	c, err := newTusClient(data, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	tgt := target{endpoint: srv.URL + k.TusPath, wantState: k.WantState}
	if _, err := c.upload(ctx, tgt, size, 1<<20); err != nil {
		t.Fatal(err)
	}
	// The same, step by step, to read the record afterwards.
	loc, err := c.create(ctx, tgt.endpoint, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.patch(ctx, loc, 0, size, size, tgt.wantState); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/uploads/" + path.Base(loc))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec struct {
		State  string `json:"state"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := sha256.New()
	io.Copy(sum, f)
	if want := fmt.Sprintf("%x", sum.Sum(nil)); rec.State != "ready" || rec.Size != size || rec.SHA256 != want {
		t.Errorf("record = %+v, want ready, %d bytes, SHA-256 %s", rec, size, want)
	}
}

// TestClientWantsState checks that the client fails an upload whose last
// response lacks the Upload-State it waits for.
func TestClientWantsState(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data.bin")
	if err := writeDataFile(data, 1<<20); err != nil {
		t.Fatal(err)
	}
	k, _ := kindByName("tusd")
	h, release, err := k.Handler(serveOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer func() {
		srv.Close()
		release()
	}()
	c, err := newTusClient(data, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.upload(ctx, target{endpoint: srv.URL + k.TusPath}, 1<<20, 0); err != nil {
		t.Fatalf("plain tusd upload: %v", err)
	}
	_, err = c.upload(ctx, target{endpoint: srv.URL + k.TusPath, wantState: "ready"}, 1<<20, 0)
	if err == nil || !strings.Contains(err.Error(), "Upload-State") {
		t.Fatalf("err = %v, want one about Upload-State", err)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9, 7, 1, 5, 3}, 5},
	} {
		in := append([]float64(nil), tc.in...)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("median reordered its input: %v", tc.in)
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100 … 1
	}
	two00 := make([]float64, 200)
	for i := range two00 {
		two00[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		in   []float64
		p    float64
		want float64
	}{
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 100, 100},
		{hundred, 0, 1},
		{two00, 50, 100},
		{two00, 99, 198},
		{[]float64{7}, 99, 7},
		{[]float64{1, 2, 3, 4}, 50, 2},
		{[]float64{1, 2, 3, 4}, 99, 4},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.in), tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile(nil) is not NaN")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "8MiB": 8 << 20, "1GiB": 1 << 30, "1.5GiB": 3 << 29,
		"512KiB": 512 << 10, "10MB": 10e6, "2GB": 2e9, "7B": 7,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "1XB", "1e30GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
	for n, want := range map[int64]string{1 << 30: "1GiB", 8 << 20: "8MiB", 1536 << 20: "1536MiB", 1000: "1000B"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseKB(t *testing.T) {
	m := parseKB(strings.NewReader("Name:\tcat\nVmHWM:\t    1788 kB\nVmRSS:\t  20 kB\nThreads:\t1\n"))
	if m["VmHWM"] != 1788<<10 || m["VmRSS"] != 20<<10 || len(m) != 2 {
		t.Errorf("parseKB = %v", m)
	}
}

func TestMounts(t *testing.T) {
	if got := unescapeMount(`/mnt/my\040disk`); got != "/mnt/my disk" {
		t.Errorf("unescapeMount = %q", got)
	}
	if !underMount("/tmp/x", "/") || !underMount("/tmp/x", "/tmp") || underMount("/tmpx", "/tmp") {
		t.Error("underMount is wrong")
	}
	if _, ok := mountOf(t.TempDir()); !ok {
		t.Error("no mount found for the temporary directory")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"-reps": "-reps", "1GiB": "1GiB", "/tmp/B.md": "/tmp/B.md",
		"a b": "'a b'", "it's": `'it'\''s'`, "": "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
