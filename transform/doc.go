// Package transform resizes and re-encodes images safely, and makes
// posters of videos.
//
// # Transforms
//
// A [Spec] says what to make: a width and height, how to [Fit] the source
// to them, an output [Format] and a quality. [ParseQuery] reads one
// from URL parameters (w, h, fit, fm, q), [Spec.Canonical] writes it as a
// string for storage keys, and [Sign] and [Verify] let an application issue
// transform URLs that nobody else can forge, as imgproxy does. [Image]
// makes the transform; [Rewrite] re-encodes an upload as it is, keeping
// only its pixels. A [Transformer] makes both within one memory budget
// shared by all its calls ([Limits.MaxMemory]); the functions Image and
// Rewrite have a budget of their own each.
//
// Fits, for a source w×h given both sides:
//
//	cover    exactly w×h; scaled to cover it, the centre cropped (default)
//	contain  exactly w×h; scaled to fit within it (enlarged if smaller), padded
//	         with white (JPEG) or transparency (PNG, GIF, WebP, AVIF)
//	fill     exactly w×h; stretched
//	inside   within w×h, keeping the aspect ratio; never enlarged
//
// With one side zero the other follows the aspect ratio (inside still never
// enlarges); with both zero the source keeps its size. No output side
// exceeds [Limits.MaxSide].
//
// # Formats
//
// JPEG, PNG, GIF and WebP are decoded, and nothing else, whatever other
// packages register with the image package (this one's imports register
// WebP and AVIF decoders there; it does not use them). Output is JPEG, PNG
// or GIF, from the standard library's encoders, or WebP or AVIF, from
// libwebp and libavif compiled to WebAssembly and run by wazero
// (github.com/gen2brain/webp and github.com/gen2brain/avif), so that this
// package needs no cgo. Quality is JPEG's and libwebp's as given; libavif's
// is bent so that DefaultQuality gives its default, 60. Without a format,
// the output keeps the source's, and a WebP source becomes JPEG, its
// transparency flattened onto white; WebP and AVIF keep transparency. An
// animated GIF is turned into its first frame by Image and kept whole by
// Rewrite.
//
// [Auto] is a format chosen per request: [Negotiate] resolves it from an
// Accept header (AVIF, else WebP, else as without a format) before the
// transform, and the caller keys its cache on the resolved Spec and sends
// "Vary: Accept". Its canonical form is "accept", apart from the "auto" of
// an empty Format, so a signature names one or the other.
//
// WebP and AVIF encoders allocate far more than image/jpeg (AVIF about 160
// bytes a pixel), and that is reserved from the memory budget like the
// rest; see encodeModernCost. The first encode of each compiles its
// module, a second or two. Where a system libwebp.so or libavif.so can be
// loaded, those packages use it instead, through purego, which makes even
// a CGO_ENABLED=0 binary dynamically linked against libc; build with the
// tag nodynamic to keep to WebAssembly and a static binary.
//
// # Engines
//
// An [Engine] makes Image and Rewrite within its [Limits]; [Transformer]
// is the pure-Go one, and package transform/vips one on libvips (cgo).
// Every engine keeps the contract the Engine type states and runs the
// conformance suite of package transform/enginetest. An engine that
// decodes otherwise reads the header with [ReadHeader] first, so that the
// checks below come before its decoder sees a byte, sizes its output with
// [Header.Plan], and reserves its memory from a Transformer's budget with
// [Transformer.Reserve].
//
// # Abuse and decompression bombs
//
// A 33-byte PNG header can claim 50 gigapixels. Before any pixel is
// decoded, the header is read with the format's DecodeConfig, and
// width×height×frames (a GIF's frames counted by walking its blocks,
// without decompressing them) is checked against [Limits.MaxPixels]; the
// header bytes are kept and replayed to the decoder, so the source is read
// once, as a stream. The memory the transform will take is estimated
// from the header too, and reserved from [Limits.MaxMemory] before
// decoding: transforms beyond it wait their turn, and an image that needs
// more than all of it is refused. The source is read up to
// [Limits.MaxInputBytes], the output is held to [Limits.MaxOutputBytes],
// and a decoder's panic is recovered as [ErrCorrupt]. Re-encoding drops
// all metadata (EXIF with its GPS position, XMP, ICC profiles, comments)
// after a JPEG's EXIF orientation has been applied to the pixels.
//
// # Errors
//
// Errors match one of the sentinels, each with its HTTP status:
// [ErrBadSpec] 400, [ErrTooManyPixels] 422, [ErrCorrupt] 422,
// [ErrUnsupported] 415, [ErrTooLarge] 413. Any other error (the context's,
// the reader's or the writer's) is the caller's or the server's.
//
// # Video
//
// [Video] probes videos and makes posters; [FFmpeg] implements it with the
// ffmpeg and ffprobe programs (Debian package ffmpeg), run without a shell
// and bound by the context, the file named so that no path is read as an
// option or a URL.
package transform
