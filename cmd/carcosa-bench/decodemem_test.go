package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDecodeMemory runs -decode-memory on two small PNGs.
func TestDecodeMemory(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, []string{"-decode-memory", "2", "-decode-memory-source", "400x300", "-reps", "1", "-dir", dir},
		strings.NewReader(""), &stdout, &stderr)
	t.Log(stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	t.Log(out)
	for _, want := range []string{
		"| MaxMemory | peak RSS MiB | RSS added MiB | seconds |",
		"| 256 MiB (default) |", "| none |", "2 RGB PNGs of 400×300", "Medians over 1 repetitions",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(out, "| 0.0 |") {
		t.Errorf("the report has missing figures:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) > 0 {
		t.Errorf("the run left %q behind", left)
	}
}

// TestDecodeGenerate checks that the PNGs are of the size asked for, all
// different, and compress well.
func TestDecodeGenerate(t *testing.T) {
	dir := t.TempDir()
	if err := decodeGenerate(context.Background(), []string{"-out", dir, "-n", "2", "-width", "700", "-height", "700"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var prev []byte
	for i := range 2 {
		b, err := os.ReadFile(filepath.Join(dir, pngName(i)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != 700 || cfg.Height != 700 {
			t.Errorf("%s: %d×%d (%v), want 700×700", pngName(i), cfg.Width, cfg.Height, err)
		}
		if len(b) > 700*700*4/100 {
			t.Errorf("%s is %d bytes, not a hundredth of its pixels", pngName(i), len(b))
		}
		if bytes.Equal(b, prev) {
			t.Errorf("%s is the same as the one before", pngName(i))
		}
		prev = b
	}
}

func TestDecodeMemoryFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-decode-memory", "4", "-decode-memory-source", "7000"}, "want WIDTHxHEIGHT"},
		{[]string{"-decode-memory", "-1"}, "-decode-memory must not be negative"},
		{[]string{"-decode-memory", "4", "-thumbs", "2"}, "separate modes"},
		{[]string{"-decode-memory", "4", "-markdown", "x.md"}, "does not take -markdown"},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseFlags(%q) = %v, want an error saying %q", c.args, err, c.want)
		}
	}
	cfg, err := parseFlags([]string{"-decode-memory", "4"}, &bytes.Buffer{})
	if err != nil || cfg.reps != 3 || cfg.decodeWidth != 7000 || cfg.decodeHeight != 7000 {
		t.Errorf("parseFlags(-decode-memory 4) = %+v, %v; want 3 repetitions of 7000×7000", cfg, err)
	}
}
