package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/tracing"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// Malware scanning is a stage of settling: it runs once a file's bytes are
// stored at their key, which no one is served from before the record is
// ready, and before OnComplete. A multipart or presigned file is scanned
// in the same read that hashes it; a resumable upload, hashed as its bytes
// arrived, is read once more, by the scanner alone.
//
//   - clean: the file goes on to OnComplete and ready;
//   - infected: its bytes move to the quarantine area and the record ends
//     quarantined with the signature's name (422 malware_detected);
//   - larger than the scanner examines: refused (413 too_large_to_scan),
//     or accepted as unscanned when the route says so;
//   - the scanner fails or times out: the record is failed and not served,
//     its bytes are kept, and a job retries the scan until it succeeds or
//     the queue gives up, which removes the bytes (fail closed). A route
//     may instead accept the file as unscanned (fail open).
//
// Large files are scanned in the background (Route.AsyncAbove).

const (
	// quarantinePrefix starts the keys of quarantined files. Keys of
	// served files start with a route name, which cannot start with a dot.
	quarantinePrefix = ".quarantine/"

	// jobProcess processes an upload in the background: a large file's
	// scan, or the retry of a scan that failed.
	jobProcess = "carcosa.process"

	DefaultAsyncAbove = 32 << 20

	// bigJob is the size above which a file's processing waits behind
	// smaller files'.
	bigJob = 256 << 20
)

// scans reports whether the files of route cfg are scanned.
func (eng *Engine) scans(cfg *Policy) bool { return eng.scanner != nil && !cfg.SkipScan }

// Async reports whether a file of size bytes of route cfg is processed in
// the background: scanned, or given derivatives, after the request.
func (eng *Engine) Async(cfg *Policy, size int64) bool {
	return (eng.scans(cfg) || len(cfg.Derivatives) > 0) && cfg.AsyncAbove >= 0 && size > cfg.AsyncAbove
}

// scanOutcome is what a scan found, or why it did not finish.
type scanOutcome struct {
	verdict scan.Verdict
	err     error
}

// errStreamEnded ends the pipe of a stream scan whose scanner stopped
// reading.
var errStreamEnded = errors.New("carcosa: the scanner stopped reading")

// streamScan scans the bytes written to it on a goroutine of its own, as
// they pass on their way into storage. Writes never fail: once the scanner
// has stopped reading (it failed, or the stream went over its limit), what
// is written is dropped, and the outcome says why.
type streamScan struct {
	pw   *io.PipeWriter
	dead bool
	done chan struct{}
	out  scanOutcome
}

func (eng *Engine) startScan(ctx context.Context) *streamScan {
	pr, pw := io.Pipe()
	s := &streamScan{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.out.verdict, s.out.err = eng.scanner.Scan(ctx, pr)
		pr.CloseWithError(errStreamEnded)
	}()
	return s
}

func (s *streamScan) Write(p []byte) (int, error) {
	if !s.dead {
		if _, err := s.pw.Write(p); err != nil {
			s.dead = true
		}
	}
	return len(p), nil
}

// Finish ends the stream, with err when the bytes did not all arrive, and
// waits for the outcome.
func (s *streamScan) finish(err error) *scanOutcome {
	if err != nil {
		s.pw.CloseWithError(err)
	} else {
		s.pw.Close()
	}
	<-s.done
	return &s.out
}

// scanStep judges upload rec, whose bytes are stored at its key, by the
// route's scan policy: from the scan made while the bytes streamed (c.scan)
// or by scanning them now. It returns the record with the scan's outcome,
// or the error that ended the upload (quarantined, refused, or failed to
// be retried). A record that already holds an outcome is not scanned
// again, so a finish that resumes after a crash does not repeat the scan.
func (eng *Engine) scanStep(ctx context.Context, h Route, rec *store.Upload, c *candidate) (_ *store.Upload, err error) {
	cfg := h.Policy()
	if !eng.scans(cfg) || rec.Scan != store.ScanNone {
		return rec, nil
	}
	ctx, end := eng.beginStage(ctx, StageScan, rec)
	defer end(&err)
	out := c.scan
	if out == nil {
		var err error
		if out, err = eng.scanStored(ctx, rec); err != nil {
			return nil, err
		}
	}
	var res store.ScanResult
	switch {
	case out.err == nil && out.verdict.Infected:
		return nil, eng.quarantine(ctx, h, rec, out.verdict.Signature)
	case out.err == nil:
		res = store.ScanClean
	case errors.Is(out.err, scan.ErrTooLarge) && cfg.AcceptUnscannable:
		eng.log.InfoContext(ctx, "file larger than the scanner examines; accepted unscanned", "upload", rec.ID, "route", rec.Route, "size", rec.Size)
		res = store.ScanUnscanned
	case errors.Is(out.err, scan.ErrTooLarge):
		return nil, eng.refuseStored(ctx, h, rec, apierr.ErrTooLargeToScan)
	case cfg.ScanFailOpen:
		eng.log.WarnContext(ctx, "scanning failed; the route accepts the file unscanned", "upload", rec.ID, "route", rec.Route, "err", out.err)
		res = store.ScanUnscanned
	case c.batch:
		// The other files of its request are withdrawn with it, so it
		// cannot wait for a retry: it is removed, and sent again.
		return nil, eng.refuseStored(ctx, h, rec, apierr.ErrScanFailed.Wrap(out.err))
	default:
		return nil, eng.scanFailed(ctx, h, rec, out.err)
	}
	rec, err = eng.Update(ctx, rec.ID, func(u *store.Upload) error {
		u.Scan = res
		return nil
	})
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	return rec, nil
}

// scanStored scans the stored bytes of upload rec. Its error is storage's;
// the scanner's is in the outcome.
func (eng *Engine) scanStored(ctx context.Context, rec *store.Upload) (*scanOutcome, error) {
	if limit := eng.scanner.MaxSize(); limit > 0 && rec.Size > limit {
		return &scanOutcome{err: fmt.Errorf("%s: %w", apierr.FormatSize(rec.Size), scan.ErrTooLarge)}, nil
	}
	src, err := eng.Bucket(rec)
	if err != nil {
		return nil, err
	}
	obj, err := src.Open(ctx, rec.Key)
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	defer obj.Close()
	rd := &errReader{r: obj}
	v, err := eng.scanner.Scan(ctx, rd)
	if rd.err != nil {
		return nil, apierr.Unavailable(rd.err)
	}
	return &scanOutcome{verdict: v, err: err}, nil
}

// errReader remembers its reader's error, to tell storage's failures from
// the scanner's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// bookkeepingTimeout bounds the record's update after a scan that may have
// used up the processing time.
const bookkeepingTimeout = 30 * time.Second

// scanFailed fails upload rec, keeping its bytes, and schedules a retry
// of its processing.
func (eng *Engine) scanFailed(ctx context.Context, h Route, rec *store.Upload, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	eng.log.ErrorContext(ctx, "scanning failed; the upload waits for a retry", "upload", rec.ID, "route", rec.Route, "err", cause)
	_, err := eng.Update(ctx, rec.ID, func(u *store.Upload) error {
		u.State = store.Failed
		u.ErrorCode, u.ErrorMessage = apierr.ErrScanUnavailable.Code, apierr.ErrScanUnavailable.Message
		return nil
	})
	if err != nil {
		return apierr.Unavailable(err)
	}
	eng.enqueueProcess(ctx, rec.ID, rec.Size)
	return apierr.ErrScanUnavailable
}

// quarantine moves the bytes of infected upload rec into the quarantine
// area and ends the upload quarantined. The copy is made before the record
// changes and the original removed after, so a crash between leaves either
// a processing upload to scan again or an unserved original to clean up,
// never a quarantined record without its bytes.
func (eng *Engine) quarantine(ctx context.Context, h Route, rec *store.Upload, signature string) error {
	id := rec.ID
	src, err := eng.Bucket(rec)
	if err != nil {
		return err
	}
	dst, key, err := eng.quarantineOf(rec)
	if err != nil {
		return err
	}
	obj, err := src.Open(ctx, rec.Key)
	if err != nil {
		return apierr.Unavailable(err)
	}
	err = dst.Put(ctx, key, obj, &storage.PutOptions{ContentType: "application/octet-stream", Size: rec.Size})
	obj.Close()
	if err != nil {
		return apierr.Unavailable(err)
	}
	e := apierr.ErrMalware.With(fmt.Sprintf("the file contains malware (%s)", signature))
	rec, err = eng.Update(ctx, id, func(u *store.Upload) error {
		u.State = store.Quarantined
		u.Scan, u.Signature = store.ScanInfected, signature
		u.ErrorCode, u.ErrorMessage = e.Code, e.Message
		return nil
	})
	if err != nil {
		return apierr.Unavailable(err)
	}
	if err := src.Delete(ctx, rec.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		eng.log.ErrorContext(ctx, "removing a quarantined file's original", "upload", id, "err", err)
	}
	eng.log.WarnContext(ctx, "malware found; the file is quarantined", "upload", id, "route", rec.Route, "signature", signature)
	h.Fail(ctx, rec, e)
	return e
}

// quarantineOf is where the bytes of upload rec go, or are, in quarantine:
// Config.Quarantine's bucket, else the upload's own, under
// quarantinePrefix.
func (eng *Engine) quarantineOf(rec *store.Upload) (storage.Storage, string, error) {
	name := rec.Bucket
	if eng.cfg.Quarantine != "" {
		name = eng.cfg.Quarantine
	}
	b, err := eng.buckets.Get(name)
	if err != nil {
		return nil, "", err
	}
	return b, quarantinePrefix + rec.Key, nil
}

// processPayload is a jobProcess job's payload.
type processPayload struct {
	ID string `json:"id"`
	// Trace is the traceparent of the work that scheduled the job, which
	// the job's span continues; "" when untraced.
	Trace string `json:"traceparent,omitempty"`
}

// enqueueProcess schedules the background processing of upload id. A
// failure is logged: the recovery sweep schedules it again.
func (eng *Engine) enqueueProcess(ctx context.Context, id string, size int64) {
	payload, _ := json.Marshal(processPayload{ID: id, Trace: tracing.Parent(ctx)})
	prio := queue.DefaultPriority
	if size > bigJob {
		prio++
	}
	err := eng.queue.Enqueue(ctx, queue.Job{Kind: jobProcess, Payload: payload, Priority: prio, UniqueKey: id})
	if err != nil {
		eng.log.ErrorContext(ctx, "scheduling an upload's processing", "upload", id, "err", err)
	}
}

// processJob processes an upload in the background: it finishes a large
// file, or retries one whose scan failed. On its last attempt, a file that
// still cannot be scanned is removed and its upload ends failed.
func (eng *Engine) processJob(ctx context.Context, job queue.Job, attempt int) (err error) {
	var p processPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || !ValidID(p.ID) {
		return queue.Cancel(fmt.Errorf("carcosa: a process job without a valid upload ID: %q", job.Payload))
	}
	// Unlike a request's processing, a job's follows its context, which
	// the queue cancels when it stops.
	ctx, cancel := context.WithTimeout(ctx, eng.cfg.ProcessTimeout)
	defer cancel()
	rec, err := eng.store.Get(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	// The job continues the trace that scheduled it or, when none did
	// (the recovery sweep), the upload's.
	parent := p.Trace
	if parent == "" {
		parent = rec.Trace
	}
	ctx, span := eng.tracer.Start(tracing.WithParent(ctx, parent), "carcosa.process", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(tracing.UploadID.String(rec.ID), tracing.Route.String(rec.Route), tracing.Size.Int64(rec.Size),
			tracing.Attempt.Int(attempt)))
	defer func() { tracing.End(span, err) }()
	switch {
	case rec.State == store.Failed && rec.ErrorCode == apierr.ErrScanUnavailable.Code:
		rec, err = eng.Update(ctx, p.ID, func(u *store.Upload) error {
			if u.State != store.Failed || u.ErrorCode != apierr.ErrScanUnavailable.Code {
				return errSettled
			}
			u.State = store.Processing
			u.ErrorCode, u.ErrorMessage = "", ""
			return nil
		})
		if errors.Is(err, errSettled) || errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
	case rec.State != store.Processing:
		return nil // settled by another run
	}
	_, err = eng.resume(ctx, rec)
	if err == nil || apierr.Client(err).Status < 500 {
		return nil // ready, or ended for good
	}
	maxAttempts := job.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = queue.DefaultMaxAttempts
	}
	if attempt >= maxAttempts && errors.Is(err, apierr.ErrScanUnavailable) {
		eng.giveUp(ctx, p.ID)
	}
	return err
}

// errSettled stops an update of a record that another run settled.
var errSettled = errors.New("carcosa: the upload was settled meanwhile")

// giveUp ends failed an upload whose scan could not be made: its bytes,
// stored and staged, are removed.
func (eng *Engine) giveUp(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	rec, err := eng.store.Get(ctx, id)
	if err != nil || rec.State != store.Failed || rec.ErrorCode != apierr.ErrScanUnavailable.Code {
		return
	}
	if err := eng.DeleteStored(ctx, rec); err != nil {
		eng.log.ErrorContext(ctx, "removing a file that could not be scanned", "upload", id, "err", err)
		return
	}
	if Staged(rec.Via) {
		eng.RemoveStaged(ctx, id)
	}
	h, _ := eng.route(rec.Route)
	eng.Fail(ctx, h, id, apierr.ErrScanFailed)
}

// resume finishes upload rec, however it came in.
func (eng *Engine) resume(ctx context.Context, rec *store.Upload) (*store.Upload, error) {
	switch rec.Via {
	case "tus", ViaUploadThing:
		return eng.FinishLocked(ctx, rec.ID, LockWait)
	case "presign", ViaS3Multipart, ViaS3Post:
		return eng.inTurn(ctx, rec.ID, eng.finishPresigned)
	default:
		return eng.inTurn(ctx, rec.ID, eng.finishStored)
	}
}

// finishStored settles an upload whose bytes are stored and whose facts are
// recorded.
func (eng *Engine) finishStored(ctx context.Context, id string) (*store.Upload, error) {
	rec, h, done, err := eng.unsettled(ctx, id)
	if err != nil || done {
		return rec, err
	}
	c, err := eng.storedCandidate(ctx, h, rec)
	if err != nil {
		if errors.Is(err, apierr.ErrUnavailable) {
			return nil, err
		}
		return nil, eng.Fail(ctx, h, id, err)
	}
	return eng.settle(ctx, h, rec, c, rec.Key)
}
