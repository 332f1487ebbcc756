package carcosa

import (
	"context"

	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/webhook"
)

// WebhookData is the "data" of every webhook the Router sends: the upload
// as the server-side Go API shows it, with its owner and tenant.
type WebhookData struct {
	Upload
	Owner  string `json:"owner,omitempty"`
	Tenant string `json:"tenant,omitempty"`
}

// Webhooks returns the Router's webhook dispatcher: its Go API registers
// tenants' endpoints, rotates their secrets, lists deliveries, replays
// them, and enables or disables endpoints. It is nil when there is nothing
// to send to: no Config.Webhooks, and a Store that does not keep webhooks
// (store.Webhooks).
func (r *Router) Webhooks() *webhook.Dispatcher { return r.webhooks }

// newWebhooks makes r.webhooks when Config.Webhooks names endpoints or the
// Store keeps tenants' endpoints, registering its job kind on r.queue.
func (r *Router) newWebhooks() error {
	kept, ok := r.store.(store.Webhooks)
	if len(r.cfg.Webhooks) == 0 && !ok {
		return nil
	}
	// Tenants' endpoints are reached under the same address policy as
	// UploadFromURL's downloads, with webhook's own time limit.
	f := r.cfg.Fetch
	d, err := webhook.New(webhook.Options{
		Queue:     r.queue,
		Store:     kept,
		Endpoints: r.cfg.Webhooks,
		Fetch:     safefetch.Options{AllowedNets: f.AllowedNets, AllowedPorts: f.AllowedPorts, Schemes: f.Schemes, UserAgent: f.UserAgent},
		Logger:    r.log,
		OnAttempt: r.metrics.onAttempt(),

		TracerProvider: r.cfg.TracerProvider,
	})
	if err != nil {
		return err
	}
	r.webhooks = d
	if cl, ok := r.store.(store.ChangeLog); ok {
		// Events from the Store's change log, written with each change.
		r.relay = newRelay(r, cl)
	}
	return nil
}

// sendWebhook stores the event and enqueues its deliveries; no request is
// made on the upload's goroutine.
func (r *Router) sendWebhook(ctx context.Context, e Event) {
	typ := webhook.TypeOf(e.From, e.To, e.Deleted)
	if typ == "" || e.Record == nil {
		return
	}
	data := WebhookData{Upload: r.serverJSON(e.Record), Owner: e.Owner, Tenant: e.Tenant}
	// The upload's request may end before the event is stored; the event
	// must not be lost with it.
	ctx = context.WithoutCancel(ctx)
	if _, err := r.webhooks.Send(ctx, webhook.Event{Type: typ, Tenant: e.Tenant, Data: data, Time: e.Time}); err != nil {
		r.log.ErrorContext(ctx, "carcosa: sending a webhook", "upload", e.ID, "type", typ, "err", err)
	}
}
