package scan

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrLimitNotCovered is matched by CheckLimit's error when clamd does not
// examine streams as long as MaxSize.
var ErrLimitNotCovered = errors.New("scan: clamd does not examine streams as long as MaxSize")

// CheckLimit makes sure that clamd examines a stream as long as MaxSize,
// which clamd cannot be asked: it scans a zip archive of MaxSize bytes whose
// last entry is the EICAR test file, and fails with ErrLimitNotCovered
// unless clamd finds it. A clamd whose MaxFileSize, MaxScanSize or
// StreamMaxLength is below MaxSize fails the check, where it would
// otherwise pass larger files as clean, unscanned.
//
// The EICAR file is an archive entry of its own, so that clamd's official
// signature, which matches the whole file, finds it. The check streams
// MaxSize bytes (mostly zeros) to clamd; run it at start-up.
func (c *Clamd) CheckLimit(ctx context.Context) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeLimitProbe(pw, c.opts.MaxSize))
	}()
	v, err := c.Scan(ctx, pr)
	pr.CloseWithError(errors.New("scan: the check has ended"))
	<-done
	switch {
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%w (%d bytes): %w", ErrLimitNotCovered, c.opts.MaxSize, err)
	case err != nil:
		return err
	case !v.Infected:
		return fmt.Errorf("%w: a %d-byte archive ending in the EICAR test file was answered clean; raise clamd's MaxFileSize, MaxScanSize and StreamMaxLength, or lower MaxSize", ErrLimitNotCovered, c.opts.MaxSize)
	}
	return nil
}

// limitProbeSlack is what the archive's headers and its EICAR entry take
// beyond the filler, with room to spare: the probe stays within max.
const limitProbeSlack = 1024

// writeLimitProbe writes a zip archive of at most max bytes (and at least
// max-limitProbeSlack): a stored entry of zeros, then the EICAR test file.
func writeLimitProbe(w io.Writer, max int64) error {
	zw := zip.NewWriter(w)
	filler, err := zw.CreateHeader(&zip.FileHeader{Name: "filler.bin", Method: zip.Store})
	if err != nil {
		return err
	}
	var zeros [64 << 10]byte
	for left := max - limitProbeSlack; left > 0; {
		n := min(left, int64(len(zeros)))
		if _, err := filler.Write(zeros[:n]); err != nil {
			return err
		}
		left -= n
	}
	eicar, err := zw.CreateHeader(&zip.FileHeader{Name: "eicar.com", Method: zip.Store})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(eicar, EICAR); err != nil {
		return err
	}
	return zw.Close()
}
