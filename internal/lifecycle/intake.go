package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash"
	"io"

	"github.com/carcosa-dev/carcosa/filetype"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// Pending is a file of a multipart request that passed verification and
// waits for the request to end before it settles.
type Pending struct {
	rec *store.Upload
	key string
	c   *candidate
}

// SettleAll settles the files of one request, all or none. Each file in
// turn is scanned, given its derivatives and handed to OnComplete while its
// record stays processing; once every one has passed, they are all marked
// ready. When one is refused, or a backend fails, the others are withdrawn:
// their bytes are removed and they end rejected with apierr.ErrBatchRejected,
// which OnError sees, even those whose OnComplete already ran. The error
// returned is the refused file's.
func (eng *Engine) SettleAll(ctx context.Context, h Route, pending []Pending) ([]*store.Upload, error) {
	type completed struct {
		rec    *store.Upload
		result json.RawMessage
	}
	done := make([]completed, 0, len(pending))
	for i, p := range pending {
		p.c.batch = len(pending) > 1
		rec, result, err := eng.completeStored(ctx, h, p.rec, p.c, p.key)
		if err != nil {
			// A file whose scan failed is the retry job's from then on
			// (scanFailed): the job may already be processing it, which
			// this request must not mistake for its own and end.
			if !errors.Is(err, apierr.ErrScanUnavailable) {
				eng.endProcessing(ctx, h, p.rec.ID, err)
			}
			for _, d := range done {
				eng.refuseStored(ctx, h, d.rec, apierr.ErrBatchRejected)
			}
			for _, q := range pending[i+1:] {
				eng.refuseStored(ctx, h, q.rec, apierr.ErrBatchRejected)
			}
			return nil, err
		}
		done = append(done, completed{rec, result})
	}
	out := make([]*store.Upload, 0, len(done))
	for i, d := range done {
		rec, err := eng.markReady(ctx, d.rec, d.result)
		if err != nil {
			// The store failed. A ready record cannot be rejected, so the
			// files already ready are deleted, records and all.
			for _, u := range out {
				eng.withdrawReady(ctx, h, u.ID)
			}
			eng.endProcessing(ctx, h, d.rec.ID, err)
			for _, q := range done[i+1:] {
				eng.refuseStored(ctx, h, q.rec, apierr.ErrBatchRejected)
			}
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// endProcessing ends upload id, of a multipart request, for cause when
// settling it stopped with the upload still processing (a backend failed):
// no retry would finish it, since its request ends. One that could not be
// read is left to the recovery sweep, which ends it interrupted.
func (eng *Engine) endProcessing(ctx context.Context, h Route, id string, cause error) {
	rec, err := eng.store.Get(ctx, id)
	if err == nil && rec.State == store.Processing {
		eng.refuseStored(ctx, h, rec, cause)
	}
}

// withdrawReady deletes upload id, ready, of a request whose other files
// could not all be settled: its bytes and its record are removed, its quota
// given back, and OnError sees it with apierr.ErrBatchRejected.
func (eng *Engine) withdrawReady(ctx context.Context, h Route, id string) {
	rec, err := eng.store.Get(ctx, id)
	if err == nil {
		err = eng.DeleteStored(ctx, rec)
	}
	if err == nil {
		err = eng.DropRecord(ctx, id)
	}
	if err != nil {
		eng.log.ErrorContext(ctx, "withdrawing a ready file of a failed request", "upload", id, "err", err)
		return
	}
	gone := *rec
	gone.State = store.Rejected // no longer served
	h.Fail(ctx, &gone, apierr.ErrBatchRejected)
}

// Receive streams one file into storage: the first bytes are checked before
// the rest is read, the size is limited and the SHA-256 computed on the way.
// The file's record ends processing, or rejected with its bytes removed.
//
// The file reserves quota for the most it may take: the route's largest
// file, or the request's length when that is less (bodyLen, -1 if unknown).
func (eng *Engine) Receive(ctx context.Context, h Route, body io.Reader, clientName, claimed string, g Grant, input []byte, bodyLen int64) (Pending, error) {
	cfg := h.Policy()
	lr := &limitedReader{r: body, left: cfg.MaxFileSize}
	head := make([]byte, filetype.SniffLen)
	n, err := io.ReadFull(lr, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Pending{}, readError(lr, err)
	}
	head = head[:n]
	// The record names its storage key before any byte is stored, so that
	// the bytes of a request that dies with its process can be found and
	// removed.
	id := NewID()
	key := StorageKey(cfg.Name, id, filetype.Detect(head))
	bucket := eng.buckets.Place(Placement{Route: cfg.Name, Tier: g.Tier, Size: -1})
	dst, err := eng.buckets.Get(bucket)
	if err != nil {
		return Pending{}, err
	}
	rec := &store.Upload{
		ID: id, Route: cfg.Name, Owner: g.Owner, Tenant: g.Tenant, Via: "multipart",
		Name: safename.Clean(clientName), ClaimedType: truncate(claimed, 255), Size: -1,
		Key: key, Bucket: bucket, State: store.Uploading, Input: input, Metadata: g.Meta,
	}
	most := cfg.MaxFileSize
	if bodyLen > 0 {
		most = min(most, bodyLen)
	}
	if err := eng.Reserve(ctx, id, most, g, cfg.Name); err != nil {
		return Pending{}, err
	}
	if err := eng.CreateReserved(ctx, rec); err != nil {
		return Pending{}, err
	}
	refuse := func(err error) (Pending, error) {
		return Pending{}, eng.Fail(ctx, h, rec.ID, err)
	}
	c := &candidate{route: cfg, name: rec.Name, head: head}
	if err := eng.runEarly(ctx, c); err != nil {
		return refuse(err)
	}
	// One read: the bytes go to storage, the hash and the scanner at once.
	d := eng.newDigest(ctx, head, eng.scans(cfg))
	src := io.MultiReader(bytes.NewReader(head), io.TeeReader(lr, d))
	err = dst.Put(ctx, key, src, &storage.PutOptions{ContentType: c.typ.MIME})
	c.size, c.sha256, c.scan = d.finish(err)
	if err != nil {
		if lr.exceeded || lr.err != nil {
			return refuse(readError(lr, err))
		}
		eng.buckets.Failed(bucket)
		return refuse(apierr.Unavailable(err))
	}
	if err := eng.runFinal(ctx, c); err != nil {
		eng.DeleteStored(ctx, rec)
		return refuse(err)
	}
	rec, err = eng.Update(ctx, rec.ID, func(u *store.Upload) error {
		u.State = store.Processing
		u.Type, u.Size, u.SHA256 = c.typ.MIME, c.size, c.sha256
		return nil
	})
	if err != nil {
		eng.DeleteStored(ctx, &store.Upload{ID: id, Key: key, Bucket: bucket})
		return refuse(apierr.Unavailable(err))
	}
	return Pending{rec: rec, key: key, c: c}, nil
}

// limitedReader fails once more than left bytes are read, so a file over its
// route's limit is refused while it streams.
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	err      error // the underlying reader's error other than EOF
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, apierr.ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.exceeded = true
		return n, apierr.ErrTooLarge
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// readError explains why reading a file's bytes stopped.
func readError(l *limitedReader, err error) error {
	if l.exceeded {
		return apierr.ErrTooLarge
	}
	if l.err != nil {
		return apierr.Body(l.err)
	}
	return apierr.Body(err)
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (w *hashCounter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Withdraw ends p, a file Receive took, for cause, when its request fails
// before its files settle: its bytes are removed and it fails (see Fail).
func (eng *Engine) Withdraw(ctx context.Context, h Route, p Pending, cause error) {
	eng.DeleteStored(ctx, p.rec)
	eng.Fail(ctx, h, p.rec.ID, cause)
}
