package scan_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/scan/scantest"
)

// TestFuncConformance runs the suite against a scanner written with Func,
// which needs no service: it keeps the suite honest about what any scanner,
// not only clamd, can pass.
func TestFuncConformance(t *testing.T) {
	scantest.Run(t, func(t *testing.T) scan.Scanner { return scan.Func(scanEICAR) })
}

// scanEICAR finds EICAR as the whole stream or as a file in zip archives.
// Unlike Clamd, it holds the stream in memory: a test's scanner.
func scanEICAR(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	data, err := io.ReadAll(&contextReader{ctx: ctx, r: r})
	if err != nil {
		return scan.Verdict{}, fmt.Errorf("reading the stream: %w", err)
	}
	if hasEICAR(data, 0) {
		return scan.Verdict{Infected: true, Signature: "EICAR"}, nil
	}
	return scan.Verdict{}, nil
}

func hasEICAR(data []byte, depth int) bool {
	if bytes.Equal(bytes.TrimRight(data, " \t\r\n"), []byte(scan.EICAR)) {
		return true
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || depth > 3 {
		return false
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			continue
		}
		inner, err := io.ReadAll(rc)
		rc.Close()
		if err == nil && hasEICAR(inner, depth+1) {
			return true
		}
	}
	return false
}

// contextReader fails once ctx is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *contextReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
