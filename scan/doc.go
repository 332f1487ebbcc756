// Package scan checks a stream for malware before Carcosa keeps it.
//
// # Scanners
//
// A [Scanner] reads a stream to its end and returns a [Verdict]. Every
// failure is an error, never a clean verdict, so a caller that rejects on
// error fails closed. Errors matching [ErrUnavailable] mean the scanner gave
// no answer (unreachable, too slow, a protocol fault): try again later.
// Errors matching [ErrTooLarge] mean the stream is longer than the scanner
// examines: reject it. [Func] turns a function into a Scanner. Every
// Scanner runs the conformance suite in scan/scantest.
//
// # ClamAV
//
// [Clamd] sends the stream to a clamd daemon with its INSTREAM command, one
// connection a scan, through a single chunk buffer: memory does not grow
// with the stream. Dialling, sending and waiting for the answer are bound
// by the context and by [ClamdOptions.Timeout].
//
// clamd's own limits must cover [ClamdOptions.MaxSize]. A stream longer
// than StreamMaxLength is refused, which Clamd reports as ErrTooLarge with
// clamd's reason. But a stream longer than MaxFileSize is answered "OK"
// unscanned (unless AlertExceedsMax is on), so set clamd's StreamMaxLength
// and MaxFileSize to at least MaxSize, and MaxScanSize, which bounds what
// clamd reads of a stream and of the archives it unpacks, above it:
//
//	StreamMaxLength 100M
//	MaxFileSize 100M
//	MaxScanSize 400M
//
// # Why a client of its own
//
// Clamd does not use github.com/dutchcoders/go-clamd, because that library
// keeps the connection to itself, so no deadline can be set on it: a hung
// clamd hangs the caller, and nothing takes a context. Its ScanStream also
// leaves a goroutine waiting on the abort channel until the caller closes
// it, ends the stream early and scans what was sent as if it were whole
// when the reader fails, and returns a bare broken pipe for a stream over
// StreamMaxLength, losing clamd's answer that says why.
package scan
