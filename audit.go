package carcosa

import (
	"context"
	"encoding/json"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/store"
)

type actorKey struct{}

// WithActor returns a context naming who calls the Router's Go API with
// it (an operator, a job): the audit log records it. Without it the actor
// is "server".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// actorOf is the actor WithActor put in ctx, or "server".
func actorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "server"
}

// recordAudit appends an event to the audit log, when the Store keeps one.
// A failure is logged: the action it records has happened.
func (r *Router) recordAudit(ctx context.Context, action, actor, tenant, subject string, detail any) {
	if r.audit == nil {
		return
	}
	e := &store.AuditEvent{Action: action, Actor: actor, Tenant: tenant, Subject: subject}
	if detail != nil {
		e.Detail, _ = json.Marshal(detail)
	}
	if err := r.audit.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.ErrorContext(ctx, "writing the audit log", "action", action, "err", err)
	}
}

// AuditLog returns audit events, newest first: files deleted and renamed,
// quarantined files released or deleted, quota changes, API keys created
// and revoked (by package auth's Keys on the same Store).
func (r *Router) AuditLog(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error) {
	if r.audit == nil {
		return nil, ErrNoAuditLog
	}
	events, err := r.audit.ListAudit(ctx, q)
	return events, apierr.API(err)
}
