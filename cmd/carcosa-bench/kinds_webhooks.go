package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/store/sqlite"
	"github.com/carcosa-dev/carcosa/webhook"
)

func init() {
	kinds = append(kinds, serverKind{
		Name: "carcosa-webhooks", Ref: "carcosa", TusPath: "/tus/", WantState: "ready", Handler: carcosaWebhooksHandler,
		Doc: "the `carcosa` kind with `Config.Webhooks` naming one receiver on loopback, in the server's process, that verifies every delivery's signature and answers 204: every upload's `upload.created` and `upload.ready` are stored, signed and delivered while the uploads run.",
	})
}

// carcosaWebhooksHandler is the carcosa kind sending every event to a
// receiver in its own process.
func carcosaWebhooksHandler(o serveOptions) (http.Handler, func() error, error) {
	secret := webhook.NewSecret()
	var received, bad atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if webhook.Verify(req.Header, body, []string{secret}, webhook.DefaultTolerance) != nil {
			bad.Add(1)
		}
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	r, err := carcosa.New(carcosa.Config{
		DataDir:  o.Dir,
		BasePath: "/",
		Logger:   slog.New(slog.DiscardHandler),
		Webhooks: []webhook.Endpoint{{Name: "bench", URL: recv.URL, Secrets: []string{secret}}},
	})
	if err != nil {
		recv.Close()
		return nil, nil, err
	}
	addBenchRoute(r, o)
	return r, func() error {
		err := r.Close() // runs the deliveries still waiting
		recv.Close()
		if n := bad.Load(); n > 0 && err == nil {
			err = fmt.Errorf("%d webhook deliveries of %d failed their signature", n, received.Load())
		}
		return err
	}, nil
}

// runWebhookThroughput measures webhook delivery alone: n events sent
// through a Dispatcher on the in-process queue, its events and delivery
// log in SQLite (a Router's defaults), to a receiver on loopback that
// verifies each signature, timed from the first Send to the last delivery
// received.
func runWebhookThroughput(ctx context.Context, cfg *config, stdout io.Writer) error {
	n := cfg.webhookThroughput
	secret := webhook.NewSecret()
	done := make(chan struct{})
	var received, bad atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if webhook.Verify(req.Header, body, []string{secret}, webhook.DefaultTolerance) != nil {
			bad.Add(1)
		}
		if received.Add(1) == int64(n) {
			close(done)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	// A Router's defaults: the in-process queue, and SQLite keeping the
	// events and the delivery log.
	dir, err := os.MkdirTemp(cfg.dir, "carcosa-bench-webhooks-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "carcosa.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	q := queue.NewMemory(&queue.MemoryOptions{Logger: slog.New(slog.DiscardHandler)})
	d, err := webhook.New(webhook.Options{
		Queue:     q,
		Store:     st,
		Endpoints: []webhook.Endpoint{{Name: "bench", URL: recv.URL, Secrets: []string{secret}}},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	if err := q.Start(ctx); err != nil {
		return err
	}
	defer q.Stop(context.Background())
	start := time.Now()
	for i := range n {
		_, err := d.Send(ctx, webhook.Event{Type: webhook.TypeReady, Data: map[string]any{"id": fmt.Sprintf("%032x", i), "state": "ready"}})
		if err != nil {
			return err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	elapsed := time.Now().Sub(start)
	if b := bad.Load(); b > 0 {
		return fmt.Errorf("%d of %d deliveries failed their signature", b, n)
	}
	fmt.Fprintf(stdout, "webhook throughput: %d events delivered, signed and verified, in %.2f s: %.0f events/s\n", n, elapsed.Seconds(), float64(n)/elapsed.Seconds())
	return nil
}
