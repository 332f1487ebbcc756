package lifecycle

import (
	"context"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/logctx"
	"github.com/carcosa-dev/carcosa/internal/tracing"
	"github.com/carcosa-dev/carcosa/store"
)

// Event is one change of an upload's state, as an Observer sees it: the
// upload was created (From ""), moved from one state to another, or was
// deleted (Deleted, To "").
type Event struct {
	ID      string
	Route   string
	Owner   string
	Tenant  string
	From    store.State // "" when the upload was just created
	To      store.State // "" when it was deleted
	Deleted bool
	// Record is the upload as written (as it was last, when deleted). It
	// is the Observer's to read, not to change.
	Record *store.Upload
	// Err is the error an upload that ended rejected, quarantined or
	// failed reports to its client.
	Err  *apierr.Error
	Time time.Time
}

// Observer is told of every state change of every upload, after the record
// is written: the place where events, webhooks, metrics and traces attach.
// Observe runs on the goroutine that made the change, in the order of the
// changes of each upload; it must return quickly and never block (hand
// slow work to a queue).
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Create records a new upload; every record is created through it.
func (eng *Engine) Create(ctx context.Context, rec *store.Upload) error {
	if rec.Trace == "" {
		rec.Trace = tracing.Parent(ctx)
	}
	if err := eng.store.Create(ctx, rec); err != nil {
		return err
	}
	logctx.AddUpload(ctx, rec.ID) // for the access log of the request, if any
	eng.observe(ctx, "", rec, false)
	return nil
}

// Update changes upload id's record through fn (see store.Store.Update);
// every change of a record goes through it, and a change of state is told
// to the Observer.
func (eng *Engine) Update(ctx context.Context, id string, fn func(u *store.Upload) error) (*store.Upload, error) {
	var from store.State
	rec, err := eng.store.Update(ctx, id, func(u *store.Upload) error {
		from = u.State
		return fn(u)
	})
	if err == nil && rec.State != from {
		eng.observe(ctx, from, rec, false)
	}
	return rec, err
}

// DeleteRecord deletes upload id's record; every record is deleted through
// it.
func (eng *Engine) DeleteRecord(ctx context.Context, id string) error {
	var last *store.Upload
	if eng.observer != nil {
		last, _ = eng.store.Get(ctx, id)
	}
	if err := eng.store.Delete(ctx, id); err != nil {
		return err
	}
	if last != nil {
		eng.observe(ctx, last.State, last, true)
	}
	return nil
}

func (eng *Engine) observe(ctx context.Context, from store.State, rec *store.Upload, deleted bool) {
	if eng.observer == nil {
		return
	}
	e := Event{
		ID: rec.ID, Route: rec.Route, Owner: rec.Owner, Tenant: rec.Tenant,
		From: from, To: rec.State, Deleted: deleted, Record: rec, Time: time.Now(),
	}
	if deleted {
		e.To = ""
	}
	if !deleted && rec.ErrorCode != "" && rec.State != store.Ready {
		e.Err = apierr.OfRecord(rec)
	}
	eng.observer.Observe(ctx, e)
}
