package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Video makes posters of video files.
type Video interface {
	// Probe returns the duration and display size of the first video
	// stream of the file at path. A file with no video stream, or one the
	// prober cannot read, gives an error matching ErrUnsupported or
	// ErrCorrupt.
	Probe(ctx context.Context, path string) (VideoInfo, error)

	// Poster writes to w a JPEG of the frame at at, or of the first frame
	// if the video is shorter. Errors are those of Probe; on error, w may
	// have received part of a JPEG.
	Poster(ctx context.Context, path string, at time.Duration, w io.Writer) error
}

// VideoInfo describes a video stream. Width and Height are the displayed
// size: a stream rotated by 90° has them swapped from the coded size.
type VideoInfo struct {
	Duration      time.Duration
	Width, Height int
}

// ErrNoFFmpeg is returned by NewFFmpeg when ffmpeg or ffprobe is missing.
var ErrNoFFmpeg = errors.New("transform: ffmpeg and ffprobe are needed for video posters but are not in PATH (Debian/Ubuntu: apt-get install ffmpeg)")

// FFmpeg is a Video that runs the ffmpeg and ffprobe programs: one process
// a call, no shell, bound by the call's context. The poster streams from
// ffmpeg's standard output to the writer.
type FFmpeg struct {
	ffmpeg, ffprobe string
}

var _ Video = (*FFmpeg)(nil)

// NewFFmpeg finds ffmpeg and ffprobe in PATH, or returns ErrNoFFmpeg.
func NewFFmpeg() (*FFmpeg, error) {
	ffmpeg, err1 := exec.LookPath("ffmpeg")
	ffprobe, err2 := exec.LookPath("ffprobe")
	if err1 != nil || err2 != nil {
		return nil, ErrNoFFmpeg
	}
	return &FFmpeg{ffmpeg: ffmpeg, ffprobe: ffprobe}, nil
}

// Probe implements Video.
func (f *FFmpeg) Probe(ctx context.Context, path string) (VideoInfo, error) {
	in, err := input(path)
	if err != nil {
		return VideoInfo{}, err
	}
	out := &limitBuffer{max: 1 << 20}
	err = run(ctx, f.ffprobe, out, "-v", "error", "-print_format", "json",
		"-show_entries", "format=duration:stream=width,height:stream_tags=rotate:stream_side_data=rotation",
		"-select_streams", "v:0", in)
	if err != nil {
		return VideoInfo{}, err
	}
	var probe struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			Width  int `json:"width"`
			Height int `json:"height"`
			Tags   struct {
				Rotate string `json:"rotate"`
			} `json:"tags"`
			SideData []struct {
				Rotation int `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out.Bytes(), &probe); err != nil {
		return VideoInfo{}, fmt.Errorf("transform: reading ffprobe's output: %w", err)
	}
	if len(probe.Streams) == 0 || probe.Streams[0].Width <= 0 || probe.Streams[0].Height <= 0 {
		return VideoInfo{}, fmt.Errorf("%w: %s has no video stream", ErrUnsupported, path)
	}
	st := probe.Streams[0]
	info := VideoInfo{Width: st.Width, Height: st.Height}
	rotation, _ := strconv.Atoi(st.Tags.Rotate)
	for _, sd := range st.SideData {
		if sd.Rotation != 0 {
			rotation = sd.Rotation
		}
	}
	if rotation%180 != 0 {
		info.Width, info.Height = info.Height, info.Width
	}
	// Some containers (raw streams) have no duration: it stays 0.
	if d, err := strconv.ParseFloat(probe.Format.Duration, 64); err == nil && d > 0 {
		info.Duration = time.Duration(d * float64(time.Second))
	}
	return info, nil
}

// Poster implements Video.
func (f *FFmpeg) Poster(ctx context.Context, path string, at time.Duration, w io.Writer) error {
	in, err := input(path)
	if err != nil {
		return err
	}
	at = max(at, 0)
	for {
		cw := &countWriter{w: w}
		// -ss before -i seeks in the input, fast; ffmpeg turns the frame
		// upright as the stream's rotation says.
		err := run(ctx, f.ffmpeg, cw, "-nostdin", "-hide_banner", "-loglevel", "error",
			"-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", in,
			"-an", "-sn", "-dn", "-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1")
		if cw.err != nil {
			return cw.err // w failed, not ffmpeg
		}
		if err != nil {
			return err
		}
		if cw.n > 0 {
			return nil
		}
		// Seeking past the end gives no frame and no error.
		if at == 0 {
			return fmt.Errorf("%w: ffmpeg found no frame in %s", ErrCorrupt, path)
		}
		at = 0
	}
}

// input returns path as ffmpeg's input argument. The file: protocol makes
// it a file name whatever it looks like: "-x" is no option, "-" is not
// standard input, "http:..." is no URL.
func input(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", err
	}
	return "file:" + abs, nil
}

// run runs program with args, its standard output to stdout. A failure
// carries the end of what it wrote to standard error.
func run(ctx context.Context, program string, stdout io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Stdout = stdout
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second // do not wait on pipes a killed process's children hold
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("transform: %s: %w", filepath.Base(program), ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%w: %s failed (%v): %s", ErrCorrupt, filepath.Base(program), err, strings.TrimSpace(stderr.String()))
	}
	return fmt.Errorf("transform: running %s: %w", filepath.Base(program), err)
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }
