package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/store/sqlite"
	"github.com/carcosa-dev/carcosa/webhook"
)

var (
	ctx   = context.Background()
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	// short is a schedule of the same length as the default, in
	// milliseconds.
	short = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond,
		80 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond}
)

const wait = 10 * time.Second

// request is one request a receiver got.
type request struct {
	header http.Header
	body   []byte
	err    error // of Verify
}

// receiver is an HTTP server recording webhook requests; answer decides
// each response's status from the number of requests before it.
type receiver struct {
	*httptest.Server
	secrets []string
	mu      sync.Mutex
	got     []request
	answer  func(n int, w http.ResponseWriter) // nil: 204
}

func newReceiver(t *testing.T, secrets []string, answer func(n int, w http.ResponseWriter)) *receiver {
	r := &receiver{secrets: secrets, answer: answer}
	r.Server = httptest.NewServer(r)
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.got)
	r.got = append(r.got, request{req.Header.Clone(), body, webhook.Verify(req.Header, body, r.secrets, 0)})
	answer := r.answer
	r.mu.Unlock()
	if answer == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	answer(n, w)
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// setup returns a Dispatcher on a started in-process queue, stopped when the
// test ends, with the short schedule unless opts has one.
func setup(t *testing.T, opts webhook.Options) *webhook.Dispatcher {
	t.Helper()
	q := queue.NewMemory(&queue.MemoryOptions{Logger: quiet})
	opts.Queue = q
	if opts.Schedule == nil {
		opts.Schedule = short
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	d, err := webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		q.Stop(sctx)
	})
	return d
}

func send(t *testing.T, d *webhook.Dispatcher, typ, tenant string, data any) string {
	t.Helper()
	id, err := d.Send(ctx, webhook.Event{Type: typ, Tenant: tenant, Data: data})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return id
}

// deliveries waits until the log of endpoint holds n attempts, and returns
// them oldest first.
func deliveries(t *testing.T, d *webhook.Dispatcher, endpoint string, n int) []*store.WebhookDelivery {
	t.Helper()
	var got []*store.WebhookDelivery
	waitFor(t, strconv.Itoa(n)+" logged attempts to "+endpoint, func() bool {
		var err error
		got, err = d.Deliveries(ctx, store.DeliveryQuery{EndpointID: endpoint})
		if err != nil {
			t.Fatal(err)
		}
		return len(got) >= n
	})
	if len(got) != n {
		t.Fatalf("%d attempts logged, want %d", len(got), n)
	}
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	return got
}

func operator(name, u, secret string) webhook.Endpoint {
	return webhook.Endpoint{Name: name, URL: u, Secrets: []string{secret}}
}

func TestEveryEventArrivesSigned(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rcv := newReceiver(t, []string{secret}, nil)
	// The operator's endpoint is on 127.0.0.1: trusted.
	d := setup(t, webhook.Options{Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, secret)}})
	ids := map[string]string{}
	for i, typ := range webhook.Types {
		ids[send(t, d, typ, "acme", map[string]any{"id": "u" + strconv.Itoa(i)})] = typ
	}
	waitFor(t, "every event", func() bool { return len(rcv.requests()) >= len(webhook.Types) })
	time.Sleep(50 * time.Millisecond)
	got := rcv.requests()
	if len(got) != len(webhook.Types) {
		t.Fatalf("%d requests, want %d", len(got), len(webhook.Types))
	}
	for _, r := range got {
		if r.err != nil {
			t.Errorf("Verify: %v", r.err)
		}
		typ, ok := ids[r.header.Get(webhook.HeaderID)]
		if !ok {
			t.Errorf("webhook-id %q is no event's ID", r.header.Get(webhook.HeaderID))
		}
		delete(ids, r.header.Get(webhook.HeaderID))
		var b webhook.Body
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		if b.Type != typ || time.Since(b.Timestamp) > time.Minute || !strings.HasPrefix(string(b.Data), `{"id":"u`) {
			t.Errorf("body %s, want type %s, a timestamp of now and the data", r.body, typ)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	for _, del := range deliveries(t, d, "config:ops", len(webhook.Types)) {
		if del.Error != "" || del.StatusCode != 204 || del.Attempt != 1 || del.Dead || del.Latency <= 0 {
			t.Errorf("logged %+v, want a success at the first attempt", del)
		}
	}
}

func TestTypesFilter(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rcv := newReceiver(t, []string{secret}, nil)
	ep := operator("ready-only", rcv.URL, secret)
	ep.Types = []string{webhook.TypeReady}
	d := setup(t, webhook.Options{Endpoints: []webhook.Endpoint{ep}})
	send(t, d, webhook.TypeCreated, "", nil)
	send(t, d, webhook.TypeReady, "", nil)
	waitFor(t, "the ready event", func() bool { return len(rcv.requests()) >= 1 })
	time.Sleep(100 * time.Millisecond)
	if got := rcv.requests(); len(got) != 1 || !strings.Contains(string(got[0].body), webhook.TypeReady) {
		t.Errorf("got %d requests, want only upload.ready", len(got))
	}
}

func TestRetriesKeepTheID(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rcv := newReceiver(t, []string{secret}, func(n int, w http.ResponseWriter) {
		if n < 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	d := setup(t, webhook.Options{Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, secret)}})
	id := send(t, d, webhook.TypeReady, "", map[string]string{"id": "u1"})
	log := deliveries(t, d, "config:ops", 3)
	got := rcv.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for i, r := range got {
		if r.header.Get(webhook.HeaderID) != id || r.err != nil {
			t.Errorf("attempt %d: webhook-id %q (want %s), Verify %v", i+1, r.header.Get(webhook.HeaderID), id, r.err)
		}
	}
	for i, want := range []int{503, 503, 200} {
		if del := log[i]; del.Attempt != i+1 || del.StatusCode != want || del.EventID != id || del.Dead || (want == 200) != (del.Error == "") {
			t.Errorf("attempt %d logged %+v, want status %d", i+1, del, want)
		}
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer func(n int, w http.ResponseWriter)
		status int
		err    string
	}{
		{"redirect", func(n int, w http.ResponseWriter) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
		}, 302, "answered 302"},
		{"client error", func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) }, 410, "answered 410"},
		{"timeout", func(n int, w http.ResponseWriter) { time.Sleep(300 * time.Millisecond) }, 0, "no answer within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secret := webhook.NewSecret()
			rcv := newReceiver(t, []string{secret}, tc.answer)
			d := setup(t, webhook.Options{
				Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, secret)},
				Schedule:  []time.Duration{10 * time.Millisecond},
				Timeout:   100 * time.Millisecond,
			})
			send(t, d, webhook.TypeReady, "", nil)
			log := deliveries(t, d, "config:ops", 2)
			for i, del := range log {
				if del.StatusCode != tc.status || !strings.Contains(del.Error, tc.err) || del.Dead != (i == 1) {
					t.Errorf("attempt %d logged %+v, want status %d, error %q, dead only the last", i+1, del, tc.status, tc.err)
				}
			}
			time.Sleep(100 * time.Millisecond)
			if got := rcv.requests(); len(got) != 2 {
				t.Errorf("%d requests, want 2 (the schedule's)", len(got))
			}
		})
	}
}

// A receiver killed mid-delivery, down for a while and restarted still gets
// every event.
func TestReceiverDownAndBack(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	hold := make(chan struct{})
	held := make(chan struct{}, 1)
	first := newReceiver(t, []string{secret}, func(n int, w http.ResponseWriter) {
		if n == 1 { // the second request hangs until the server dies
			held <- struct{}{}
			<-hold
		}
	})
	addr := first.Listener.Addr().String()
	d := setup(t, webhook.Options{Endpoints: []webhook.Endpoint{operator("ops", first.URL, secret)}})
	var ids []string
	ids = append(ids, send(t, d, webhook.TypeCreated, "", map[string]int{"n": 0}))
	waitFor(t, "the first event", func() bool { return len(first.requests()) == 1 })
	ids = append(ids, send(t, d, webhook.TypeReady, "", map[string]int{"n": 1}))
	<-held
	first.CloseClientConnections() // killed mid-delivery
	close(hold)
	first.Close()
	for i := 2; i < 6; i++ {
		ids = append(ids, send(t, d, webhook.TypeReady, "", map[string]int{"n": i}))
	}
	time.Sleep(150 * time.Millisecond) // several attempts fail meanwhile

	// Restarted on the same address.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address %s could not be reused: %v", addr, err)
	}
	second := &receiver{secrets: []string{secret}}
	second.Server = httptest.NewUnstartedServer(second)
	second.Listener.Close()
	second.Listener = l
	second.Start()
	t.Cleanup(second.Close)

	got := map[string]bool{}
	for _, r := range first.requests() {
		if r.err == nil && len(r.body) > 0 {
			got[r.header.Get(webhook.HeaderID)] = true
		}
	}
	waitFor(t, "every event after the restart", func() bool {
		for _, r := range second.requests() {
			if r.err != nil {
				t.Fatalf("Verify: %v", r.err)
			}
			got[r.header.Get(webhook.HeaderID)] = true
		}
		for _, id := range ids[1:] {
			if !got[id] {
				return false
			}
		}
		return true
	})
	if !got[ids[0]] {
		t.Error("the first event, delivered before the kill, is missing")
	}
	dead, err := d.Deliveries(ctx, store.DeliveryQuery{DeadOnly: true})
	if err != nil || len(dead) != 0 {
		t.Errorf("dead deliveries %v, %v; want none", dead, err)
	}
}

// allowLoopback lets safefetch reach the test servers on 127.0.0.1, as if
// they were public.
func allowLoopback(port int) safefetch.Options {
	return safefetch.Options{
		AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		AllowedPorts: []int{port},
	}
}

func port(t *testing.T, u string) int {
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(pu.Port())
	return p
}

func TestTenantEndpointOnLoopbackIsRefused(t *testing.T) {
	t.Parallel()
	opSecret := webhook.NewSecret()
	rcv := newReceiver(t, nil, nil)
	// The port is allowed, so that only the address is refused.
	d := setup(t, webhook.Options{
		Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, opSecret)},
		Fetch:     safefetch.Options{AllowedPorts: []int{port(t, rcv.URL)}},
		Schedule:  []time.Duration{10 * time.Millisecond},
	})
	ep, secret, err := d.Register(ctx, webhook.Registration{Tenant: "acme", URL: rcv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.ParseSecret(secret); err != nil || len(ep.Secrets) != 0 {
		t.Errorf("Register returned secret %q (%v) and an endpoint with %d secrets; want one valid secret, none in the endpoint", secret, err, len(ep.Secrets))
	}
	send(t, d, webhook.TypeReady, "acme", nil)
	log := deliveries(t, d, ep.ID, 2)
	for _, del := range log {
		if del.StatusCode != 0 || !strings.Contains(del.Error, "url_forbidden_address") {
			t.Errorf("logged %+v, want a refusal naming url_forbidden_address", del)
		}
	}
	if !log[1].Dead {
		t.Error("the last attempt is not dead")
	}
	// The operator's endpoint, on the same server, is reached.
	deliveries(t, d, "config:ops", 1)
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("%d requests reached the server, want only the operator's", n)
	}
}

// stores are the store.Webhooks the tenant tests run on: the Dispatcher's
// own in memory (nil), and the built-in Stores.
func stores(t *testing.T) map[string]func(t *testing.T) store.Webhooks {
	return map[string]func(t *testing.T) store.Webhooks{
		"default": func(t *testing.T) store.Webhooks { return nil },
		"memstore": func(t *testing.T) store.Webhooks {
			s := memstore.New()
			t.Cleanup(func() { s.Close() })
			return s
		},
		"sqlite": func(t *testing.T) store.Webhooks {
			s, err := sqlite.Open(filepath.Join(t.TempDir(), "carcosa.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func TestTenantEndpoints(t *testing.T) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testTenantEndpoints(t, open(t))
		})
	}
}

func testTenantEndpoints(t *testing.T, st store.Webhooks) {
	rcv := newReceiver(t, nil, nil)
	d := setup(t, webhook.Options{Store: st, Fetch: allowLoopback(port(t, rcv.URL)), RotationGrace: time.Hour})
	ep, secret, err := d.Register(ctx, webhook.Registration{Tenant: "acme", URL: rcv.URL, Types: []string{webhook.TypeReady}})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := d.Register(ctx, webhook.Registration{Tenant: "other", URL: rcv.URL})
	if err != nil {
		t.Fatal(err)
	}

	// Only acme's ready events reach acme's endpoint; none reach other's.
	send(t, d, webhook.TypeCreated, "acme", nil)
	id := send(t, d, webhook.TypeReady, "acme", nil)
	deliveries(t, d, ep.ID, 1)
	if got := rcv.requests(); len(got) != 1 || got[0].header.Get(webhook.HeaderID) != id ||
		webhook.Verify(got[0].header, got[0].body, []string{secret}, 0) != nil {
		t.Fatalf("got %d requests, want the ready event, signed", len(got))
	}
	if del, _ := d.Deliveries(ctx, store.DeliveryQuery{EndpointID: other.ID}); len(del) != 0 {
		t.Errorf("the other tenant's endpoint got %d deliveries", len(del))
	}

	// After a rotation, both secrets sign.
	newSecret, err := d.RotateSecret(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	send(t, d, webhook.TypeReady, "acme", nil)
	deliveries(t, d, ep.ID, 2)
	last := rcv.requests()[1]
	for _, s := range []string{secret, newSecret} {
		if err := webhook.Verify(last.header, last.body, []string{s}, 0); err != nil {
			t.Errorf("after rotation, Verify with one secret: %v", err)
		}
	}

	// Disabled, it gets nothing.
	if err := d.SetEnabled(ctx, ep.ID, false); err != nil {
		t.Fatal(err)
	}
	send(t, d, webhook.TypeReady, "acme", nil)
	time.Sleep(100 * time.Millisecond)
	if n := len(rcv.requests()); n != 2 {
		t.Errorf("%d requests, want no new one while disabled", n)
	}
	eps, err := d.Endpoints(ctx, "acme")
	if err != nil || len(eps) != 1 || !eps[0].Disabled || len(eps[0].Secrets) != 0 {
		t.Errorf("Endpoints = %+v, %v; want acme's, disabled, without secrets", eps, err)
	}
	if err := d.SetEnabled(ctx, "nope", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetEnabled of an unknown endpoint = %v, want ErrNotFound", err)
	}
	for _, bad := range []webhook.Registration{
		{URL: rcv.URL},
		{Tenant: "acme", URL: "ftp://example.com"},
		{Tenant: "acme", URL: rcv.URL, Types: []string{"upload.exploded"}},
	} {
		if _, _, err := d.Register(ctx, bad); !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("Register(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestReplayDead(t *testing.T) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testReplayDead(t, open(t))
		})
	}
}

func testReplayDead(t *testing.T, st store.Webhooks) {
	secret := webhook.NewSecret()
	var mu sync.Mutex
	healthy := false
	rcv := newReceiver(t, []string{secret}, func(n int, w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		if !healthy {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	d := setup(t, webhook.Options{
		Store:     st,
		Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, secret)},
		Schedule:  []time.Duration{10 * time.Millisecond},
	})
	id := send(t, d, webhook.TypeReady, "", nil)
	if log := deliveries(t, d, "config:ops", 2); !log[1].Dead {
		t.Fatalf("the last attempt %+v is not dead", log[1])
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	n, err := d.ReplayDead(ctx, "config:ops")
	if err != nil || n != 1 {
		t.Fatalf("ReplayDead = %d, %v; want 1", n, err)
	}
	log := deliveries(t, d, "config:ops", 3)
	if log[2].Error != "" || log[2].Attempt != 1 {
		t.Errorf("the replay logged %+v, want a success at attempt 1", log[2])
	}
	got := rcv.requests()
	if last := got[len(got)-1]; last.header.Get(webhook.HeaderID) != id || last.err != nil {
		t.Errorf("the replay arrived with webhook-id %q, Verify %v; want %s, nil", last.header.Get(webhook.HeaderID), last.err, id)
	}
	// Delivered since: nothing left to replay.
	if n, err := d.ReplayDead(ctx, "config:ops"); err != nil || n != 0 {
		t.Errorf("ReplayDead again = %d, %v; want 0", n, err)
	}
	if err := d.Replay(ctx, "msg_nope", "config:ops"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Replay of an unknown event = %v, want ErrNotFound", err)
	}
}

func TestOperatorDisabled(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rcv := newReceiver(t, []string{secret}, nil)
	d := setup(t, webhook.Options{Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, secret)}})
	if err := d.SetEnabled(ctx, "config:ops", false); err != nil {
		t.Fatal(err)
	}
	send(t, d, webhook.TypeReady, "", nil)
	time.Sleep(100 * time.Millisecond)
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("%d requests while disabled", n)
	}
	if err := d.SetEnabled(ctx, "config:ops", true); err != nil {
		t.Fatal(err)
	}
	send(t, d, webhook.TypeReady, "", nil)
	waitFor(t, "a request once enabled", func() bool { return len(rcv.requests()) == 1 })
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	q := queue.NewMemory(nil)
	good := webhook.NewSecret()
	for _, tc := range []struct {
		opts webhook.Options
		want string
	}{
		{webhook.Options{}, "Queue"},
		{webhook.Options{Queue: q, Endpoints: []webhook.Endpoint{{Name: "a", URL: "http://x", Secrets: []string{"whsec_bad"}}}}, "Endpoints[0]: Secrets[0]"},
		{webhook.Options{Queue: q, Endpoints: []webhook.Endpoint{{Name: "a", URL: "mailto:x", Secrets: []string{good}}}}, "Endpoints[0]: URL"},
		{webhook.Options{Queue: q, Endpoints: []webhook.Endpoint{{Name: "a", URL: "http://x"}}}, "Secrets is empty"},
		{webhook.Options{Queue: q, Endpoints: []webhook.Endpoint{{Name: "a", URL: "http://x", Secrets: []string{good}, Types: []string{"x"}}}}, "Types[0]"},
		{webhook.Options{Queue: q, Schedule: []time.Duration{-1}}, "Schedule[0]"},
	} {
		if _, err := webhook.New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.opts, err, tc.want)
		}
	}
}

// An in-process queue's Stop makes a retry held for an hour at once, so
// that a clean shutdown loses no delivery; if that attempt fails too, the
// delivery is dead, to be replayed.
func TestStopAttemptsHeldRetries(t *testing.T) {
	t.Parallel()
	for _, recovers := range []bool{true, false} {
		t.Run("recovers="+strconv.FormatBool(recovers), func(t *testing.T) {
			t.Parallel()
			secret := webhook.NewSecret()
			rcv := newReceiver(t, []string{secret}, func(n int, w http.ResponseWriter) {
				if n == 0 || !recovers {
					w.WriteHeader(http.StatusBadGateway)
				}
			})
			q := queue.NewMemory(&queue.MemoryOptions{Logger: quiet})
			d, err := webhook.New(webhook.Options{
				Queue:     q,
				Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, secret)},
				Logger:    quiet,
				Schedule:  []time.Duration{time.Hour, time.Hour},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			send(t, d, webhook.TypeReady, "", nil)
			deliveries(t, d, "config:ops", 1)
			sctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			if err := q.Stop(sctx); err != nil {
				t.Fatal(err)
			}
			log := deliveries(t, d, "config:ops", 2)
			if recovers && (log[1].Error != "" || log[1].Dead) {
				t.Errorf("the retry at Stop logged %+v, want a success", log[1])
			}
			if !recovers && !log[1].Dead {
				t.Errorf("the failed retry at Stop logged %+v, want it dead", log[1])
			}
		})
	}
}

// crashingQueue is an in-process queue on which the first run of every job
// fails before its handler has done anything, as when the process running
// it dies and a durable queue's rescuer takes the job up again, counting
// the lost run as one of its attempts.
type crashingQueue struct {
	*queue.Memory
	mu     sync.Mutex
	failed map[string]bool // by payload
}

func (q *crashingQueue) Handle(kind string, h queue.Handler) {
	q.Memory.Handle(kind, func(ctx context.Context, job queue.Job, attempt int) error {
		q.mu.Lock()
		first := !q.failed[string(job.Payload)]
		q.failed[string(job.Payload)] = true
		q.mu.Unlock()
		if first {
			return errors.New("the process died")
		}
		return h(ctx, job, attempt)
	})
}

// TestAttemptRunAgainByTheQueue checks that a delivery attempt whose job
// the queue must run again is still made: the event is not lost with the
// run that died.
func TestAttemptRunAgainByTheQueue(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	r := newReceiver(t, []string{secret}, nil)
	q := &crashingQueue{
		Memory: queue.NewMemory(&queue.MemoryOptions{Logger: quiet, Backoff: func(int) time.Duration { return time.Millisecond }}),
		failed: map[string]bool{},
	}
	d, err := webhook.New(webhook.Options{Queue: q, Schedule: short, Logger: quiet, Endpoints: []webhook.Endpoint{operator("ops", r.URL, secret)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		q.Stop(sctx)
	})
	id := send(t, d, webhook.TypeReady, "", map[string]string{"id": "u1"})
	waitFor(t, "the delivery", func() bool { return len(r.requests()) == 1 })
	got := r.requests()[0]
	if got.err != nil || got.header.Get(webhook.HeaderID) != id {
		t.Fatalf("request: webhook-id %q, Verify %v; want %s, nil", got.header.Get(webhook.HeaderID), got.err, id)
	}
	if del := deliveries(t, d, "config:ops", 1)[0]; del.Error != "" || del.Attempt != 1 {
		t.Errorf("logged attempt %d, error %q; want 1, none", del.Attempt, del.Error)
	}
}

// limitedQueue is an in-process queue that bounds each run of a job to
// limit, as a durable queue's time limit on a job does.
type limitedQueue struct {
	*queue.Memory
	limit time.Duration
}

func (q *limitedQueue) Handle(kind string, h queue.Handler) {
	q.Memory.Handle(kind, func(ctx context.Context, job queue.Job, attempt int) error {
		ctx, cancel := context.WithTimeout(ctx, q.limit)
		defer cancel()
		return h(ctx, job, attempt)
	})
}

// TestAttemptOutlivesItsJob checks that when the queue's time limit on a
// job ends an attempt before Timeout does, the attempt is still logged and
// the next one made on the schedule, until the receiver answers.
func TestAttemptOutlivesItsJob(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	const held = 6 // more than a delivery's job has runs
	r := newReceiver(t, []string{secret}, func(n int, w http.ResponseWriter) {
		if n < held {
			time.Sleep(500 * time.Millisecond) // past the job's limit
		}
		w.WriteHeader(http.StatusNoContent)
	})
	q := &limitedQueue{queue.NewMemory(&queue.MemoryOptions{Logger: quiet, Backoff: func(int) time.Duration { return time.Millisecond }}), 50 * time.Millisecond}
	d, err := webhook.New(webhook.Options{Queue: q, Schedule: short, Logger: quiet, Endpoints: []webhook.Endpoint{operator("ops", r.URL, secret)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		q.Stop(sctx)
	})
	id := send(t, d, webhook.TypeReady, "", map[string]string{"id": "u1"})
	got := deliveries(t, d, "config:ops", held+1)
	for i, del := range got {
		if del.EventID != id || del.Attempt != i+1 || del.Dead {
			t.Errorf("attempt %d: event %s, attempt %d, dead %v", i+1, del.EventID, del.Attempt, del.Dead)
		}
		if i < held && !strings.Contains(del.Error, "context deadline exceeded") {
			t.Errorf("attempt %d: error %q, want the job's context's", i+1, del.Error)
		}
	}
	if last := got[held]; last.Error != "" || last.StatusCode != http.StatusNoContent {
		t.Errorf("last attempt: status %d, error %q; want 204", last.StatusCode, last.Error)
	}
}

// OnAttempt is told each attempt's result: failures while attempts are
// left, then dead; success for an endpoint that answers 2xx.
func TestOnAttempt(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string][]string{}
	onAttempt := func(name string) func(string) {
		return func(result string) {
			mu.Lock()
			got[name] = append(got[name], result)
			mu.Unlock()
		}
	}
	secret := webhook.NewSecret()
	for _, tc := range []struct {
		name   string
		status int
		want   []string
	}{
		{"ok", http.StatusNoContent, []string{webhook.AttemptSuccess}},
		{"down", http.StatusServiceUnavailable, []string{webhook.AttemptFailure, webhook.AttemptDead}},
	} {
		rcv := newReceiver(t, []string{secret}, func(n int, w http.ResponseWriter) { w.WriteHeader(tc.status) })
		d := setup(t, webhook.Options{
			Endpoints: []webhook.Endpoint{operator("ops", rcv.URL, secret)},
			Schedule:  []time.Duration{10 * time.Millisecond},
			OnAttempt: onAttempt(tc.name),
		})
		send(t, d, webhook.TypeReady, "", nil)
		waitFor(t, tc.name+"'s attempts", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got[tc.name]) >= len(tc.want)
		})
		time.Sleep(50 * time.Millisecond) // no further attempt
		mu.Lock()
		if !slices.Equal(got[tc.name], tc.want) {
			t.Errorf("%s: OnAttempt told %v, want %v", tc.name, got[tc.name], tc.want)
		}
		mu.Unlock()
	}
}

// A delivery that cannot connect logs why, but not its endpoint's URL,
// whose path and query may hold a token.
func TestFailureLogHidesTheURL(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the connection is refused
	secret := webhook.NewSecret()
	d := setup(t, webhook.Options{
		Endpoints: []webhook.Endpoint{operator("ops", "http://"+addr+"/hooks/T0KEN-PATH?token=S3CRET-QUERY", secret)},
		Schedule:  []time.Duration{10 * time.Millisecond},
	})
	send(t, d, webhook.TypeReady, "", nil)
	for _, del := range deliveries(t, d, "config:ops", 2) {
		if del.Error == "" || strings.Contains(del.Error, "S3CRET-QUERY") || strings.Contains(del.Error, "T0KEN-PATH") {
			t.Errorf("attempt %d logged the error %q: want the cause without the URL", del.Attempt, del.Error)
		}
		if !strings.Contains(del.Error, "refused") {
			t.Errorf("attempt %d logged %q, want the refused connection named", del.Attempt, del.Error)
		}
	}
}
