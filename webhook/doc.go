// Package webhook sends signed webhooks of upload events, following the
// Standard Webhooks specification (standardwebhooks.com), and verifies them
// for receivers.
//
// # Sending
//
// A [Dispatcher] turns each [Event] into a stored event (so that it can be
// replayed) and one queued delivery per subscribed endpoint: the operator's
// [Endpoint]s, from configuration and trusted, and the endpoints tenants
// register, kept in a store.Webhooks and reached only through package
// safefetch, which refuses loopback, private and metadata addresses. Each
// attempt is one queue job; a failed attempt enqueues the next on
// [DefaultSchedule] (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), after which
// the delivery is dead until replayed. Every attempt is logged.
//
// # The request
//
// A POST whose body is JSON:
//
//	{"type": "upload.ready", "timestamp": "2026-12-03T14:00:00Z", "data": {…}}
//
// with the headers webhook-id (the event's ID, the same on every attempt:
// receivers dedupe by it), webhook-timestamp (Unix seconds of the attempt)
// and webhook-signature ("v1,<base64 HMAC-SHA256>", space-separated when
// several secrets sign during a rotation).
//
// # Receiving
//
// [Verify] checks a request's signature and timestamp against the
// endpoint's secrets.
package webhook
