package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/carcosa-dev/carcosa"
)

func init() {
	kinds = append(kinds, serverKind{
		Name: "carcosa-observed", Ref: "carcosa", TusPath: "/tus/", WantState: "ready", Handler: carcosaObservedHandler,
		Doc: "the `carcosa` kind with `Config.Metrics` on a Prometheus registry and `Config.TracerProvider` on the OpenTelemetry SDK, sampling every trace, its spans batched to an exporter that counts them: everything an operator turns on.",
	})
}

// countingExporter is a span exporter that counts what it is sent.
type countingExporter struct{ n atomic.Int64 }

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.n.Add(int64(len(spans)))
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error { return nil }

// carcosaObservedHandler is the carcosa kind with its metrics and traces.
func carcosaObservedHandler(o serveOptions) (http.Handler, func() error, error) {
	reg := prometheus.NewRegistry()
	exp := &countingExporter{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	r, err := carcosa.New(carcosa.Config{
		DataDir:        o.Dir,
		BasePath:       "/",
		Logger:         slog.New(slog.DiscardHandler),
		Metrics:        reg,
		TracerProvider: tp,
	})
	if err != nil {
		return nil, nil, err
	}
	addBenchRoute(r, o)
	return r, func() error {
		err := r.Close()
		if serr := tp.Shutdown(context.Background()); serr != nil {
			err = errors.Join(err, serr)
		}
		if exp.n.Load() == 0 {
			err = errors.Join(err, errors.New("no span was exported: the uploads were not traced"))
		}
		return err
	}, nil
}
