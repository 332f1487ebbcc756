package carcosa

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/tracing"
)

// traceHTTP serves req with h inside a server span, which continues the
// trace of the request's traceparent header. Without Config.TracerProvider
// it only calls h: an incoming traceparent is then not honoured.
//
// The span is named by the pattern that served the request ("POST
// /routes/{route}"), never by its path, so that names stay few; the path
// (without its query, which may hold a signature) is an attribute.
func (r *Router) traceHTTP(w http.ResponseWriter, req *http.Request, h http.HandlerFunc) {
	if r.cfg.TracerProvider == nil {
		h(w, req)
		return
	}
	ctx := tracing.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
	path := req.URL.Path // before a handler rewrites it (tusd's does)
	ctx, span := r.tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", metricMethod(req.Method)),
		attribute.String("url.path", path),
		attribute.String("carcosa.request_id", apierr.RequestID(req)),
	))
	defer span.End()
	req = req.WithContext(ctx)
	sw := &statusWriter{ResponseWriter: w}
	h(sw, req)

	if req.Pattern != "" {
		span.SetName(req.Pattern)
		span.SetAttributes(attribute.String("http.route", req.Pattern))
	}
	if id := uploadIDOf(req, path); id != "" {
		span.SetAttributes(tracing.UploadID.String(id))
	}
	if route := req.PathValue("route"); route != "" {
		span.SetAttributes(tracing.Route.String(route))
	}
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	span.SetAttributes(attribute.Int("http.response.status_code", code))
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
}

// uploadIDOf returns the upload ID a request names in path, "" when it
// names none.
func uploadIDOf(req *http.Request, path string) string {
	if id := req.PathValue("id"); id != "" {
		return id
	}
	if rest, ok := strings.CutPrefix(path, "/tus/"); ok && rest != "" {
		id, _, _ := strings.Cut(rest, "/")
		return id
	}
	return ""
}
