package carcosa_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// slowEnqueue is an in-process queue whose Enqueue of a process job
// returns only once that job has begun (the upload turned processing
// again), so that the request that scheduled it goes on after the job.
type slowEnqueue struct {
	*queue.Memory
	begun chan struct{}
}

func (q *slowEnqueue) Enqueue(ctx context.Context, job queue.Job) error {
	if err := q.Memory.Enqueue(ctx, job); err != nil || job.Kind != "carcosa.process" {
		return err
	}
	select {
	case <-q.begun:
	case <-time.After(10 * time.Second):
	}
	return nil
}

// TestScanRetryOwnsTheUpload: a multipart upload whose scan fails is
// handed to a retry job. When the job begins, and is still scanning,
// before the request has finished answering, the request must not take
// the job's processing for its own and end the upload: the retry finishes
// it ready, with its bytes.
func TestScanRetryOwnsTheUpload(t *testing.T) {
	t.Parallel()
	q := &slowEnqueue{Memory: queue.NewMemory(nil), begun: make(chan struct{})}
	var calls atomic.Int32
	var began atomic.Bool
	answered := make(chan struct{}) // the request has been answered
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Queue = q
		c.Scanner = scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
			io.Copy(io.Discard, r)
			if calls.Add(1) == 1 {
				return scan.Verdict{}, errors.New("clamd is restarting")
			}
			// The job's scan: the upload stays processing until the
			// request has been answered.
			select {
			case <-answered:
			case <-time.After(10 * time.Second):
			}
			return scan.Verdict{}, nil
		})
		c.Observer = carcosa.ObserverFunc(func(ctx context.Context, e carcosa.Event) {
			if e.From == store.Failed && e.To == store.Processing && began.CompareAndSwap(false, true) {
				close(q.begun)
			}
		})
	})
	data := randomBytes(5000)
	resp, body := tb.multipartUpload(t, "files", "f.bin", data)
	close(answered)
	wantError(t, resp, body, 503, "scan_unavailable")
	if !began.Load() {
		t.Fatal("the retry job did not begin while the request waited")
	}
	var rec *store.Upload
	waitFor(t, "the retried upload to settle", func() bool {
		list, err := tb.store.List(context.Background(), store.Query{Owner: "alice"})
		if err != nil || len(list) != 1 || !list[0].State.Settled() {
			return false
		}
		rec = list[0]
		return true
	})
	if rec.State != store.Ready {
		t.Fatalf("upload %s ended %s (%s), want ready: the request ended the job's upload", rec.ID, rec.State, rec.ErrorCode)
	}
	if got := tb.fetch(t, tb.record(t, rec.ID, "alice").URL); !bytes.Equal(got, data) {
		t.Fatal("the bytes served differ from those uploaded")
	}
}
