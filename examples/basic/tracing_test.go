package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes each export's
// protobuf and keeps its spans, with the service that sent them.
type otlpReceiver struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	service string
	bad     []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var msg coltracepb.ExportTraceServiceRequest
	o.mu.Lock()
	defer o.mu.Unlock()
	if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		o.bad = append(o.bad, req.Method+" "+req.URL.Path+" "+req.Header.Get("Content-Type"))
	}
	if err := proto.Unmarshal(body, &msg); err != nil {
		o.bad = append(o.bad, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, rs := range msg.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				o.service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

// TestTracesExportedByOTLP runs the example with OTEL_EXPORTER_OTLP_ENDPOINT
// naming a receiver, uploads with a browser's traceparent, and finds the
// request's and the stages' spans in the receiver, in the browser's trace.
func TestTracesExportedByOTLP(t *testing.T) {
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // milliseconds between batches
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	base := startServerWith(t, options{Data: t.TempDir(), Traces: true})

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	client := &http.Client{Timeout: 30 * time.Second}
	data := []byte("hello, traces\n")
	resp, body := send(t, client, http.MethodPost, base+"/api/uploads/tus/", data, map[string]string{
		"Upload-Length":   strconv.Itoa(len(data)),
		"Upload-Metadata": "route " + b64("documents") + ",filename " + b64("hello.txt"),
		"Content-Type":    "application/offset+octet-stream",
		"traceparent":     "00-" + traceID + "-00f067aa0ba902b7-01",
	})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus creation with upload: %s, Upload-State %q %s", resp.Status, resp.Header.Get("Upload-State"), truncate(body))
	}

	want := map[string]bool{"/tus/": false, "carcosa.verify": false, "carcosa.store": false, "carcosa.callback": false}
	deadline := time.Now().Add(20 * time.Second)
	for {
		rcv.mu.Lock()
		for _, s := range rcv.spans {
			if _, ok := want[s.Name]; ok && hex.EncodeToString(s.TraceId) == traceID {
				want[s.Name] = true
			}
		}
		service, bad := rcv.service, rcv.bad
		rcv.mu.Unlock()
		missing := 0
		for _, got := range want {
			if !got {
				missing++
			}
		}
		if len(bad) > 0 {
			t.Fatalf("the receiver got malformed exports: %v", bad)
		}
		if missing == 0 {
			if service != "carcosa-example" {
				t.Errorf("service.name %q, want carcosa-example", service)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans in trace %s after 20s: %v", traceID, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
