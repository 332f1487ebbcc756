package transform

// Limits bound the work and memory of transforms: MaxMemory all of a
// Transformer's together, the others each one. A zero or negative field
// takes its default.
type Limits struct {
	// MaxPixels is the input budget: width×height×frames, read from the
	// header before anything is decoded. Defaults to 50_000_000.
	MaxPixels int64

	// MaxMemory bounds the memory that the transforms of one Transformer
	// hold at once. Before decoding, each estimates from the image's
	// header the bytes it will allocate and reserves them, waiting while
	// the budget is spent (until its context is done); one that held a
	// quarter of the budget or more, with others waiting, runs the garbage
	// collector before it hands its memory on, lest the heap hold its
	// garbage and the next one's image together. The estimate counts
	// the decoded image in the decoder's own form (4 bytes a pixel for an
	// RGB PNG, 1.5 for a 4:2:0 JPEG, 7.5 for a progressive one, twice as
	// much for an interlaced PNG, every frame of a GIF in Rewrite), the
	// images made to orient, resize, pad and encode it (the WebP and AVIF
	// encoders' own memory too: about 40 and 160 bytes an output pixel),
	// and a GIF's file, read whole to count its frames. It leaves out the encoded output (at
	// most MaxOutputBytes), the codecs' buffers of a few kilobytes, and
	// the reader's own. An image whose estimate alone is over MaxMemory is
	// refused with ErrTooManyPixels before it is decoded; with the
	// defaults, so are images near MaxPixels that take more than about 5
	// bytes a pixel (16-bit or interlaced PNG, progressive or CMYK JPEG,
	// lossless WebP). Defaults to 256 MiB.
	MaxMemory int64

	// MaxSide is the largest output width or height. Spec sizes above it
	// are refused; a size derived from the aspect ratio, or a source kept
	// at its own size, is scaled down to fit. Rewrite does not apply it.
	// Defaults to 4096.
	MaxSide int

	// MaxInputBytes is the most bytes read from the source; a decoder that
	// needs more fails with ErrTooLarge. Bytes after the image are never
	// read. Defaults to 64 MiB.
	MaxInputBytes int64

	// MaxOutputBytes is the longest output; a longer one fails with
	// ErrTooLarge. Defaults to 16 MiB.
	MaxOutputBytes int64
}

// The defaults of Limits.
const (
	DefaultMaxPixels      = 50_000_000
	DefaultMaxMemory      = 256 << 20
	DefaultMaxSide        = 4096
	DefaultMaxInputBytes  = 64 << 20
	DefaultMaxOutputBytes = 16 << 20
)

// withDefaults returns a copy of l with its zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxMemory <= 0 {
		l.MaxMemory = DefaultMaxMemory
	}
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	if l.MaxInputBytes <= 0 {
		l.MaxInputBytes = DefaultMaxInputBytes
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	return l
}
