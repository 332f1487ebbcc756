package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carcosa-dev/carcosa"
)

func init() {
	kinds = append(kinds, serverKind{
		Name: "carcosa-metrics", Ref: "carcosa", TusPath: "/tus/", WantState: "ready", Handler: carcosaMetricsHandler,
		Doc: "the `carcosa` kind with `Config.Metrics` on a Prometheus registry: every request and every upload's changes of state are counted and timed; the registry is gathered once, at the end, to check that uploads were counted.",
	})
}

// carcosaMetricsHandler is the carcosa kind with its Prometheus metrics.
func carcosaMetricsHandler(o serveOptions) (http.Handler, func() error, error) {
	reg := prometheus.NewRegistry()
	r, err := carcosa.New(carcosa.Config{
		DataDir:  o.Dir,
		BasePath: "/",
		Logger:   slog.New(slog.DiscardHandler),
		Metrics:  reg,
	})
	if err != nil {
		return nil, nil, err
	}
	addBenchRoute(r, o)
	return r, func() error {
		families, err := reg.Gather()
		if err == nil {
			err = errors.New("carcosa_uploads_total is missing: the uploads were not counted")
			for _, f := range families {
				if f.GetName() == "carcosa_uploads_total" {
					err = nil
				}
			}
		}
		return errors.Join(err, r.Close())
	}, nil
}
