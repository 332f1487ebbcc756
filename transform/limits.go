package transform

// Limits bound the work and memory of one transform. A zero or negative
// field takes its default.
type Limits struct {
	// MaxPixels is the input budget: width×height×frames, read from the
	// header before anything is decoded. Decoding takes roughly 4 bytes a
	// pixel of one frame (GIF: 1 byte a pixel of every frame in Rewrite),
	// plus as much again for resizing. Defaults to 50_000_000.
	MaxPixels int64

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
	DefaultMaxSide        = 4096
	DefaultMaxInputBytes  = 64 << 20
	DefaultMaxOutputBytes = 16 << 20
)

// withDefaults returns a copy of l with its zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
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
