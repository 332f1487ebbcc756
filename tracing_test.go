package carcosa_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/webhook"
)

// The trace and parent span of the browser's request in these tests.
const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan   = "00f067aa0ba902b7"
	clientParent = "00-" + clientTrace + "-" + clientSpan + "-01"
)

// hookTraces receives webhooks and keeps the traceparent of each, by the
// event's type.
type hookTraces struct {
	mu     sync.Mutex
	byType map[string]string
}

func newHookReceiver(t *testing.T) (*hookTraces, *httptest.Server) {
	h := &hookTraces{byType: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		var body struct {
			Type string `json:"type"`
		}
		json.Unmarshal(raw, &body)
		h.mu.Lock()
		h.byType[body.Type] = req.Header.Get("traceparent")
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return h, srv
}

// wait returns the traceparent the webhook of type typ came with.
func (h *hookTraces) wait(t *testing.T, typ string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		tp, ok := h.byType[typ]
		h.mu.Unlock()
		if ok {
			return tp
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s webhook within 10s", typ)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// spanNamed waits until sr has ended a span named name that match accepts,
// and returns it.
func spanNamed(t *testing.T, sr *tracetest.SpanRecorder, name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range sr.Ended() {
			if s.Name() == name && (match == nil || match(s)) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range sr.Ended() {
				names = append(names, s.Name())
			}
			t.Fatalf("no span %q among %v", name, names)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func hasAttr(key, want string) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool { return attr(s, key).Emit() == want }
}

// TestTraceOfAnUploadToItsWebhook follows one browser upload, sent with a
// traceparent, through its request, its processing stages and callback to
// the webhooks it causes: one trace, each span a child of the one before,
// and the webhook request carries the trace on.
func TestTraceOfAnUploadToItsWebhook(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	hooks, rcv := newHookReceiver(t)
	tb := setupGalleryConfig(t, func(c *carcosa.Config) {
		c.TracerProvider = tp
		c.Webhooks = []webhook.Endpoint{{Name: "ops", URL: rcv.URL, Secrets: []string{webhook.NewSecret()}}}
		c.Scanner = scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
			_, err := io.Copy(io.Discard, r)
			return scan.Verdict{}, err
		})
	})
	body, ct := multipartBody(t, part{field: "file", name: "a.png", ctype: "image/png", data: pngBytes(t, 64)})
	resp, raw := tb.do(t, "POST", tb.url("/routes/gallery"), "alice", body, map[string]string{
		"Content-Type": ct, "traceparent": clientParent,
	})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	var res multipartResult
	if err := json.Unmarshal(raw, &res); err != nil || len(res.Uploads) != 1 {
		t.Fatalf("%s: %v", raw, err)
	}
	id := res.Uploads[0].ID

	srv := spanNamed(t, sr, "POST /routes/{route}", nil)
	if got := srv.SpanContext().TraceID().String(); got != clientTrace {
		t.Fatalf("request span's trace %s, want the client's %s", got, clientTrace)
	}
	if p := srv.Parent(); p.SpanID().String() != clientSpan || !p.IsRemote() {
		t.Errorf("request span's parent %v, want the client's span %s, remote", p.SpanID(), clientSpan)
	}
	if srv.SpanKind() != trace.SpanKindServer {
		t.Errorf("request span kind %v", srv.SpanKind())
	}
	for k, want := range map[string]string{
		"carcosa.upload.id": id, "carcosa.route": "gallery", "http.response.status_code": "201",
		"http.route": "POST /routes/{route}", "url.path": base + "/routes/gallery",
		"carcosa.request_id": resp.Header.Get("X-Request-ID"),
	} {
		if got := attr(srv, k).Emit(); got != want {
			t.Errorf("request span %s = %q, want %q", k, got, want)
		}
	}
	for _, stage := range []string{"carcosa.scan", "carcosa.derivatives", "carcosa.callback"} {
		s := spanNamed(t, sr, stage, hasAttr("carcosa.upload.id", id))
		if s.SpanContext().TraceID() != srv.SpanContext().TraceID() || s.Parent().SpanID() != srv.SpanContext().SpanID() {
			t.Errorf("%s: trace %s parent %s, want a child of the request span %s", stage,
				s.SpanContext().TraceID(), s.Parent().SpanID(), srv.SpanContext().SpanID())
		}
		if attr(s, "carcosa.route").Emit() != "gallery" || attr(s, "carcosa.upload.size").AsInt64() <= 0 {
			t.Errorf("%s attributes %v", stage, s.Attributes())
		}
	}
	for _, typ := range []string{webhook.TypeCreated, webhook.TypeReady} {
		sent := hooks.wait(t, typ)
		s := spanNamed(t, sr, "carcosa.webhook", hasAttr("carcosa.webhook.event_type", typ))
		if s.SpanContext().TraceID().String() != clientTrace {
			t.Errorf("%s delivery span in trace %s, want %s", typ, s.SpanContext().TraceID(), clientTrace)
		}
		if want := "00-" + clientTrace + "-" + s.SpanContext().SpanID().String() + "-01"; sent != want {
			t.Errorf("%s webhook sent traceparent %q, want %q (its delivery span)", typ, sent, want)
		}
		if attr(s, "http.response.status_code").AsInt64() != 200 || s.Status().Code != 0 {
			t.Errorf("%s delivery span: attributes %v status %v", typ, s.Attributes(), s.Status())
		}
	}
	rec, err := tb.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Trace, clientTrace) {
		t.Errorf("record's Trace %q, want the request's trace %s", rec.Trace, clientTrace)
	}
}

// TestTraceOfABackgroundRetry: a scan that fails leaves the upload to a
// background job; the job's span continues the request's trace, and the
// scan it retries is its child.
func TestTraceOfABackgroundRetry(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	var calls atomic.Int32
	tb := setupGalleryConfig(t, func(c *carcosa.Config) {
		c.TracerProvider = tp
		c.Scanner = scan.Func(func(ctx context.Context, r io.Reader) (scan.Verdict, error) {
			io.Copy(io.Discard, r)
			if calls.Add(1) == 1 {
				return scan.Verdict{}, errors.New("clamd is restarting")
			}
			return scan.Verdict{}, nil
		})
	})
	// The first request starts the Router: its trace must not become
	// that of the background work.
	if resp, _ := tb.do(t, "GET", tb.url("/routes"), "", nil, map[string]string{
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}); resp.StatusCode != 200 {
		t.Fatalf("GET /routes: %d", resp.StatusCode)
	}
	body, ct := multipartBody(t, part{field: "file", name: "a.png", ctype: "image/png", data: pngBytes(t, 16)})
	resp, raw := tb.do(t, "POST", tb.url("/routes/gallery"), "alice", body, map[string]string{
		"Content-Type": ct, "traceparent": clientParent,
	})
	if resp.StatusCode != 503 {
		t.Fatalf("%d %s; want 503 while the scanner fails", resp.StatusCode, raw)
	}
	job := spanNamed(t, sr, "carcosa.process", nil)
	id := attr(job, "carcosa.upload.id").AsString()
	if job.SpanContext().TraceID().String() != clientTrace || job.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("job span: trace %s kind %v, want the request's trace %s, consumer", job.SpanContext().TraceID(), job.SpanKind(), clientTrace)
	}
	if job.Status().Code != 0 {
		t.Errorf("job span status %v, want unset: the retry succeeded", job.Status())
	}
	failed := spanNamed(t, sr, "carcosa.scan", func(s sdktrace.ReadOnlySpan) bool { return s.Status().Code != 0 })
	if failed.SpanContext().TraceID().String() != clientTrace || len(failed.Events()) == 0 {
		t.Errorf("the failed scan span: trace %s events %v; want the request's trace and the error recorded", failed.SpanContext().TraceID(), failed.Events())
	}
	retried := spanNamed(t, sr, "carcosa.scan", func(s sdktrace.ReadOnlySpan) bool { return s.Parent().SpanID() == job.SpanContext().SpanID() })
	if retried.Status().Code != 0 {
		t.Errorf("retried scan status %v", retried.Status())
	}
	rec, err := tb.store.Get(context.Background(), id)
	if err != nil || rec.State != store.Ready {
		t.Fatalf("record after the retry: %+v, %v", rec, err)
	}
}

// TestTraceOfATusUpload: the creation and the last PATCH are spans of the
// requests that carried them, the PATCH's holding the verify and store
// stages, and both name the upload.
func TestTraceOfATusUpload(t *testing.T) {
	t.Parallel()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.TracerProvider = tp })
	data := []byte(strings.Repeat("traced bytes\n", 1000))
	resp, raw := tb.tusCreate(t, "alice", int64(len(data)),
		tusMetadata("route", "files", "filename", "a.txt", "filetype", "text/plain"), map[string]string{"traceparent": clientParent})
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, raw)
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	const patchTrace = "0af7651916cd43dd8448eb211c80319c"
	resp, raw = tb.tusPatch(t, loc, "alice", 0, data, map[string]string{"traceparent": "00-" + patchTrace + "-b7ad6b7169203331-01"})
	if resp.StatusCode != 204 {
		t.Fatalf("patch: %d %s", resp.StatusCode, raw)
	}
	create := spanNamed(t, sr, "/tus/", func(s sdktrace.ReadOnlySpan) bool { return attr(s, "http.request.method").AsString() == "POST" })
	if create.SpanContext().TraceID().String() != clientTrace || attr(create, "carcosa.upload.id").AsString() != id {
		t.Errorf("creation span: trace %s attributes %v; want trace %s and upload %s", create.SpanContext().TraceID(), create.Attributes(), clientTrace, id)
	}
	patch := spanNamed(t, sr, "/tus/", func(s sdktrace.ReadOnlySpan) bool { return attr(s, "http.request.method").AsString() == "PATCH" })
	if patch.SpanContext().TraceID().String() != patchTrace || attr(patch, "carcosa.upload.id").AsString() != id {
		t.Errorf("PATCH span: trace %s attributes %v", patch.SpanContext().TraceID(), patch.Attributes())
	}
	for _, stage := range []string{"carcosa.verify", "carcosa.store"} {
		s := spanNamed(t, sr, stage, hasAttr("carcosa.upload.id", id))
		if s.SpanContext().TraceID().String() != patchTrace {
			t.Errorf("%s in trace %s, want the PATCH's %s", stage, s.SpanContext().TraceID(), patchTrace)
		}
	}
	rec, err := tb.store.Get(context.Background(), id)
	if err != nil || rec.State != store.Ready || !strings.Contains(rec.Trace, clientTrace) {
		t.Fatalf("record %+v, %v; want ready, with the creation's trace", rec, err)
	}
}

// TestUntracedIgnoresTraceparent: without a TracerProvider, an incoming
// traceparent is not recorded anywhere.
func TestUntracedIgnoresTraceparent(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	body, ct := multipartBody(t, part{field: "file", name: "a.png", ctype: "image/png", data: pngBytes(t, 16)})
	resp, raw := tb.do(t, "POST", tb.url("/routes/files"), "alice", body, map[string]string{
		"Content-Type": ct, "traceparent": clientParent,
	})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	var res multipartResult
	json.Unmarshal(raw, &res)
	rec, err := tb.store.Get(context.Background(), res.Uploads[0].ID)
	if err != nil || rec.Trace != "" {
		t.Fatalf("record Trace %q, %v; want none without tracing", rec.Trace, err)
	}
}
