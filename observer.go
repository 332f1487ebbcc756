package carcosa

import (
	"context"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
)

// Event is one change of an upload's state, as an Observer sees it: the
// upload was created (From ""), moved from one state to another, or was
// deleted (Deleted, To ""). Record is the upload as written (as it was
// last, when deleted); it is the Observer's to read, not to change. Err is
// the error an upload that ended rejected, quarantined or failed reports
// to its client.
type Event = lifecycle.Event

// Observer is told of every state change of every upload, after the record
// is written: the place where events, webhooks, metrics and traces attach.
// Observe runs on the goroutine that made the change, in the order of the
// changes of each upload; it must return quickly and never block (hand
// slow work to a queue).
type Observer = lifecycle.Observer

// ObserverFunc adapts a function to an Observer.
type ObserverFunc = lifecycle.ObserverFunc

// observers is the Observer the engine tells of every change: the
// metrics, the live event streams, Config.Observer, then the webhooks.
func (r *Router) observers() lifecycle.Observer {
	return lifecycle.ObserverFunc(func(ctx context.Context, e lifecycle.Event) {
		r.metrics.Observe(ctx, e)
		if r.live != nil {
			r.live.Observe(ctx, e)
		}
		if o := r.cfg.Observer; o != nil {
			o.Observe(ctx, e)
		}
		switch {
		case r.relay != nil:
			r.relay.poke() // the Store logged the change with it
		case r.webhooks != nil:
			r.sendWebhook(ctx, e)
		}
	})
}
