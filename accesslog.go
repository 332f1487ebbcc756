package carcosa

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/carcosa-dev/carcosa/internal/logctx"
)

// logAccess writes the line of Config.AccessLog for req, served in d, if
// there is an access log. path is the request's path as it arrived; the
// query is never logged: it holds the signatures of signed URLs. ids are
// the uploads the request concerns (requestUploads).
func (r *Router) logAccess(req *http.Request, path string, info *logctx.Request, sw *statusWriter, body *countingBody, d time.Duration, ids []string) {
	l := r.cfg.AccessLog
	if l == nil {
		return
	}
	ctx := req.Context()
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", req.Method),
		slog.String("path", path),
		slog.Int("status", sw.status()),
		slog.Int64("bytes_out", sw.bytes),
		slog.Int64("bytes_in", body.count()),
		slog.Duration("duration", d),
		slog.String("request_id", info.ID),
	)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	switch len(ids) {
	case 0:
	case 1:
		attrs = append(attrs, slog.String("upload_id", ids[0]))
	default:
		attrs = append(attrs, slog.Any("upload_ids", ids))
	}
	l.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// requestUploads are the IDs of the uploads req concerns: those it
// created, else the one its path names. path is the request's full path
// (the tus handler changes req's), tus the prefix of tus uploads' URLs.
func requestUploads(req *http.Request, tus, path string, info *logctx.Request) []string {
	if ids := info.Uploads(); len(ids) > 0 {
		return ids
	}
	if id := req.PathValue("id"); id != "" {
		return []string{id}
	}
	if rest, ok := strings.CutPrefix(path, tus); ok && rest != "" && req.Pattern == "/tus/" {
		id, _, _ := strings.Cut(rest, "/")
		return []string{id}
	}
	return nil
}

// tusPrefix is the path of the Router's tus uploads' URLs, with a slash
// at the end.
func (r *Router) tusPrefix() string {
	return strings.TrimSuffix(r.cfg.BasePath, "/") + "/tus/"
}

// countingBody counts the bytes read from a request's body. The count is
// atomic: tusd reads bodies on a goroutine of its own.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// count is the bytes read; 0 for a nil b (a request without a body).
func (b *countingBody) count() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}
