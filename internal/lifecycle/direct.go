package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/drivers"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// Direct uploads are those whose client sends the bytes straight to an S3
// bucket through S3's own API, as Uppy's @uppy/aws-s3 does with the
// Companion adapter (compat/companion). The record is made first, with its
// storage key and no size (-1, as the client declares none), and its
// quota reserved at the route's MaxFileSize; the object appears at the
// key when the client completes its multipart upload (ViaS3Multipart),
// or when its form POST ends (ViaS3Post). It is then verified as a
// presigned upload is, at the size the object has.
//
// A form POST tells the server nothing when it ends, so a job watches for
// the object (WatchDirect), at growing intervals up to watchMaxWait, and
// the sweep finishes such uploads once their object is there if the job
// was lost; it also finishes a multipart
// upload whose completing request was lost, and ends both kinds once they
// have expired: a form upload when its policy has (PresignTTL), a
// multipart upload UploadTTL after its creation, its S3 multipart uploads
// aborted.
const (
	ViaS3Multipart = "s3multipart"
	ViaS3Post      = "s3post"
)

// Direct reports whether uploads that came in via send their bytes
// straight to the bucket, through S3's API.
func Direct(via string) bool { return via == ViaS3Multipart || via == ViaS3Post }

// S3Bucket is the S3 API of one of the buckets, for clients that send
// their bytes straight to it.
type S3Bucket struct {
	API    drivers.S3
	Name   string // the S3 bucket's name
	Prefix string // put before every key by the bucket's URL
}

// Key is the key, in the S3 API, of the object the bucket keeps at key.
func (b S3Bucket) Key(key string) string { return b.Prefix + key }

// S3 returns the S3 API of bucket name, when it is an S3 bucket opened by
// storage.Open from an s3:// URL (whose name is known): another storage,
// or a bucket wrapped by anything but the engine's own wrappers, has none.
func (eng *Engine) S3(name string) (S3Bucket, bool) {
	s, err := eng.buckets.Get(name)
	if err != nil {
		return S3Bucket{}, false
	}
	for {
		u, ok := s.(interface{ Unwrap() storage.Storage })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	sb, ok := s.(*storage.Bucket)
	if !ok || sb.S3Name() == "" {
		return S3Bucket{}, false
	}
	api, ok := drivers.S3Of(sb.Blob())
	if !ok {
		return S3Bucket{}, false
	}
	return S3Bucket{API: api, Name: sb.S3Name(), Prefix: sb.S3Prefix()}, true
}

// AbortMultipart aborts the S3 multipart uploads open at the key of
// direct upload rec, so that no parts are left billed in the bucket.
func (eng *Engine) AbortMultipart(ctx context.Context, rec *store.Upload) error {
	if rec.Via != ViaS3Multipart || rec.Key == "" {
		return nil
	}
	b, ok := eng.S3(rec.Bucket)
	if !ok {
		return nil
	}
	key := b.Key(rec.Key)
	ids, err := b.API.MultipartUploads(ctx, b.Name, key)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, b.API.AbortMultipart(ctx, b.Name, key, id))
	}
	return errors.Join(errs...)
}

// FinishDirect verifies direct upload id, whose object is in place, and
// settles it: the object's size is recorded (one larger than the route
// allows is refused and removed), then it is verified as a presigned
// upload is; a file the route processes in the background is left
// processing, its job queued. ErrNotUploaded when there is no object yet.
func (eng *Engine) FinishDirect(ctx context.Context, id string) (*store.Upload, error) {
	return eng.inTurn(ctx, id, eng.finishDirect)
}

func (eng *Engine) finishDirect(ctx context.Context, id string) (*store.Upload, error) {
	rec, h, done, err := eng.unsettled(ctx, id)
	if err != nil || done {
		return rec, err
	}
	if rec.State == store.Uploading {
		src, err := eng.Bucket(rec)
		if err != nil {
			return nil, err
		}
		obj, err := src.Open(ctx, rec.Key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, apierr.ErrNotUploaded
		}
		if err != nil {
			return nil, apierr.Unavailable(err)
		}
		size := obj.Size()
		obj.Close()
		cfg := h.Policy()
		switch {
		case size > cfg.MaxFileSize:
			return nil, eng.refuseStored(ctx, h, rec, apierr.ErrTooLarge.With("the file is larger than this route's limit of "+apierr.FormatSize(cfg.MaxFileSize)))
		case size == 0:
			return nil, eng.refuseStored(ctx, h, rec, apierr.ErrBadRequest.With("the file is empty"))
		}
		if rec.Size != size {
			if rec, err = eng.Update(ctx, id, func(u *store.Upload) error {
				u.Size = size
				return nil
			}); err != nil {
				return nil, apierr.Unavailable(err)
			}
		}
		if eng.Async(cfg, size) {
			return eng.ProcessLater(ctx, id)
		}
	} else if eng.Background(rec) {
		// Its job verifies it; this is a client asking again.
		return rec, nil
	}
	return eng.finishPresigned(ctx, id)
}

// sweepDirect finishes direct upload rec when its object is there and no
// request will finish it (a form upload's, or a multipart upload's whose
// completing request is long over), and ends it once it has expired.
func (eng *Engine) sweepDirect(ctx context.Context, rec *store.Upload, before time.Time) {
	if eng.busy(rec.ID) {
		return
	}
	pctx, cancel := eng.ProcessContext(ctx)
	defer cancel()
	if rec.State == store.Processing {
		eng.inTurn(pctx, rec.ID, eng.finishPresigned)
		return
	}
	requestOver := rec.UpdatedAt.Before(before.Add(-eng.cfg.ProcessTimeout - time.Minute))
	if rec.Via == ViaS3Post || requestOver {
		_, err := eng.FinishDirect(pctx, rec.ID)
		if !errors.Is(err, apierr.ErrNotUploaded) {
			return // settled, refused, or left for the next sweep
		}
	}
	expired := before.After(eng.Expires(rec.CreatedAt, true))
	if rec.Via == ViaS3Post {
		expired = rec.UpdatedAt.Before(before.Add(-eng.cfg.PresignTTL - time.Minute))
	}
	if !expired {
		return
	}
	if err := eng.AbortMultipart(ctx, rec); err != nil {
		eng.log.WarnContext(ctx, "aborting an expired upload's multipart upload", "upload", rec.ID, "err", err)
		return
	}
	if err := eng.DeleteStored(ctx, rec); err != nil {
		eng.log.WarnContext(ctx, "removing an expired upload", "upload", rec.ID, "err", err)
		return
	}
	h, _ := eng.route(rec.Route)
	eng.log.InfoContext(ctx, "direct upload expired", "upload", rec.ID, "route", rec.Route)
	eng.Fail(ctx, h, rec.ID, apierr.ErrUploadExpired)
}

// jobWatch looks for the object of a form upload, and finishes the upload
// once it is there.
const jobWatch = "carcosa.watch"

// The intervals at which jobWatch looks: from watchFirstWait, doubling up
// to watchMaxWait, until the upload's policy has expired.
const (
	watchFirstWait = time.Second
	watchMaxWait   = 30 * time.Second
)

type watchPayload struct {
	ID   string        `json:"id"`
	Wait time.Duration `json:"wait"` // before this look; the next waits twice as long
}

// WatchDirect starts looking for the object of direct upload id, which a
// form POST brings, so that the upload is finished soon after.
func (eng *Engine) WatchDirect(ctx context.Context, id string) {
	eng.watchAgain(ctx, id, watchFirstWait)
}

func (eng *Engine) watchAgain(ctx context.Context, id string, wait time.Duration) {
	payload, _ := json.Marshal(watchPayload{ID: id, Wait: wait})
	err := eng.queue.Enqueue(ctx, queue.Job{Kind: jobWatch, Payload: payload, RunAt: time.Now().Add(wait)})
	if err != nil && !errors.Is(err, queue.ErrStopped) {
		// The sweep finishes the upload instead.
		eng.log.WarnContext(ctx, "scheduling a look for a form upload's file", "upload", id, "err", err)
	}
}

func (eng *Engine) watchJob(ctx context.Context, job queue.Job, attempt int) error {
	var p watchPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || !ValidID(p.ID) {
		return queue.Cancel(fmt.Errorf("carcosa: a watch job without a valid upload ID: %q", job.Payload))
	}
	ctx, cancel := context.WithTimeout(ctx, eng.cfg.ProcessTimeout)
	defer cancel()
	rec, err := eng.store.Get(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // withdrawn
	}
	if err != nil {
		return err
	}
	if rec.Via != ViaS3Post || rec.State != store.Uploading || time.Since(rec.CreatedAt) > eng.cfg.PresignTTL+time.Minute {
		return nil // finished, or the sweep's to expire
	}
	_, err = eng.FinishDirect(ctx, p.ID)
	switch {
	case errors.Is(err, apierr.ErrNotUploaded):
		eng.watchAgain(ctx, p.ID, min(2*p.Wait, watchMaxWait))
		return nil
	case err != nil && apierr.Client(err).Status >= 500:
		return err // retried by the queue, else the sweep's
	}
	return nil
}
