package transform

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// requireFFmpeg returns an FFmpeg, skipping the test when ffmpeg is not
// installed, except under CI=true, where it fails.
func requireFFmpeg(t *testing.T) *FFmpeg {
	t.Helper()
	f, err := NewFFmpeg()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; CI must provide it", err)
		}
		t.Skip(err)
	}
	return f
}

// testVideo makes a 2-second 320×240 video, its name beginning with '-'
// so that it would be an option if passed bare.
func testVideo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "-test video.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=10", "-pix_fmt", "yuv420p", "file:"+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making the test video: %v\n%s", err, out)
	}
	return path
}

func TestFFmpeg(t *testing.T) {
	t.Parallel()
	f := requireFFmpeg(t)
	path := testVideo(t)
	ctx := context.Background()

	info, err := f.Probe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 320 || info.Height != 240 || info.Duration < 1900*time.Millisecond || info.Duration > 2100*time.Millisecond {
		t.Errorf("Probe = %+v, want 2s at 320×240", info)
	}

	for _, at := range []time.Duration{time.Second, 0, time.Hour} {
		var out bytes.Buffer
		if err := f.Poster(ctx, path, at, &out); err != nil {
			t.Fatalf("Poster at %v: %v", at, err)
		}
		img, err := jpeg.Decode(&out)
		if err != nil {
			t.Fatalf("Poster at %v is no JPEG: %v", at, err)
		}
		if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
			t.Errorf("Poster at %v is %v, want 320×240", at, b)
		}
	}
}

func TestFFmpegErrors(t *testing.T) {
	t.Parallel()
	f := requireFFmpeg(t)
	ctx := context.Background()
	dir := t.TempDir()

	if _, err := f.Probe(ctx, filepath.Join(dir, "missing.mp4")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Probe of a missing file: %v, want fs.ErrNotExist", err)
	}
	notVideo := filepath.Join(dir, "not-a-video.mp4")
	if err := os.WriteFile(notVideo, []byte("just some text, no video here"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Probe(ctx, notVideo); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
		t.Errorf("Probe of text: %v, want ErrCorrupt or ErrUnsupported", err)
	}
	var out bytes.Buffer
	if err := f.Poster(ctx, notVideo, 0, &out); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Poster of text: %v, want ErrCorrupt", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Probe(cctx, notVideo); !errors.Is(err, context.Canceled) {
		t.Errorf("Probe with a cancelled context: %v", err)
	}
}
