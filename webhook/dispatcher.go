package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/internal/tracing"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/store"
)

// JobKind is the kind of the queue jobs of delivery attempts.
const JobKind = "carcosa.webhook"

// DefaultSchedule is the wait before each attempt after the first, after a
// failure, as the Standard Webhooks specification suggests: 8 attempts over
// about 28 hours.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Defaults of Options.
const (
	DefaultTimeout       = 15 * time.Second
	DefaultRotationGrace = 24 * time.Hour
)

// operatorPrefix starts the EndpointID of an operator's endpoint in the
// delivery log.
const operatorPrefix = "config:"

// Endpoint is an endpoint of the operator, from configuration. It is
// trusted: its URL may name any address, loopback included.
type Endpoint struct {
	// Name identifies the endpoint; its deliveries are logged with
	// EndpointID "config:<Name>". Unique among the operator's endpoints.
	Name string
	// URL receives the POSTs: http or https.
	URL string
	// Secrets sign every request, "whsec_<base64>"; several during a
	// rotation. At least one.
	Secrets []string
	// Types are the event types sent (see Types); none means all.
	Types []string
}

// ID returns the EndpointID of e's deliveries: "config:<Name>".
func (e Endpoint) ID() string { return operatorPrefix + e.Name }

// Validate reports what is wrong with e, naming the field.
func (e Endpoint) Validate() error {
	if e.Name == "" {
		return errors.New("Name is empty")
	}
	if err := checkURL(e.URL); err != nil {
		return fmt.Errorf("URL: %w", err)
	}
	if len(e.Secrets) == 0 {
		return errors.New("Secrets is empty")
	}
	for i, s := range e.Secrets {
		if _, err := ParseSecret(s); err != nil {
			return fmt.Errorf("Secrets[%d]: %w", i, err)
		}
	}
	return checkTypes(e.Types)
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func checkTypes(types []string) error {
	for i, t := range types {
		if !isType(t) {
			return fmt.Errorf("Types[%d]: unknown event type %q", i, t)
		}
	}
	return nil
}

// Options configure a Dispatcher.
type Options struct {
	// Queue runs the deliveries. Required; New registers JobKind on it,
	// so it must not have started.
	Queue queue.Queue
	// Store keeps events, tenants' endpoints and the delivery log.
	// Defaults to one in memory, which forgets the oldest past 10,000
	// events or deliveries and everything when the process ends.
	Store store.Webhooks
	// Endpoints are the operator's: they receive every tenant's events.
	Endpoints []Endpoint
	// Fetch configures the client of tenants' endpoints, which refuses
	// loopback, private and metadata addresses. Its Timeout defaults to
	// Timeout.
	Fetch safefetch.Options
	// Logger receives failed and dead deliveries. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Schedule is the wait before each attempt after the first; a delivery
	// is dead after len(Schedule)+1 failed attempts. Defaults to
	// DefaultSchedule.
	Schedule []time.Duration
	// Timeout bounds each attempt; any 2xx answer within it is a success.
	// Defaults to 15 seconds.
	Timeout time.Duration
	// RotationGrace is how long a rotated secret still signs. Defaults to
	// 24 hours.
	RotationGrace time.Duration
	// OnAttempt, if set, is told the result of each delivery attempt once
	// it is logged: AttemptSuccess, AttemptFailure (another attempt
	// follows) or AttemptDead (none does). It must return quickly; metrics
	// attach here. None by default.
	OnAttempt func(result string)
	// TracerProvider, if set, traces each delivery attempt as a span that
	// continues the trace of the context Send was given, and sends the
	// endpoint a traceparent header. None by default.
	TracerProvider trace.TracerProvider
}

// The results of a delivery attempt, as Options.OnAttempt is told them.
const (
	AttemptSuccess = "success"
	AttemptFailure = "failure"
	AttemptDead    = "dead"
)

// Dispatcher sends events to endpoints through a queue. Its methods are
// safe for concurrent use.
type Dispatcher struct {
	queue    queue.Queue
	store    store.Webhooks
	operator map[string]Endpoint // by ID()
	order    []string            // operator endpoint IDs, as configured
	fetch    *safefetch.Client
	http     *http.Client
	log      *slog.Logger
	schedule []time.Duration
	timeout  time.Duration
	grace    time.Duration
	onTry    func(result string) // nil without Options.OnAttempt
	tracer   trace.Tracer        // a no-op one without Options.TracerProvider

	mu       sync.Mutex
	disabled map[string]bool // operator endpoints disabled by SetEnabled
}

// New returns a Dispatcher and registers its job kind on opts.Queue. It
// returns an error naming the field when an option is invalid.
func New(opts Options) (*Dispatcher, error) {
	if opts.Queue == nil {
		return nil, errors.New("webhook: Options.Queue is nil")
	}
	d := &Dispatcher{
		queue:    opts.Queue,
		store:    opts.Store,
		operator: map[string]Endpoint{},
		log:      opts.Logger,
		schedule: slices.Clone(opts.Schedule),
		timeout:  opts.Timeout,
		grace:    opts.RotationGrace,
		onTry:    opts.OnAttempt,
		tracer:   tracing.Tracer(opts.TracerProvider),
		disabled: map[string]bool{},
	}
	if d.store == nil {
		d.store = newMemoryLog()
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.schedule == nil {
		d.schedule = slices.Clone(DefaultSchedule)
	}
	for i, w := range d.schedule {
		if w < 0 {
			return nil, fmt.Errorf("webhook: Options.Schedule[%d] is negative", i)
		}
	}
	if d.timeout < 0 || d.grace < 0 {
		return nil, errors.New("webhook: Options.Timeout and RotationGrace must not be negative")
	}
	if d.timeout == 0 {
		d.timeout = DefaultTimeout
	}
	if d.grace == 0 {
		d.grace = DefaultRotationGrace
	}
	for i, e := range opts.Endpoints {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("webhook: Options.Endpoints[%d]: %w", i, err)
		}
		if _, dup := d.operator[e.ID()]; dup {
			return nil, fmt.Errorf("webhook: Options.Endpoints[%d]: Name %q is taken", i, e.Name)
		}
		e.Secrets, e.Types = slices.Clone(e.Secrets), slices.Clone(e.Types)
		d.operator[e.ID()] = e
		d.order = append(d.order, e.ID())
	}
	fo := opts.Fetch
	if fo.Timeout == 0 {
		fo.Timeout = d.timeout
	}
	if err := fo.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: Options.Fetch: %w", err)
	}
	d.fetch = safefetch.New(fo)
	d.http = &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	d.queue.Handle(JobKind, d.work)
	return d, nil
}

// delivery is the payload of a JobKind job: one attempt.
type delivery struct {
	Event    string `json:"event"`
	Endpoint string `json:"endpoint"`
	Attempt  int    `json:"attempt"`
	// Trace is the traceparent of the context Send was given; "" when it
	// had no span.
	Trace string `json:"traceparent,omitempty"`
}

// Send stores the event and enqueues a delivery to every enabled endpoint
// subscribed to its type: the operator's, and those of e.Tenant. It makes
// no request itself, so it is quick enough for an Observer. It returns the
// event's ID, the webhook-id of its requests, or "" when no endpoint is
// subscribed (nothing is stored then); the error joins those of every
// enqueue that failed.
func (d *Dispatcher) Send(ctx context.Context, e Event) (string, error) {
	if !isType(e.Type) {
		return "", fmt.Errorf("webhook: unknown event type %q", e.Type)
	}
	data, ok := e.Data.(json.RawMessage)
	if !ok {
		var err error
		if data, err = json.Marshal(e.Data); err != nil {
			return "", fmt.Errorf("webhook: encoding the event's data: %w", err)
		}
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	body, err := json.Marshal(Body{Type: e.Type, Timestamp: e.Time.UTC(), Data: data})
	if err != nil {
		return "", fmt.Errorf("webhook: encoding the event: %w", err)
	}
	var targets []string
	for _, id := range d.order {
		if op := d.operator[id]; subscribed(op.Types, e.Type) && !d.operatorDisabled(id) {
			targets = append(targets, id)
		}
	}
	if e.Tenant != "" {
		eps, err := d.store.ListEndpoints(ctx, e.Tenant)
		if err != nil {
			return "", fmt.Errorf("webhook: listing endpoints of tenant %q: %w", e.Tenant, err)
		}
		for _, ep := range eps {
			if !ep.Disabled && subscribed(ep.Types, e.Type) {
				targets = append(targets, ep.ID)
			}
		}
	}
	if len(targets) == 0 {
		return "", nil // nobody listens: nothing to store
	}
	id := e.ID
	if id == "" {
		id = newID("msg_")
	}
	ev := &store.WebhookEvent{ID: id, Type: e.Type, Tenant: e.Tenant, Body: body, CreatedAt: e.Time}
	if err := d.store.PutEvent(ctx, ev); err != nil {
		return "", fmt.Errorf("webhook: storing event: %w", err)
	}
	var errs []error
	tp := tracing.Parent(ctx)
	for _, id := range targets {
		errs = append(errs, d.enqueue(ctx, delivery{Event: ev.ID, Endpoint: id, Attempt: 1, Trace: tp}, time.Time{}))
	}
	return ev.ID, errors.Join(errs...)
}

func subscribed(types []string, t string) bool { return len(types) == 0 || slices.Contains(types, t) }

func (d *Dispatcher) operatorDisabled(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.disabled[id]
}

// jobAttempts is how many times the queue runs the job of one delivery
// attempt. The Dispatcher keeps the schedule of attempts itself, but the
// queue must be able to run an attempt's job again: a durable queue's
// rescuer discards a job whose process died mid-attempt once it has no
// attempt left, and the event would then never be delivered, nor logged
// dead. A handler error (the next attempt could not be enqueued) is
// retried the same way.
const jobAttempts = 5

func (d *Dispatcher) enqueue(ctx context.Context, p delivery, at time.Time) error {
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := d.queue.Enqueue(ctx, queue.Job{Kind: JobKind, Payload: payload, MaxAttempts: jobAttempts, RunAt: at}); err != nil {
		return fmt.Errorf("webhook: enqueueing delivery of %s to %s: %w", p.Event, p.Endpoint, err)
	}
	return nil
}

// target is where an attempt goes.
type target struct {
	url      string
	secrets  []string
	disabled bool
	trusted  bool // the operator's: any address
}

// target finds endpoint id; store.ErrNotFound when it is gone.
func (d *Dispatcher) target(ctx context.Context, id string) (target, error) {
	if op, ok := d.operator[id]; ok {
		return target{url: op.URL, secrets: op.Secrets, disabled: d.operatorDisabled(id), trusted: true}, nil
	}
	if strings.HasPrefix(id, operatorPrefix) {
		return target{}, store.ErrNotFound // removed from configuration
	}
	ep, err := d.store.GetEndpoint(ctx, id)
	if err != nil {
		return target{}, err
	}
	return target{url: ep.URL, secrets: signing(ep, time.Now()), disabled: ep.Disabled}, nil
}

// signing returns the secrets that sign for ep at now.
func signing(ep *store.WebhookEndpoint, now time.Time) []string {
	if len(ep.Secrets) > 1 && now.Before(ep.Rotating) {
		return ep.Secrets
	}
	return ep.Secrets[:min(1, len(ep.Secrets))]
}

// work makes one attempt, logs it and, after a failure, enqueues the next
// on the schedule or marks the delivery dead.
func (d *Dispatcher) work(ctx context.Context, job queue.Job, _ int) error {
	var p delivery
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.Attempt < 1 {
		return queue.Cancel(fmt.Errorf("webhook: malformed job payload %s", job.Payload))
	}
	// Only an in-process queue that is stopping runs a job well before
	// its RunAt (a durable queue may run it a little early by another
	// instance's clock); then the schedule cannot be kept, and the
	// delivery is dead after this attempt if it fails (ReplayDead sends it
	// again).
	early := time.Until(job.RunAt) > time.Second
	rec := &store.WebhookDelivery{EventID: p.Event, EndpointID: p.Endpoint, Attempt: p.Attempt, At: time.Now()}

	ev, err := d.store.GetEvent(ctx, p.Event)
	if errors.Is(err, store.ErrNotFound) {
		return queue.Cancel(fmt.Errorf("webhook: event %s is gone", p.Event))
	}
	var t target
	if err == nil {
		t, err = d.target(ctx, p.Endpoint)
		if errors.Is(err, store.ErrNotFound) {
			d.log.Info("webhook: endpoint removed; delivery dropped", "event", p.Event, "endpoint", p.Endpoint)
			return nil
		}
	}
	switch {
	case err != nil:
		rec.Error = "loading the delivery: " + err.Error()
	case t.disabled:
		rec.Error = "endpoint disabled"
		rec.Dead = true
	default:
		start := time.Now()
		rec.StatusCode, err = d.attempt(ctx, p, t, ev)
		rec.Latency = time.Since(start)
		if err != nil {
			rec.Error = err.Error()
		}
	}
	// The job's context may have ended during the attempt (a queue's time
	// limit on a job shorter than Timeout, or a stop); the attempt must
	// still be logged and the next one enqueued, or the event is lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if rec.Error != "" && (p.Attempt > len(d.schedule) || early) {
		rec.Dead = true
	}
	if err := d.store.AppendDelivery(ctx, rec); err != nil {
		d.log.Error("webhook: logging a delivery attempt", "event", p.Event, "endpoint", p.Endpoint, "attempt", p.Attempt, "error", err)
	}
	if d.onTry != nil {
		switch {
		case rec.Error == "":
			d.onTry(AttemptSuccess)
		case rec.Dead:
			d.onTry(AttemptDead)
		default:
			d.onTry(AttemptFailure)
		}
	}
	switch {
	case rec.Error == "":
		return nil
	case rec.Dead:
		d.log.Error("webhook: delivery dead", "event", p.Event, "endpoint", p.Endpoint, "attempts", p.Attempt, "error", rec.Error)
		return nil
	}
	wait := d.schedule[p.Attempt-1]
	d.log.Warn("webhook: delivery attempt failed", "event", p.Event, "endpoint", p.Endpoint, "attempt", p.Attempt,
		"retry_in", wait, "error", rec.Error)
	return d.enqueue(ctx, delivery{Event: p.Event, Endpoint: p.Endpoint, Attempt: p.Attempt + 1, Trace: p.Trace}, time.Now().Add(wait))
}

// attempt posts ev to t, as post, inside a span continuing p's trace.
func (d *Dispatcher) attempt(ctx context.Context, p delivery, t target, ev *store.WebhookEvent) (int, error) {
	ctx, span := d.tracer.Start(tracing.WithParent(ctx, p.Trace), "carcosa.webhook", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("carcosa.webhook.event_id", ev.ID),
			attribute.String("carcosa.webhook.event_type", ev.Type),
			attribute.String("carcosa.webhook.endpoint_id", p.Endpoint),
			tracing.Attempt.Int(p.Attempt),
		))
	code, err := d.post(ctx, t, ev)
	if code != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", code))
	}
	tracing.End(span, err)
	return code, err
}

// bookkeepingTimeout bounds the logging of an attempt and the enqueueing of
// the next, once the attempt is over.
const bookkeepingTimeout = 30 * time.Second

// maxDrain is how much of an answer's body is read, so that the
// connection can be reused; the rest is dropped with the connection.
const maxDrain = 64 << 10

// post sends ev to t once and returns the answer's status, 0 when none
// came, and an error unless it is 2xx.
func (d *Dispatcher) post(ctx context.Context, t target, ev *store.WebhookEvent) (int, error) {
	h, err := Header(ev.ID, time.Now(), ev.Body, t.secrets)
	if err != nil {
		return 0, err
	}
	h.Set("Content-Type", "application/json")
	tracing.Inject(ctx, propagation.HeaderCarrier(h))
	if !t.trusted {
		resp, err := d.fetch.Post(ctx, t.url, h, ev.Body)
		if err != nil {
			var se *safefetch.StatusError
			if errors.As(err, &se) {
				return se.Status, fmt.Errorf("answered %d", se.Status)
			}
			return 0, fmt.Errorf("%s: %w", safefetch.Code(err), err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		resp.Body.Close()
		return resp.Status, nil
	}
	parent := ctx // when it ends first, its error is reported
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(ev.Body))
	if err != nil {
		return 0, err
	}
	req.Header = h
	resp, err := d.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
			return 0, fmt.Errorf("no answer within %v", d.timeout)
		}
		// The delivery log and the logs keep the error: not the URL, which
		// may hold a token.
		return 0, safefetch.WithoutURL(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
