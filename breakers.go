package carcosa

import (
	"context"
	"log/slog"
	"time"

	"github.com/carcosa-dev/carcosa/internal/breaker"
)

// BreakerSettings configure the circuit breakers Carcosa puts in front of
// its dependencies: the Scanner, and each bucket (Config.Storage and every
// one of Config.Buckets), each with a breaker of its own.
//
// A breaker is closed while its dependency works. After Failures failures
// in a row it opens: for OpenFor, calls fail at once instead of waiting
// for the dependency's timeouts. Scanning then still fails closed (503
// scan_unavailable, the upload kept for a retry, as when clamd is down),
// and a bucket with a failover (Config.Failover) has its new uploads
// placed there. After OpenFor the breaker is half-open: HalfOpenProbes
// calls go through; as many successes close it, one failure opens it
// again.
//
// Only the dependency's own failures count: "not found", a caller that
// gave up or whose upload stream failed, an infected verdict and a file
// over the scanner's limit do not. The states show in /readyz (see
// Router.Health) and in the carcosa_breaker_state metric.
type BreakerSettings struct {
	// Disabled turns the breakers off: every call reaches its dependency.
	// Storage operations are still counted in the metrics.
	Disabled bool

	// Failures is how many failures in a row open a breaker. Defaults to
	// 5.
	Failures uint32

	// OpenFor is how long an open breaker fails calls at once before it
	// lets probes through. Defaults to 30 seconds.
	OpenFor time.Duration

	// HalfOpenProbes is how many calls a half-open breaker lets through,
	// and how many of them must succeed to close it. Defaults to 1.
	HalfOpenProbes uint32
}

// Names of the breakers, as carcosa_breaker_state's dependency label and
// the checks of /readyz name them.
const breakerScanner = "scanner"

// bucketDependency names the dependency of bucket name: "bucket" for the
// default bucket, "bucket:NAME" for the others.
func bucketDependency(name string) string {
	if name == "" {
		return "bucket"
	}
	return "bucket:" + name
}

// newBreakers returns the breakers of cfg's dependencies by name, none when
// they are disabled. Each logs its changes of state.
func newBreakers(cfg Config) map[string]*breaker.Breaker {
	if cfg.Breaker.Disabled {
		return nil
	}
	s := breaker.Settings{
		Failures:       cfg.Breaker.Failures,
		OpenFor:        cfg.Breaker.OpenFor,
		HalfOpenProbes: cfg.Breaker.HalfOpenProbes,
	}
	log := cfg.Logger
	onChange := func(name string, from, to breaker.State) {
		level := slog.LevelInfo
		if to == breaker.Open {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "carcosa: circuit breaker "+to.String(), "dependency", name, "from", from.String())
	}
	m := map[string]*breaker.Breaker{}
	add := func(name string) { m[name] = breaker.New(name, s, onChange) }
	add(bucketDependency(""))
	for name := range cfg.Buckets {
		add(bucketDependency(name))
	}
	if cfg.Scanner != nil {
		add(breakerScanner)
	}
	return m
}
