package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/internal/logctx"
)

func lastLine(t *testing.T, b *bytes.Buffer) map[string]any {
	t.Helper()
	lines := bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n"))
	var m map[string]any
	if err := json.Unmarshal(lines[len(lines)-1], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	l := logctx.Logger(slog.New(slog.NewJSONHandler(&b, nil)))
	if logctx.Logger(l) != l {
		t.Error("a wrapped logger is wrapped again")
	}

	l.Info("no request")
	if m := lastLine(t, &b); m["request_id"] != nil || m["trace_id"] != nil {
		t.Errorf("a line without a request: %v", m)
	}

	ctx, req := logctx.WithRequest(context.Background(), "r1")
	l.With("k", "v").InfoContext(ctx, "in a request")
	if m := lastLine(t, &b); m["request_id"] != "r1" || m["k"] != "v" || m["trace_id"] != nil {
		t.Errorf("a line of a request: %v", m)
	}

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	l.InfoContext(trace.ContextWithSpanContext(ctx, sc), "traced")
	if m := lastLine(t, &b); m["request_id"] != "r1" || m["trace_id"] != sc.TraceID().String() || m["span_id"] != sc.SpanID().String() {
		t.Errorf("a traced line: %v", m)
	}

	logctx.AddUpload(ctx, "u1")
	logctx.AddUpload(ctx, "u2")
	logctx.AddUpload(ctx, "u1")
	logctx.AddUpload(context.Background(), "u3") // no request: nothing
	if got := req.Uploads(); len(got) != 2 || got[0] != "u1" || got[1] != "u2" {
		t.Errorf("uploads %v, want [u1 u2]", got)
	}
	if logctx.RequestID(context.Background()) != "" || logctx.RequestID(ctx) != "r1" {
		t.Error("RequestID")
	}
}
