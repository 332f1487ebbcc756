package scan

import (
	"context"
	"errors"
	"io"
)

// Verdict is the outcome of a scan that completed.
type Verdict struct {
	Infected  bool
	Signature string // the signature's name when Infected, e.g. "Eicar-Test-Signature"
}

// Scanner examines a stream for malware. Implementations are safe for
// concurrent use.
type Scanner interface {
	// Scan reads r to its end and returns the verdict. Any failure (scanner
	// unreachable, timeout, ctx done, r's error, stream over the limit) is an
	// error — never a clean verdict. The error wraps r's error when r fails.
	Scan(ctx context.Context, r io.Reader) (Verdict, error)

	// MaxSize is the most bytes the scanner examines in one stream; 0 means
	// no limit. Streams longer than this fail with ErrTooLarge.
	MaxSize() int64
}

var (
	// ErrTooLarge is matched by the error of a scan whose stream is longer
	// than the scanner examines.
	ErrTooLarge = errors.New("scan: the stream is larger than the scanner's limit")

	// ErrUnavailable is matched by the error of a scan that got no answer
	// from the scanner: unreachable, too slow, or answering what cannot be
	// understood. The caller should fail closed and may retry.
	ErrUnavailable = errors.New("scan: the scanner is unavailable")
)

// EICAR is the standard antivirus test file: 68 bytes that every scanner
// reports as infected, and that harm nothing.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// Func adapts a function to Scanner (for users' own scanners), with no size
// limit.
type Func func(ctx context.Context, r io.Reader) (Verdict, error)

// Scan calls f.
func (f Func) Scan(ctx context.Context, r io.Reader) (Verdict, error) { return f(ctx, r) }

// MaxSize is 0: a Func has no limit of its own.
func (f Func) MaxSize() int64 { return 0 }
