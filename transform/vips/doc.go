// Package vips is a transform.Engine on libvips, through
// github.com/davidbyttow/govips/v2: thumbnails are made with libvips'
// thumbnail operation, which shrinks a JPEG while decoding it (libjpeg's
// DCT scaling) and streams the rest, so that a thumbnail of a large photo
// takes a fraction of the time and memory of the pure-Go engine.
//
// It needs cgo and libvips with its headers (Debian: apt-get install
// libvips-dev). Without cgo the package builds empty, so that
// CGO_ENABLED=0 go build ./... still builds the module; a program that
// uses New then fails to build, as it should.
//
//	eng, err := vips.New(&vips.Options{Limits: lim, Workers: 4})
//	...
//	r, err := carcosa.New(carcosa.Config{ImageEngine: eng, TransformWorkers: 4, ...})
//
// # Safety
//
// The limits are those of package transform, kept the same way: the
// header is read and checked against MaxPixels by transform.ReadHeader,
// in Go, before a byte reaches libvips, which therefore never sees a
// format other than JPEG, PNG, GIF or WebP nor a decompression bomb. The
// memory a call takes is estimated from the header (at the scale libvips
// will decode a JPEG at) and reserved from MaxMemory, the same budget as
// the pure-Go engine's, before the source is read. libvips' operation
// cache is off, so that nothing outlives a call, and its threads per
// image are Options.Workers. Output is stripped of every piece of
// metadata after the EXIF orientation has been applied.
//
// Animated GIFs are rewritten, with their frames, by the pure-Go engine
// (within the same budget); everything else is libvips'. A libvips error
// on input that passed the header checks is reported as
// transform.ErrCorrupt.
package vips
