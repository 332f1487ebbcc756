package carcosa

import (
	"context"
	"errors"
	"fmt"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/breaker"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
)

// Rule sends the new uploads it matches to one of Config.Buckets. Rules are
// tried in order and the first that matches wins; an upload that no rule
// matches goes to Config.Storage, the default bucket.
//
// Every condition left at its zero value matches everything:
//
//	Rules: []carcosa.Rule{
//		{Route: "videos", Bucket: "s3"},           // every video to S3
//		{MaxSize: 10 << 20, Bucket: "r2"},         // other files up to 10 MiB to R2
//		{Tier: "pro", Bucket: "s3"},               // larger ones of pro owners to S3
//	},                                            // the rest to Config.Storage
type Rule struct {
	// Route is the name of the route; "" matches every route.
	Route string

	// Tier is the owner's tier, as the route's middleware returned it in
	// Grant.Tier; "" matches every tier.
	Tier string

	// MinSize and MaxSize bound the file's declared size in bytes,
	// inclusive; a MaxSize of 0 sets no upper bound. A file whose size is
	// not declared before its bytes arrive (a multipart file, a tus upload
	// with a deferred length) matches only rules with neither bound.
	MinSize, MaxSize int64

	// Bucket names the bucket in Config.Buckets; required.
	Bucket string
}

func (rl Rule) matches(p lifecycle.Placement) bool {
	switch {
	case rl.Route != "" && rl.Route != p.Route,
		rl.Tier != "" && rl.Tier != p.Tier:
		return false
	case rl.MinSize == 0 && rl.MaxSize == 0:
		return true
	case p.Size < 0:
		return false
	}
	return p.Size >= rl.MinSize && (rl.MaxSize == 0 || p.Size <= rl.MaxSize)
}

// validateBuckets checks the fields that name buckets: Buckets, Rules,
// Failover and Quarantine. The default bucket, named "", is always there.
func (c Config) validateBuckets() error {
	for name, s := range c.Buckets {
		switch {
		case name == "":
			return errors.New("carcosa: Config.Buckets: the empty name is the default bucket (Config.Storage)")
		case s == nil:
			return fmt.Errorf("carcosa: Config.Buckets: bucket %q is nil", name)
		case len(name) > 64:
			return fmt.Errorf("carcosa: Config.Buckets: bucket name %q is longer than 64 bytes", name)
		}
	}
	named := func(name string) bool {
		_, ok := c.Buckets[name]
		return ok || name == ""
	}
	for i, rl := range c.Rules {
		if _, ok := c.Buckets[rl.Bucket]; !ok {
			return fmt.Errorf("carcosa: Config.Rules[%d]: no bucket named %q in Config.Buckets", i, rl.Bucket)
		}
		if rl.MinSize < 0 || rl.MaxSize < 0 || rl.MaxSize != 0 && rl.MaxSize < rl.MinSize {
			return fmt.Errorf("carcosa: Config.Rules[%d]: the size bounds are out of order", i)
		}
	}
	for from, to := range c.Failover {
		if !named(from) {
			return fmt.Errorf("carcosa: Config.Failover: no bucket named %q", from)
		}
		if !named(to) || to == from {
			return fmt.Errorf("carcosa: Config.Failover[%q]: no other bucket named %q", from, to)
		}
	}
	if c.Quarantine != "" && !named(c.Quarantine) {
		return fmt.Errorf("carcosa: Config.Quarantine: no bucket named %q in Config.Buckets", c.Quarantine)
	}
	return nil
}

// Count is a number of ready files and their total size.
type Count struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Stats counts the ready files, by bucket and by route.
type Stats struct {
	Buckets map[string]Count `json:"buckets"` // "" is the default bucket
	Routes  map[string]Count `json:"routes"`
	Total   Count            `json:"total"`
	Cells   []store.Stat     `json:"-"` // by bucket and route, sorted
}

// Stats counts the ready files and their bytes, per bucket and per route,
// from the store; every instance sharing the store sees the same figures.
func (r *Router) Stats(ctx context.Context) (*Stats, error) {
	cells, err := r.store.Stats(ctx)
	if err != nil {
		return nil, apierr.API(err)
	}
	// The store gives the cells sorted by bucket, then route.
	s := &Stats{Buckets: map[string]Count{}, Routes: map[string]Count{}, Cells: cells}
	add := func(m map[string]Count, k string, c store.Stat) {
		v := m[k]
		v.Files += c.Files
		v.Bytes += c.Bytes
		m[k] = v
	}
	for _, c := range cells {
		add(s.Buckets, c.Bucket, c)
		add(s.Routes, c.Route, c)
		s.Total.Files += c.Files
		s.Total.Bytes += c.Bytes
	}
	return s, nil
}

// newBuckets returns the buckets of cfg, which validate has checked, with
// def as the default bucket; Rules place new files. Each bucket is behind
// its breaker of breakers (none when there is none), and its operations
// are counted in m.
func newBuckets(cfg Config, def storage.Storage, breakers map[string]*breaker.Breaker, m *metrics) *lifecycle.Buckets {
	wrap := func(name string, s storage.Storage) storage.Storage {
		return breaker.NewStorage(s, breakers[bucketDependency(name)], m.storageOp(name))
	}
	byName := map[string]storage.Storage{"": wrap("", def)}
	for name, s := range cfg.Buckets {
		byName[name] = wrap(name, s)
	}
	rules := cfg.Rules
	return lifecycle.NewBuckets(byName, func(p lifecycle.Placement) string {
		for _, rl := range rules {
			if rl.matches(p) {
				return rl.Bucket
			}
		}
		return ""
	}, cfg.Failover)
}
