// Package logctx carries what identifies a request through its context, so
// that every log line written during the request names it: the request's
// ID, the uploads it is about, and (from OpenTelemetry) its trace.
package logctx

import (
	"context"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// Request is what the log knows of one request. The Router makes it when
// the request arrives; handlers add the uploads the request concerns.
type Request struct {
	ID string

	mu      sync.Mutex
	uploads []string
}

type requestKey struct{}

// WithRequest returns ctx carrying a Request of ID id, and that Request.
func WithRequest(ctx context.Context, id string) (context.Context, *Request) {
	r := &Request{ID: id}
	return context.WithValue(ctx, requestKey{}, r), r
}

// FromContext returns the Request ctx carries, or nil.
func FromContext(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// RequestID returns the ID of the request ctx carries, or "".
func RequestID(ctx context.Context) string {
	if r := FromContext(ctx); r != nil {
		return r.ID
	}
	return ""
}

// AddUpload records that the request ctx carries concerns upload id (it
// created it, most often). Without a request in ctx it does nothing.
func AddUpload(ctx context.Context, id string) {
	r := FromContext(ctx)
	if r == nil || id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.uploads {
		if u == id {
			return
		}
	}
	r.uploads = append(r.uploads, id)
}

// Uploads returns the IDs AddUpload recorded, in order.
func (r *Request) Uploads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uploads...)
}

// Logger returns l with every record written with a context carrying a
// request given request_id, and trace_id and span_id when the context
// holds a valid OpenTelemetry span. A logger it already wraps is returned
// as it is.
func Logger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(*handler); ok {
		return l
	}
	return slog.New(&handler{next: l.Handler()})
}

// handler adds the request's attributes to the records of next. They are
// added to the record, so they sit inside any group a caller opened with
// WithGroup; Carcosa opens none.
type handler struct {
	next slog.Handler
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, rec)
	}
	id := RequestID(ctx)
	sc := trace.SpanContextFromContext(ctx)
	if id == "" && !sc.IsValid() {
		return h.next.Handle(ctx, rec)
	}
	rec = rec.Clone()
	if id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	if sc.IsValid() {
		rec.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, rec)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(attrs)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name)}
}
