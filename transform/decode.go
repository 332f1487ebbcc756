package transform

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// The source formats, as image.DecodeConfig names them.
const (
	srcJPEG = "jpeg"
	srcPNG  = "png"
	srcGIF  = "gif"
	srcWebP = "webp"
)

// source is a decoded image.
type source struct {
	format string
	img    image.Image // the first frame, oriented upright
	anim   *gif.GIF    // every frame of a GIF, when asked for
}

// header is an image whose header has been read and checked against the
// pixel budget, none of its pixels decoded yet.
type header struct {
	format      string
	cfg         image.Config
	raw         []byte    // what DecodeConfig consumed, the start of the source
	body        io.Reader // the whole source, from its first byte
	frames      int64     // a GIF's frames; 1 otherwise
	buffered    int64     // bytes of a GIF read ahead to count its frames
	orientation int       // a JPEG's EXIF orientation; 1 otherwise
	webp        string    // a WebP's image chunk, "VP8 " or "VP8L"; "" if not known
	lr          *limitReader
}

// readHeader reads the header of one image from r within lim. It
// dispatches on the magic bytes itself rather than through image.Decode,
// so that only the formats named here are decoded, whatever other packages
// register. The header's width×height (×frames, for GIF) is checked
// against lim.MaxPixels.
func readHeader(r io.Reader, lim Limits) (*header, error) {
	lr := &limitReader{r: r, n: lim.MaxInputBytes, max: lim.MaxInputBytes}
	br := bufio.NewReader(lr)
	magic, _ := br.Peek(12)
	format := sniff(magic)
	if format == "" {
		if err := lr.failure(); err != nil {
			return nil, err
		}
		if len(magic) == 0 {
			return nil, fmt.Errorf("%w: the source is empty", ErrCorrupt)
		}
		return nil, ErrUnsupported
	}

	// The header is read once: what DecodeConfig consumes is kept and
	// replayed to the decoder.
	var hdr bytes.Buffer
	var cfg image.Config
	err := protect(func() (err error) {
		cfg, err = decodeConfig(format, io.TeeReader(br, &hdr))
		return err
	})
	if err != nil {
		return nil, lr.classify(err)
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if pixels <= 0 {
		return nil, fmt.Errorf("%w: the image is %d×%d", ErrCorrupt, cfg.Width, cfg.Height)
	}
	if pixels > lim.MaxPixels {
		return nil, fmt.Errorf("%w: %d×%d is over the budget of %d pixels", ErrTooManyPixels, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	h := &header{
		format: format, cfg: cfg, raw: hdr.Bytes(), frames: 1, orientation: 1, lr: lr,
		body: io.MultiReader(bytes.NewReader(hdr.Bytes()), br),
	}
	switch format {
	case srcGIF:
		// Counting frames means reading the whole GIF; what is read is kept
		// for the decoder. Reading stops as soon as the budget is spent.
		var all bytes.Buffer
		maxFrames := lim.MaxPixels / pixels
		h.frames = gifFrames(bufio.NewReader(io.TeeReader(h.body, &all)), maxFrames)
		if err := lr.failure(); err != nil {
			return nil, err
		}
		if h.frames > maxFrames {
			return nil, fmt.Errorf("%w: %d×%d with more than %d frames is over the budget of %d pixels", ErrTooManyPixels, cfg.Width, cfg.Height, maxFrames, lim.MaxPixels)
		}
		h.body, h.buffered = &all, int64(all.Len())
	case srcJPEG:
		h.orientation = jpegOrientation(h.raw)
	case srcWebP:
		next, _ := br.Peek(br.Buffered())
		h.webp = webpImage(h.raw, next)
	}
	return h, nil
}

// size is the image's size once upright: orientations 5 to 8 swap width
// and height.
func (h *header) size() (w, ht int) {
	if h.orientation >= 5 {
		return h.cfg.Height, h.cfg.Width
	}
	return h.cfg.Width, h.cfg.Height
}

// decode decodes the image h heads, within lim; with allFrames, a GIF's
// every frame.
func (h *header) decode(ctx context.Context, lim Limits, allFrames bool) (*source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	src := &source{format: h.format}
	err := protect(func() (err error) {
		switch {
		case h.format == srcGIF && allFrames:
			src.anim, err = gif.DecodeAll(h.body)
			if err == nil {
				src.img = src.anim.Image[0]
			}
		default:
			src.img, err = decodeImage(h.format, h.body)
		}
		return err
	})
	if err != nil {
		return nil, h.lr.classify(err)
	}
	if b := src.img.Bounds(); int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels {
		return nil, fmt.Errorf("%w: decoded %v, more than its header said", ErrTooManyPixels, b)
	}
	if h.format == srcGIF {
		src.img = onScreen(src.img, h.cfg)
	}
	src.img = orient(src.img, h.orientation)
	// What was planned and reserved was for the header's size.
	if w, ht := h.size(); src.img.Bounds().Dx() != w || src.img.Bounds().Dy() != ht {
		return nil, fmt.Errorf("%w: decoded %v, not the %d×%d of its header", ErrCorrupt, src.img.Bounds(), w, ht)
	}
	return src, ctx.Err()
}

// sniff returns the format whose magic bytes b begins with, or "".
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return srcJPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return srcPNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return srcGIF
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return srcWebP
	}
	return ""
}

func decodeConfig(format string, r io.Reader) (image.Config, error) {
	switch format {
	case srcJPEG:
		return jpeg.DecodeConfig(r)
	case srcPNG:
		return png.DecodeConfig(r)
	case srcGIF:
		return gif.DecodeConfig(r)
	default:
		return webp.DecodeConfig(r)
	}
}

func decodeImage(format string, r io.Reader) (image.Image, error) {
	switch format {
	case srcJPEG:
		return jpeg.Decode(r)
	case srcPNG:
		return png.Decode(r)
	case srcGIF:
		return gif.Decode(r)
	default:
		return webp.Decode(r)
	}
}

// onScreen returns a GIF's first frame on its logical screen: a frame may
// cover only part of it.
func onScreen(img image.Image, cfg image.Config) image.Image {
	screen := image.Rect(0, 0, cfg.Width, cfg.Height)
	if img.Bounds() == screen {
		return img
	}
	m := image.NewNRGBA(screen)
	draw.Draw(m, img.Bounds(), img, img.Bounds().Min, draw.Src)
	return m
}

// protect runs a decoder, turning its panic into an error matching
// ErrCorrupt: a decoder bug on hostile input must not take the process
// down.
func protect(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: the decoder panicked: %v", ErrCorrupt, p)
		}
	}()
	return f()
}

// gifFrames counts the frames of the GIF r holds, stopping at its trailer,
// at the end of r, at a byte that begins no block (the decoder reports
// such faults), or once the count is over max. It skips the pixel data
// without decompressing it.
func gifFrames(r *bufio.Reader, max int64) int64 {
	// Header (6 bytes) and logical screen descriptor (7).
	h := make([]byte, 13)
	if _, err := io.ReadFull(r, h); err != nil {
		return 0
	}
	if h[10]&0x80 != 0 {
		if _, err := r.Discard(3 << (h[10]&7 + 1)); err != nil {
			return 0
		}
	}
	var frames int64
	for {
		c, err := r.ReadByte()
		if err != nil {
			return frames
		}
		switch c {
		case 0x21: // extension: label, then sub-blocks
			if _, err := r.ReadByte(); err != nil {
				return frames
			}
		case 0x2c: // image descriptor
			frames++
			if frames > max {
				return frames
			}
			d := make([]byte, 9)
			if _, err := io.ReadFull(r, d); err != nil {
				return frames
			}
			if d[8]&0x80 != 0 {
				if _, err := r.Discard(3 << (d[8]&7 + 1)); err != nil {
					return frames
				}
			}
			if _, err := r.ReadByte(); err != nil { // LZW minimum code size
				return frames
			}
		default: // 0x3b, the trailer, or garbage
			return frames
		}
		if !skipSubBlocks(r) {
			return frames
		}
	}
}

// skipSubBlocks reads past a sequence of GIF data sub-blocks.
func skipSubBlocks(r *bufio.Reader) bool {
	for {
		n, err := r.ReadByte()
		if err != nil {
			return false
		}
		if n == 0 {
			return true
		}
		if _, err := r.Discard(int(n)); err != nil {
			return false
		}
	}
}

// errInputTooLarge is what limitReader returns past its limit.
var errInputTooLarge = errors.New("transform: input limit reached")

// limitReader reads at most n bytes of r, then fails, remembering whether
// the limit or r itself failed: decoders do not always keep the reader's
// error.
type limitReader struct {
	r        io.Reader
	n, max   int64 // bytes left, and the limit
	exceeded bool
	err      error // r's error other than io.EOF
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: one more byte says whether there was more.
		var b [1]byte
		n, err := io.ReadFull(l.r, b[:])
		if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			return 0, io.EOF
		}
		if n == 0 {
			l.err = err
			return 0, err
		}
		l.exceeded = true
		return 0, errInputTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// failure returns the error to report for what happened to the reader, or
// nil if it did not fail.
func (l *limitReader) failure() error {
	switch {
	case l.exceeded:
		return fmt.Errorf("%w: the source is longer than %d bytes", ErrTooLarge, l.max)
	case l.err != nil:
		return fmt.Errorf("transform: reading the source: %w", l.err)
	}
	return nil
}

// classify maps a decoder's error: the reader's own failure first, then
// anything else the decoder said means corrupt input.
func (l *limitReader) classify(err error) error {
	if f := l.failure(); f != nil {
		return f
	}
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}
