package main

import (
	"bytes"
	"context"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestThumbs runs -thumbs on three small images, Carcosa two at once.
func TestThumbs(t *testing.T) {
	if _, err := exec.LookPath("vipsthumbnail"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("vipsthumbnail is not in PATH; CI must install it (.ci/run: apt_install libvips-tools)")
		}
		t.Skip("vipsthumbnail is not in PATH (Debian: apt-get install libvips-tools)")
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, []string{"-thumbs", "3", "-thumbs-source", "400x300", "-thumbs-parallel", "2", "-reps", "2", "-dir", dir},
		strings.NewReader(""), &stdout, &stderr)
	t.Log(stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	t.Log(out)
	header := "| images | figure | carcosa | vipsthumbnail | vipsthumbnail-each | carcosa/vipsthumbnail | better |"
	if _, ok := thumbsEngines["vips"]; ok {
		header = "| images | figure | carcosa | carcosa-vips | vipsthumbnail | vipsthumbnail-each | carcosa/vipsthumbnail | carcosa-vips/vipsthumbnail | better |"
	}
	for _, want := range []string{
		header,
		"| 3 × 400×300 | thumbnails/s |", "| 3 × 400×300 | peak RSS MiB |", "| 3 × 400×300 | RSS at start MiB |",
		"carcosa 2 at once", "Medians over 2 repetitions",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(out, " - ") || strings.Contains(out, "| 0.0 |") {
		t.Errorf("the report has missing figures:\n%s", out)
	}
	if n := strings.Count(stderr.String(), "thumbs rep "); n != 2*len(thumbsKinds) {
		t.Errorf("the log shows %d runs, want 2 repetitions of %d kinds", n, len(thumbsKinds))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) > 0 {
		t.Errorf("the run left %q behind", left)
	}
}

// TestThumbsGenerate checks that the sources are JPEGs of the size asked
// for, all different.
func TestThumbsGenerate(t *testing.T) {
	dir := t.TempDir()
	if err := thumbsGenerate(context.Background(), []string{"-out", dir, "-n", "3", "-width", "64", "-height", "48"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	names, err := sourceJPEGs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 {
		t.Fatalf("generated %q, want 3 files", names)
	}
	seen := map[string]bool{}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil || format != "jpeg" || cfg.Width != 64 || cfg.Height != 48 {
			t.Errorf("%s: %s of %d×%d (%v), want a jpeg of 64×48", name, format, cfg.Width, cfg.Height, err)
		}
		if seen[string(b)] {
			t.Errorf("%s is the same as another", name)
		}
		seen[string(b)] = true
	}
}

// TestEncode runs -encode on two small images and checks its report.
func TestEncode(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-encode", "2", "-reps", "1", "-thumbs-source", "320x240", "-dir", t.TempDir()}
	cfg, err := parseFlags(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := runEncode(context.Background(), cfg, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| figure | jpeg | webp | avif |", "| ms per image (median) |", "| KiB per image (median) |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestThumbsFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-thumbs", "5", "-thumbs-source", "4000"}, "want WIDTHxHEIGHT"},
		{[]string{"-thumbs", "5", "-thumbs-source", "0x300"}, "want WIDTHxHEIGHT"},
		{[]string{"-thumbs", "-1"}, "-thumbs must not be negative"},
		{[]string{"-thumbs", "5", "-thumbs-parallel", "0"}, "-thumbs-parallel must be at least 1"},
		{[]string{"-thumbs", "5", "-markdown", "x.md"}, "does not take -markdown"},
		{[]string{"-encode", "-1"}, "-encode must not be negative"},
		{[]string{"-encode", "5", "-thumbs", "5"}, "separate modes"},
		{[]string{"-encode", "5", "-markdown", "x.md"}, "does not take -markdown"},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseFlags(%q) = %v, want an error saying %q", c.args, err, c.want)
		}
	}
	for args, reps := range map[string]int{"-thumbs 5": 3, "-thumbs 5 -reps 1": 1, "-encode 5": 3, "": 5} {
		cfg, err := parseFlags(strings.Fields(args), &bytes.Buffer{})
		if err != nil {
			t.Errorf("parseFlags(%q): %v", args, err)
		} else if cfg.reps != reps {
			t.Errorf("parseFlags(%q): %d repetitions, want %d", args, cfg.reps, reps)
		}
	}
}
