package transform

import "errors"

// The errors of this package. Functions wrap them with detail; compare with
// errors.Is. The detail of ErrBadSpec is written for the client (it names
// the parameter); the others' detail is for logs.
var (
	// ErrBadSpec is matched by invalid transform parameters (HTTP 400).
	ErrBadSpec = errors.New("transform: invalid parameters")

	// ErrTooManyPixels is matched when the source's width×height×frames is
	// over Limits.MaxPixels, or the memory its transform needs is over
	// Limits.MaxMemory: a decompression bomb or simply too large (HTTP
	// 422). It is found from the header, before any pixel is decoded.
	ErrTooManyPixels = errors.New("transform: the image has more pixels than allowed")

	// ErrCorrupt is matched when the source is truncated or corrupt, or its
	// decoder failed (HTTP 422).
	ErrCorrupt = errors.New("transform: the image is corrupt or truncated")

	// ErrUnsupported is matched when the source is not JPEG, PNG, GIF or
	// WebP (HTTP 415).
	ErrUnsupported = errors.New("transform: not an image format that can be transformed")

	// ErrTooLarge is matched when the source is longer than
	// Limits.MaxInputBytes or the output longer than Limits.MaxOutputBytes
	// (HTTP 413).
	ErrTooLarge = errors.New("transform: the image is larger than allowed")
)
