package lifecycle

import (
	"context"
	"time"
)

// sweepEvery runs the recovery sweep until ctx ends: first over everything
// a previous process left unfinished, then, every interval, over what a
// transient failure left and no client came back for.
func (eng *Engine) sweepEvery(ctx context.Context, interval time.Duration) {
	defer close(eng.bgDone)
	before, first := eng.started, true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := eng.sweep(ctx, before, first); err != nil && ctx.Err() == nil {
			eng.log.Warn("recovering unfinished uploads", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			before, first = now.Add(-interval), false
		}
	}
}
