package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// -progress-latency N measures how long a byte acknowledged on one
// instance takes to show as progress on another: two Routers (instance A
// and instance B) share one Store and reach each other through the Broker
// named by -broker. One resumable upload of N chunks of -progress-chunk
// bytes goes to A, one PATCH at a time; a client follows the upload's
// event stream (GET B/uploads/{id}/events) on B. For each PATCH, the
// latency runs from the moment the client has written the whole request
// to A to the moment B's stream delivers the progress event at the
// PATCH's end offset. With -broker postgres or redis, each instance has a
// connection of its own to the backend, as two processes would.

// progressRun is one -progress-latency measurement.
type progressRun struct {
	cfg    *config
	stderr io.Writer
}

// newBrokers returns the Brokers of instances A and B, and what closes
// them.
func (p *progressRun) newBrokers(ctx context.Context) (a, b broker.Broker, closeAll func(), err error) {
	switch p.cfg.broker {
	case "local":
		l := broker.New()
		return l, l, func() { l.Close() }, nil
	}
	open, ok := brokerOpeners[p.cfg.broker]
	if !ok {
		return nil, nil, nil, fmt.Errorf("-broker %q: have local, postgres, redis", p.cfg.broker)
	}
	if a, err = open(ctx, p.cfg); err != nil {
		return nil, nil, nil, err
	}
	if b, err = open(ctx, p.cfg); err != nil {
		a.Close()
		return nil, nil, nil, err
	}
	return a, b, func() { a.Close(); b.Close() }, nil
}

// brokerOpeners open the networked Brokers; see progress_brokers.go.
var brokerOpeners = map[string]func(ctx context.Context, cfg *config) (broker.Broker, error){}

// sharedStore is the Store both instances use: PostgreSQL when the broker
// is PostgreSQL's, else one in memory.
var sharedStore = func(ctx context.Context, cfg *config) (store.Store, func(), error) {
	s := memstore.New()
	return s, func() { s.Close() }, nil
}

func runProgressLatency(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	p := &progressRun{cfg: cfg, stderr: stderr}
	st, closeStore, err := sharedStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	ba, bb, closeBrokers, err := p.newBrokers(ctx)
	if err != nil {
		return err
	}
	defer closeBrokers()
	root, err := os.MkdirTemp(cfg.dir, "carcosa-bench-progress-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	instance := func(name string, b broker.Broker) (*httptest.Server, func(), error) {
		r, err := carcosa.New(carcosa.Config{
			DataDir: root + "/" + name, Store: st, Broker: b,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return nil, nil, err
		}
		carcosa.Handle(r, "files", carcosa.Route[struct{}, struct{}]{
			Accept: []string{"any"}, MaxFileSize: 1 << 40,
			Middleware: func(context.Context, *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
				return carcosa.Grant[struct{}]{Owner: "bench"}, nil
			},
		})
		srv := httptest.NewServer(r)
		return srv, func() { srv.Close(); r.Close() }, nil
	}
	a, closeA, err := instance("a", ba)
	if err != nil {
		return err
	}
	defer closeA()
	b, closeB, err := instance("b", bb)
	if err != nil {
		return err
	}
	defer closeB()

	n, chunk := cfg.progressLatency, cfg.progressChunk
	size := int64(n) * chunk
	client := &http.Client{Timeout: time.Minute}
	req, _ := http.NewRequestWithContext(ctx, "POST", a.URL+"/tus/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "route ZmlsZXM=,filename YmVuY2guYmlu")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("creating the upload on A: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndexByte(loc, '/')+1:]

	// Follow the upload on B, noting when each offset arrives.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		arrived = make(map[int64]time.Time, n)
		got     = make(chan int64, n+16)
	)
	sreq, _ := http.NewRequestWithContext(sctx, "GET", b.URL+"/uploads/"+id+"/events", nil)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		return err
	}
	if sresp.StatusCode != http.StatusOK {
		sresp.Body.Close()
		return fmt.Errorf("the event stream on B: %s", sresp.Status)
	}
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		defer sresp.Body.Close()
		sc := bufio.NewScanner(sresp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "progress":
				now := time.Now()
				var d struct{ Offset int64 }
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d) == nil {
					mu.Lock()
					if _, seen := arrived[d.Offset]; !seen {
						arrived[d.Offset] = now
					}
					mu.Unlock()
					got <- d.Offset
				}
			}
		}
	}()
	// The stream's first event (the state) says it is subscribed.
	time.Sleep(200 * time.Millisecond)

	body := bytes.Repeat([]byte("carcosa!"), int(chunk/8)+1)[:chunk]
	lat := make([]float64, 0, n)
	for i := range n {
		off := int64(i) * chunk
		var wrote time.Time
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote = time.Now() }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "PATCH", loc, bytes.NewReader(body))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("PATCH %d on A: %s", i, resp.Status)
		}
		end := off + chunk
		deadline := time.After(10 * time.Second)
	wait:
		for {
			mu.Lock()
			at, ok := arrived[end]
			mu.Unlock()
			if ok {
				lat = append(lat, float64(at.Sub(wrote).Microseconds())/1000)
				break
			}
			select {
			case <-got:
			case <-deadline:
				return fmt.Errorf("PATCH %d: no progress event at offset %d on B within 10 s", i, end)
			case <-streamDone:
				mu.Lock()
				_, ok := arrived[end]
				mu.Unlock()
				if !ok {
					return errors.New("the event stream on B ended early")
				}
				break wait
			}
		}
	}
	cancel()
	fmt.Fprintf(stdout, "progress latency, instance A → instance B through the %s broker, %d events of %d-byte PATCHes\n\n", cfg.broker, len(lat), chunk)
	fmt.Fprintln(stdout, "| p50 ms | p99 ms | max ms |")
	fmt.Fprintln(stdout, "|---|---|---|")
	fmt.Fprintf(stdout, "| %.2f | %.2f | %.2f |\n", percentile(lat, 50), percentile(lat, 99), percentile(lat, 100))
	return nil
}
