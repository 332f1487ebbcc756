package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/safename"
)

// candidate is a file under verification. Intake (tus or multipart) fills
// what it knows; the stages judge it.
type candidate struct {
	route  *Policy
	name   string // safe display name
	head   []byte // the first bytes, at most filetype.SniffLen
	typ    filetype.Type
	size   int64  // set before the final checks
	sha256 string // set before the final checks

	// scan is the outcome of the scan made while the bytes streamed, if
	// they were scanned then.
	scan *scanOutcome

	// batch is set for a file settled together with others, all or none
	// (see settleAll).
	batch bool
}

// stage is one step of verification. Stages run in order: every early check
// as soon as the first bytes are known (so a multipart upload of the wrong
// type stops before the rest arrives), every final check once all bytes are
// in and hashed. Scanning and transforms join as further stages.
type stage struct {
	name  string
	early func(ctx context.Context, c *candidate) error
	final func(ctx context.Context, c *candidate) error
}

func defaultStages() []stage {
	return []stage{
		{name: "type", early: checkType},
		{name: "extension", early: checkExtension},
		{name: "polyglot", early: checkPolyglot},
		{name: "size", final: checkSize},
	}
}

func checkType(_ context.Context, c *candidate) error {
	c.typ = filetype.Detect(c.head)
	return AcceptType(c.route, c.typ)
}

// AcceptType checks that route cfg takes files of type t: executables only
// where it accepts any type.
func AcceptType(cfg *Policy, t filetype.Type) error {
	if !cfg.AcceptsAny && filetype.IsExecutable(t) {
		return apierr.ErrExecutable
	}
	if !filetype.Accepts(cfg.Accept, t) {
		return apierr.ErrTypeNotAllowed.With(fmt.Sprintf("files of type %s are not allowed here", t.MIME))
	}
	return nil
}

// digest takes a file's bytes in one pass: it counts and hashes them, and
// streams them to the scanner when there is one.
type digest struct {
	sum hashCounter
	w   io.Writer
	sc  *streamScan
}

// newDigest starts the digest of a file whose first bytes are head,
// scanning it when scan is set.
func (eng *Engine) newDigest(ctx context.Context, head []byte, scan bool) *digest {
	d := &digest{sum: hashCounter{h: sha256.New()}}
	d.w = &d.sum
	if scan {
		d.sc = eng.startScan(ctx)
		d.w = io.MultiWriter(&d.sum, d.sc)
	}
	d.Write(head)
	return d
}

func (d *digest) Write(p []byte) (int, error) { return d.w.Write(p) }

// Finish ends the digest; err is the error that ended the bytes, if any.
// It returns the size, the SHA-256 in hex and the scan's outcome (nil
// without a scan).
func (d *digest) finish(err error) (size int64, sha string, scanned *scanOutcome) {
	if d.sc != nil {
		scanned = d.sc.finish(err)
	}
	return d.sum.n, hex.EncodeToString(d.sum.h.Sum(nil)), scanned
}

func checkExtension(_ context.Context, c *candidate) error {
	if !filetype.ExtensionAgrees(safename.Ext(c.name), c.typ) {
		return apierr.ErrTypeMismatch.With(fmt.Sprintf("the file's extension does not match its content (%s)", c.typ.MIME))
	}
	return nil
}

func checkPolyglot(_ context.Context, c *candidate) error {
	if !c.route.AcceptsAny && filetype.Polyglot(c.head, c.typ) {
		return apierr.ErrPolyglot
	}
	return nil
}

func checkSize(_ context.Context, c *candidate) error {
	if c.size > c.route.MaxFileSize {
		return apierr.ErrTooLarge
	}
	return nil
}

// runEarly runs every early check, in order.
func (eng *Engine) runEarly(ctx context.Context, c *candidate) error {
	return eng.runStages(ctx, c, false)
}

// runFinal runs every final check, in order.
func (eng *Engine) runFinal(ctx context.Context, c *candidate) error {
	return eng.runStages(ctx, c, true)
}

func (eng *Engine) runStages(ctx context.Context, c *candidate, final bool) error {
	for _, s := range eng.stages {
		check := s.early
		if final {
			check = s.final
		}
		if check == nil {
			continue
		}
		if err := check(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// StorageKey is where a file is kept: generated from the route, the upload ID
// and the detected type, never from the client's name.
func StorageKey(route, id string, t filetype.Type) string {
	return route + "/" + id + t.Extension
}
