package carcosa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/queue/riverqueue"
	"github.com/carcosa-dev/carcosa/webhook"
)

// The modes of webhookReceiver.
const (
	receiverHang        = iota // hold every request open, never answering
	receiverUnavailable        // answer 503
	receiverOK                 // answer 204
)

// webhookReceiver is the operator's endpoint of the webhook chaos test: it
// verifies every request and records it.
type webhookReceiver struct {
	t      *testing.T
	secret string

	mu       sync.Mutex
	mode     int
	open     int                       // requests being held
	held     map[string]bool           // webhook-ids of the requests held
	bodies   map[string][][]byte       // every body received, by webhook-id
	types    map[string]string         // event type by webhook-id
	acked    map[string]map[string]int // verified requests answered 2xx, by upload ID and event type
	answered map[int]int               // answers by status; 0 is hung up on
	bad      []string                  // requests that failed verification
	changed  chan struct{}             // closed and replaced on every change
}

func newWebhookReceiver(t *testing.T, secret string) *webhookReceiver {
	return &webhookReceiver{
		t: t, secret: secret, held: map[string]bool{}, bodies: map[string][][]byte{}, types: map[string]string{},
		acked: map[string]map[string]int{}, answered: map[int]int{}, changed: make(chan struct{}),
	}
}

// notify wakes the waiters; the caller holds mu.
func (w *webhookReceiver) notify() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// setMode switches how requests are answered from now on; held requests
// stay held until their client goes away.
func (w *webhookReceiver) setMode(m int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mode = m
	w.notify()
}

// ServeHTTP verifies and records the request, then answers it as the mode
// says.
func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	id := r.Header.Get(webhook.HeaderID)
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	w.mu.Lock()
	if err := webhook.Verify(r.Header, body, []string{w.secret}, 0); err != nil {
		w.bad = append(w.bad, fmt.Sprintf("%s: %v", id, err))
	} else if err := json.Unmarshal(body, &ev); err != nil || ev.Data.ID == "" {
		w.bad = append(w.bad, fmt.Sprintf("%s: body %s: %v", id, body, err))
	} else {
		w.bodies[id] = append(w.bodies[id], body)
		if prev, ok := w.types[id]; ok && prev != ev.Type {
			w.bad = append(w.bad, fmt.Sprintf("%s: type %s, earlier %s", id, ev.Type, prev))
		}
		w.types[id] = ev.Type
		if w.mode == receiverOK {
			if w.acked[ev.Data.ID] == nil {
				w.acked[ev.Data.ID] = map[string]int{}
			}
			w.acked[ev.Data.ID][ev.Type]++
		}
	}
	mode := w.mode
	if mode == receiverHang {
		w.open++
		w.held[id] = true
	}
	w.notify()
	w.mu.Unlock()

	switch mode {
	case receiverHang:
		<-r.Context().Done() // the sender went away: killed, or timed out
		w.mu.Lock()
		w.open--
		w.answered[0]++
		w.notify()
		w.mu.Unlock()
	case receiverUnavailable:
		w.count(http.StatusServiceUnavailable)
		rw.WriteHeader(http.StatusServiceUnavailable)
	default:
		w.count(http.StatusNoContent)
		rw.WriteHeader(http.StatusNoContent)
	}
}

func (w *webhookReceiver) count(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.answered[status]++
	w.notify()
}

// waitFor waits until cond, called with mu held, is true, and fails the
// test with what's message after timeout.
func (w *webhookReceiver) waitFor(timeout time.Duration, cond func() bool, what func() string) {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ok, ch := cond(), w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			w.mu.Lock()
			msg := what()
			w.mu.Unlock()
			w.t.Fatalf("after %v: %s", timeout, msg)
		}
	}
}

// missing lists, with mu held, the events of uploads ids not yet
// acknowledged.
func (w *webhookReceiver) missing(ids []string) []string {
	var out []string
	for _, id := range ids {
		for _, typ := range []string{webhook.TypeCreated, webhook.TypeReady} {
			if w.acked[id][typ] == 0 {
				out = append(out, id+" "+typ)
			}
		}
	}
	return out
}

// TestWebhookCrashAtLeastOnce kills the server with webhook deliveries in
// flight, on PostgreSQL with River's durable queue, while the receiver
// holds them unanswered; then the receiver answers 503 for a while, and
// then accepts. A second server on the same database and River schema
// must deliver every event (upload.created and upload.ready of each
// upload) at least once, correctly signed, each event's attempts carrying
// the same webhook-id and body; the events held at the kill are sent
// again once River rescues their jobs.
func TestWebhookCrashAtLeastOnce(t *testing.T) {
	t.Parallel()
	dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	name := "whcrash_" + lifecycle.NewID()[:12]
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		pool.Exec(ctx, "DROP SCHEMA "+name+" CASCADE")
		testenv.DropPostgresTables(ctx, dsn, name)
		pool.Close()
	})

	secret := webhook.NewSecret()
	recv := newWebhookReceiver(t, secret)
	hs := httptest.NewServer(recv)
	t.Cleanup(hs.Close)
	env := []string{
		"CARCOSA_CHAOS_POSTGRES=" + dsn, "CARCOSA_CHAOS_TABLE=" + name, "CARCOSA_CHAOS_RIVER=" + name,
		"CARCOSA_CHAOS_WEBHOOK=" + hs.URL + "/hook", "CARCOSA_CHAOS_WEBHOOK_SECRET=" + secret,
	}
	dir, addr := t.TempDir(), freeAddr(t)
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()

	// Server A: the receiver holds every delivery open.
	a := startChaosServer(t, dir, addr, false, env...)
	const uploads = 5
	var ids []string
	for i := range uploads {
		data := testenv.RandomBytes(4<<10 + i)
		id := tusCreateAt(t, client, addr, "files", fmt.Sprintf("f%d.bin", i), len(data))
		req, _ := http.NewRequest(http.MethodPatch, "http://"+addr+"/tus/"+id, bytes.NewReader(data))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
			t.Fatalf("PATCH of upload %d: %s, Upload-State %q", i, resp.Status, resp.Header.Get("Upload-State"))
		}
		ids = append(ids, id)
	}
	// Every event is stored and enqueued once its upload's request has
	// answered; kill while deliveries are held open, one on each of
	// River's workers (there are more events than workers).
	recv.waitFor(30*time.Second, func() bool { return recv.open >= riverqueue.DefaultWorkers },
		func() string {
			return fmt.Sprintf("%d deliveries held open, want %d", recv.open, riverqueue.DefaultWorkers)
		})
	recv.mu.Lock()
	open, held := recv.open, maps.Clone(recv.held)
	recv.mu.Unlock()
	a.kill()
	t.Logf("%v: server A killed with %d deliveries held open, of %d events held", time.Since(start).Round(time.Millisecond), open, len(held))

	// The receiver is down: server B's first attempts fail, and are
	// retried on the schedule (5 s). It comes back 2 s after its first
	// 503, before those retries.
	recv.setMode(receiverUnavailable)
	startChaosServer(t, dir, addr, false, env...)
	// A Router serving HTTP starts its queue with its first request.
	resp, err := client.Get("http://" + addr + "/uploads/" + ids[0])
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET of an upload from server B: %s", resp.Status)
	}
	recv.waitFor(30*time.Second, func() bool { return recv.answered[http.StatusServiceUnavailable] > 0 },
		func() string { return "server B made no delivery attempt" })
	time.Sleep(2 * time.Second)
	recv.setMode(receiverOK)
	recv.mu.Lock()
	refused := recv.answered[http.StatusServiceUnavailable]
	recv.mu.Unlock()
	t.Logf("%v: receiver back after %d attempts answered 503", time.Since(start).Round(time.Millisecond), refused)

	recv.waitFor(90*time.Second, func() bool { return len(recv.missing(ids)) == 0 }, func() string {
		return fmt.Sprintf("events never delivered with a valid signature: %s (answers by status %v)",
			strings.Join(recv.missing(ids), ", "), recv.answered)
	})
	elapsed := time.Since(start)

	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, b := range recv.bad {
		t.Errorf("bad delivery: %s", b)
	}
	if len(recv.types) != 2*uploads {
		t.Errorf("%d distinct webhook-ids, want %d (created and ready of %d uploads): %v", len(recv.types), 2*uploads, uploads, recv.types)
	}
	attempts, dups := 0, 0
	eventIDs := make([]string, 0, len(recv.bodies))
	for id := range recv.bodies {
		eventIDs = append(eventIDs, id)
	}
	sort.Strings(eventIDs)
	for _, id := range eventIDs {
		bodies := recv.bodies[id]
		attempts += len(bodies)
		dups += len(bodies) - 1
		for _, b := range bodies[1:] {
			if !bytes.Equal(b, bodies[0]) {
				t.Errorf("event %s: attempts carry different bodies:\n%s\n%s", id, bodies[0], b)
			}
		}
	}
	// The events held when the server was killed were sent again, by
	// server B, after River rescued their jobs.
	for id := range held {
		if len(recv.bodies[id]) < 2 {
			t.Errorf("event %s (%s), held at the kill, was received %d times", id, recv.types[id], len(recv.bodies[id]))
		}
	}
	for id, types := range recv.acked {
		if !slices.Contains(ids, id) {
			t.Errorf("events of unknown upload %s: %v", id, types)
		}
		for typ := range types {
			if typ != webhook.TypeCreated && typ != webhook.TypeReady {
				t.Errorf("upload %s: unexpected event %s", id, typ)
			}
		}
	}
	t.Logf("%v: all %d events delivered: %d verified requests, %d duplicates; answers by status %v",
		elapsed.Round(time.Millisecond), len(eventIDs), attempts, dups, recv.answered)
}
