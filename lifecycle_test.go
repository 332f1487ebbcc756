package carcosa_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// A Router used only through its Go API runs its retries once started:
// the queue runs from Start, not from the first HTTP request.
func TestStartRunsRetriesWithoutHTTP(t *testing.T) {
	t.Parallel()
	text := []byte(strings.Repeat("a line of text\n", 100))
	mux := http.NewServeMux()
	mux.Handle("/a.txt", serveBytes(text, "text/plain", false))
	src := newFromURLSource(t, mux)
	var scans atomic.Int32
	tb := newBundle(t, memstore.New(), func(c *carcosa.Config) {
		c.Queue = fastQueue()
		c.Scanner = scan.Func(func(_ context.Context, r io.Reader) (scan.Verdict, error) {
			io.Copy(io.Discard, r)
			if scans.Add(1) == 1 {
				return scan.Verdict{}, errors.New("the scanner is not up yet")
			}
			return scan.Verdict{}, nil
		})
		c.Fetch = safefetch.Options{
			AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			AllowedPorts: []int{src.port},
		}
	})
	carcosa.Handle(tb.router, "docs", carcosa.Route[struct{}, userMeta]{Accept: []string{"text"}})
	ctx := t.Context()
	_, err := tb.router.UploadFromURL(ctx, "docs", src.URL+"/a.txt", carcosa.FromURL{Owner: "alice"})
	if !errors.Is(err, carcosa.ErrScanUnavailable) {
		t.Fatalf("UploadFromURL with the scanner down: %v", err)
	}
	page, err := tb.router.List(ctx, carcosa.ListOptions{Owner: "alice"})
	if err != nil || len(page.Uploads) != 1 {
		t.Fatalf("List: %+v %v", page, err)
	}
	id := page.Uploads[0].ID
	time.Sleep(200 * time.Millisecond)
	if rec, _ := tb.store.Get(ctx, id); rec.State != store.Failed {
		t.Fatalf("before Start the retry ran: %s", rec.State)
	}
	if err := tb.router.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.router.Start(ctx); err != nil {
		t.Fatalf("a second Start: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := tb.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State == store.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Start the retry did not run: %s %s", rec.State, rec.ErrorCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Routes are declared before the start.
	defer func() {
		if recover() == nil {
			t.Error("a route declared after Start was accepted")
		}
	}()
	carcosa.Handle(tb.router, "late", carcosa.Route[struct{}, userMeta]{Accept: []string{"text"}})
}

// Stop gives up when its context ends, with the context's error, even
// while a job still runs; a stopped Router does not start again.
func TestStopHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	q := fastQueue()
	tb := newBundle(t, memstore.New(), func(c *carcosa.Config) { c.Queue = q })
	t.Cleanup(func() { close(release) })
	running := make(chan struct{})
	q.Handle("test.block", func(ctx context.Context, job queue.Job, attempt int) error {
		close(running)
		<-release
		return nil
	})
	if err := tb.router.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(t.Context(), queue.Job{Kind: "test.block"}); err != nil {
		t.Fatal(err)
	}
	<-running
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := tb.router.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a job running past its context: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if err := tb.router.Start(t.Context()); err == nil {
		t.Fatal("a stopped Router started again")
	}
}
