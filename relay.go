package carcosa

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/carcosa-dev/carcosa/internal/tracing"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/webhook"
)

// relay sends the webhooks of a Store that logs its changes
// (store.ChangeLog) from that log: each change of state is recorded in the
// same transaction as the change, and is acknowledged only once its event
// is stored and its deliveries queued, so that no change is ever without
// its event, even when the process dies between the two. A change sent
// twice (its sender died before acknowledging it) keeps its event ID, by
// which receivers dedupe.
//
// The relay looks at the log when a change is made here (wake) and every
// relayPoll, which picks up what another instance left; it runs from
// Start to Stop.
type relay struct {
	r    *Router
	log  store.ChangeLog
	wake chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// relayPoll is how often the relay looks at the log unwoken; relayLease is
// how long a claimed change is left to its claimer before another instance
// may send it.
const (
	relayPoll  = time.Second
	relayLease = 30 * time.Second
	relayBatch = 100
)

func newRelay(r *Router, log store.ChangeLog) *relay {
	log.LogChanges()
	return &relay{r: r, log: log, wake: make(chan struct{}, 1)}
}

// poke makes the relay look at the log soon; it never waits.
func (rl *relay) poke() {
	select {
	case rl.wake <- struct{}{}:
	default:
	}
}

func (rl *relay) start() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	rl.cancel, rl.done = cancel, make(chan struct{})
	go rl.run(ctx)
}

// stop stops the relay, waiting for the batch under way or for ctx.
func (rl *relay) stop(ctx context.Context) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.cancel == nil {
		return nil
	}
	rl.cancel()
	select {
	case <-rl.done:
		rl.cancel = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (rl *relay) run(ctx context.Context) {
	defer close(rl.done)
	t := time.NewTicker(relayPoll)
	defer t.Stop()
	for {
		for {
			n, err := rl.batch(ctx)
			if err != nil && ctx.Err() == nil {
				rl.r.log.Warn("carcosa: sending webhooks from the change log", "err", err)
			}
			if err != nil || n < relayBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-rl.wake:
		case <-t.C:
		}
	}
}

// batch sends the events of up to relayBatch changes and acknowledges
// those sent; it returns how many it claimed.
func (rl *relay) batch(ctx context.Context) (int, error) {
	changes, err := rl.log.ClaimChanges(ctx, relayBatch, relayLease)
	if err != nil {
		return 0, err
	}
	sent := make([]int64, 0, len(changes))
	var firstErr error
	for _, c := range changes {
		rec := c.Record
		to := rec.State
		if c.Deleted {
			to = ""
		}
		if typ := webhook.TypeOf(c.From, to, c.Deleted); typ != "" {
			data := WebhookData{Upload: rl.r.serverJSON(rec), Owner: rec.Owner, Tenant: rec.Tenant}
			// The event continues the trace of the upload's creation.
			_, err := rl.r.webhooks.Send(tracing.WithParent(context.WithoutCancel(ctx), rec.Trace), webhook.Event{
				ID: fmt.Sprintf("msg_%s_%d", rec.ID, c.Seq), Type: typ, Tenant: rec.Tenant, Data: data, Time: c.At,
			})
			if err != nil {
				// Left unacknowledged: sent again once its lease ends.
				if firstErr == nil {
					firstErr = fmt.Errorf("upload %s: %w", rec.ID, err)
				}
				continue
			}
		}
		sent = append(sent, c.Seq)
	}
	if err := rl.log.AckChanges(context.WithoutCancel(ctx), sent); err != nil {
		return len(changes), err
	}
	return len(changes), firstErr
}
