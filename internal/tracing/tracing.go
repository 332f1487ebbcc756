// Package tracing holds what Carcosa's packages share to trace with
// OpenTelemetry: the tracer of a TracerProvider (a no-op one without), and
// the W3C trace context carried as a traceparent string through what
// outlives a request — records, queue jobs and webhook deliveries.
package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Name is the instrumentation scope of Carcosa's spans.
const Name = "github.com/carcosa-dev/carcosa"

// The attributes Carcosa sets on its spans.
const (
	UploadID  = attribute.Key("carcosa.upload.id")
	UploadIDs = attribute.Key("carcosa.upload.ids") // of a request about several uploads
	Route     = attribute.Key("carcosa.route")
	Size      = attribute.Key("carcosa.upload.size")
	Stage     = attribute.Key("carcosa.stage")
	Attempt   = attribute.Key("carcosa.attempt")
)

// Tracer returns the tracer of tp, or a no-op one when tp is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(Name)
}

// propagator reads and writes the traceparent and tracestate headers.
var propagator = propagation.TraceContext{}

// Extract returns ctx with the remote span context h carries, if any.
func Extract(ctx context.Context, h propagation.TextMapCarrier) context.Context {
	return propagator.Extract(ctx, h)
}

// Inject writes the span context of ctx into h, when it has one.
func Inject(ctx context.Context, h propagation.TextMapCarrier) {
	propagator.Inject(ctx, h)
}

// Parent returns the traceparent of the span of ctx, "" when it has none.
func Parent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// WithParent returns ctx continuing the trace of traceparent tp, as a
// remote parent. ctx is returned unchanged when tp is empty or invalid, or
// when ctx already has a span.
func WithParent(ctx context.Context, tp string) context.Context {
	if tp == "" || trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// End ends span, recording err (when not nil) as its error.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
