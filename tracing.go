package carcosa

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/internal/tracing"
)

// startSpan starts the server span of req, whose request ID is id, continuing the trace of its
// traceparent header, and returns ctx with it. Without
// Config.TracerProvider it returns ctx and a nil span: an incoming
// traceparent is then not honoured.
//
// The span is named by the pattern that serves the request (see endSpan),
// never by its path, so that names stay few; the path (without its query,
// which may hold a signature) is an attribute.
func (r *Router) startSpan(ctx context.Context, req *http.Request, id string) (context.Context, trace.Span) {
	if r.cfg.TracerProvider == nil {
		return ctx, nil
	}
	ctx = tracing.Extract(ctx, propagation.HeaderCarrier(req.Header))
	return r.tracer.Start(ctx, metricMethod(req.Method), trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", metricMethod(req.Method)),
		attribute.String("url.path", req.URL.Path),
		attribute.String("carcosa.request_id", id),
	))
}

// endSpan ends span, the server span of req, which was answered with code
// and concerns the uploads ids. A nil span is a no-op.
func (r *Router) endSpan(span trace.Span, req *http.Request, code int, ids []string) {
	if span == nil {
		return
	}
	if req.Pattern != "" {
		span.SetName(req.Pattern)
		span.SetAttributes(attribute.String("http.route", req.Pattern))
	}
	switch len(ids) {
	case 0:
	case 1:
		span.SetAttributes(tracing.UploadID.String(ids[0]))
	default:
		span.SetAttributes(tracing.UploadIDs.StringSlice(ids))
	}
	if route := req.PathValue("route"); route != "" {
		span.SetAttributes(tracing.Route.String(route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", code))
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}
