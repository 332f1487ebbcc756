package main

import (
	"context"
	"sync"
	"time"
)

// figure is one measured quantity of a scenario.
type figure struct {
	key    string // key in a run's values
	label  string // with its unit
	higher bool   // whether higher is better
	digits int    // decimals shown
}

var (
	figMBps     = figure{"mbps", "MB/s to ready", true, 1}
	figSeconds  = figure{"seconds", "seconds to ready", false, 2}
	figAggMBps  = figure{"mbps", "aggregate MB/s", true, 1}
	figP50      = figure{"p50", "p50 ms to ready", false, 1}
	figP99      = figure{"p99", "p99 ms to ready", false, 1}
	figPeakRSS  = figure{"peakRSS", "peak RSS MiB", false, 1}
	figAddedRSS = figure{"addedRSS", "RSS added MiB", false, 1}
	figPeakHeap = figure{"peakHeap", "peak Go heap MiB", false, 1}
)

// scenario is one way of uploading. Every run also measures the server's
// memory (peakRSS, addedRSS, peakHeap); figures says what the report shows.
type scenario struct {
	name    string
	figures []figure
	// need is how many bytes of the data file the scenario reads.
	need func(cfg *config) int64
	// largest is how many bytes its uploads leave on disk at once.
	largest func(cfg *config) int64
	// upload is the size of each of its uploads.
	upload func(cfg *config) int64
	// oneFile says that the scenario is one upload, which the kinds
	// without a server (serverKind.Scan) time as one scan of a file of
	// that size.
	oneFile bool
	// run uploads to t and returns the scenario's own figures.
	run func(ctx context.Context, b *bench, t target) (map[string]float64, error)
}

var scenarios = []scenario{
	{
		name:    "single",
		figures: []figure{figMBps, figSeconds},
		need:    func(c *config) int64 { return c.size },
		largest: func(c *config) int64 { return c.size },
		upload:  func(c *config) int64 { return c.size },
		oneFile: true,
		run: func(ctx context.Context, b *bench, t target) (map[string]float64, error) {
			return oneUpload(ctx, b, t, b.cfg.size, 0)
		},
	},
	{
		name:    "chunked",
		figures: []figure{figMBps, figSeconds},
		need:    func(c *config) int64 { return c.size },
		largest: func(c *config) int64 { return c.size },
		upload:  func(c *config) int64 { return c.size },
		run: func(ctx context.Context, b *bench, t target) (map[string]float64, error) {
			return oneUpload(ctx, b, t, b.cfg.size, b.cfg.chunk)
		},
	},
	{
		name:    "concurrent",
		figures: []figure{figAggMBps, figP50, figP99, figPeakRSS, figPeakHeap},
		need:    func(c *config) int64 { return c.concurrentSize },
		largest: func(c *config) int64 { return int64(c.concurrent) * c.concurrentSize },
		upload:  func(c *config) int64 { return c.concurrentSize },
		run:     concurrentUploads,
	},
	{
		name:    "large",
		figures: []figure{figMBps, figPeakRSS, figAddedRSS, figPeakHeap},
		need:    func(c *config) int64 { return c.large },
		largest: func(c *config) int64 { return c.large },
		upload:  func(c *config) int64 { return c.large },
		oneFile: true,
		run: func(ctx context.Context, b *bench, t target) (map[string]float64, error) {
			return oneUpload(ctx, b, t, b.cfg.large, b.cfg.largeChunk)
		},
	},
}

func scenarioByName(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return names
}

func oneUpload(ctx context.Context, b *bench, t target, size, chunk int64) (map[string]float64, error) {
	d, err := b.client.upload(ctx, t, size, chunk)
	if err != nil {
		return nil, err
	}
	return map[string]float64{
		"mbps":    float64(size) / 1e6 / d.Seconds(),
		"seconds": d.Seconds(),
	}, nil
}

// concurrentUploads starts all the uploads of the concurrent scenario at
// once. The first failure cancels the others.
func concurrentUploads(ctx context.Context, b *bench, t target) (map[string]float64, error) {
	n, size := b.cfg.concurrent, b.cfg.concurrentSize
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		times    = make([]float64, n)
	)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			d, err := b.client.upload(ctx, t, size, 0)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
				return
			}
			times[i] = float64(d) / float64(time.Millisecond)
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	return map[string]float64{
		"mbps":    float64(n) * float64(size) / 1e6 / wall.Seconds(),
		"seconds": wall.Seconds(),
		"p50":     percentile(times, 50),
		"p99":     percentile(times, 99),
	}, nil
}
