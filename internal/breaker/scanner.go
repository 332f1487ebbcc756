package breaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/carcosa-dev/carcosa/scan"
)

// Scanner is a scan.Scanner behind a breaker. While the breaker is open,
// Scan fails at once with an error matching both scan.ErrUnavailable and
// ErrOpen, which the caller treats as any scanner failure: it fails
// closed. An infected verdict and a stream over the scanner's limit are
// answers, not failures.
type Scanner struct {
	inner scan.Scanner
	b     *Breaker
}

var _ scan.Scanner = (*Scanner)(nil)

// NewScanner wraps s in breaker b (nil for none).
func NewScanner(s scan.Scanner, b *Breaker) *Scanner {
	return &Scanner{inner: s, b: b}
}

// Breaker returns the breaker, nil when there is none.
func (s *Scanner) Breaker() *Breaker { return s.b }

// Scan implements scan.Scanner.
func (s *Scanner) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	var v scan.Verdict
	err := s.do(ctx, r, func(r io.Reader) error {
		var err error
		v, err = s.inner.Scan(ctx, r)
		return err
	})
	return v, err
}

// MaxSize implements scan.Scanner.
func (s *Scanner) MaxSize() int64 { return s.inner.MaxSize() }

// Ping checks that the scanner answers, through the breaker: with the
// wrapped scanner's Ping when it has one, else by scanning an empty stream.
func (s *Scanner) Ping(ctx context.Context) error {
	return s.do(ctx, strings.NewReader(""), func(r io.Reader) error {
		if p, ok := s.inner.(interface{ Ping(context.Context) error }); ok {
			return p.Ping(ctx)
		}
		_, err := s.inner.Scan(ctx, r)
		return err
	})
}

func (s *Scanner) do(ctx context.Context, r io.Reader, fn func(io.Reader) error) error {
	done, err := s.b.Allow()
	if err != nil {
		return fmt.Errorf("%w: %w", scan.ErrUnavailable, err)
	}
	sr := &streamReader{r: r}
	err = fn(sr)
	switch {
	case err == nil, errors.Is(err, scan.ErrTooLarge):
		done(Success)
	case ctx.Err() != nil || sr.error() != nil:
		// The caller gave up, or its stream failed.
		done(Excluded)
	default:
		done(Failure)
	}
	return err
}
