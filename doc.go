// Package carcosa is a complete, safe, self-hosted file-upload system for Go
// services, mounted as a net/http handler.
//
// # Routes
//
// A Router holds typed upload routes. Each route says what it accepts, how
// large and how many files may be, who may upload (its middleware) and what
// happens with each verified file (its completion callback):
//
//	r, err := carcosa.New(carcosa.Config{BasePath: "/api/uploads", DataDir: "./carcosa-data"})
//	...
//	carcosa.Handle(r, "avatars", carcosa.Route[AvatarInput, Session]{
//		Accept:      []string{"image"},
//		MaxFileSize: 4 << 20,
//		Middleware:  authenticate,
//		OnComplete:  saveAvatar,
//	})
//	http.Handle("/api/uploads/", r)
//
// The client's JSON input is decoded into the route's input type and
// validated with go-playground/validator tags; invalid input is answered 422
// with the failing fields. Middleware returns a Grant: the owner of the
// upload and typed metadata for the callbacks. It runs again on every later
// request about the upload, and only the owner may resume, read or delete it.
// Registration mistakes panic in Handle, at start-up.
//
// Router.WriteTypeScript writes the routes' names and input types as
// TypeScript declarations, for clients typed by the routes.
//
// # Ways in
//
// Files arrive through tus 1.0 (resumable; creation, creation-with-upload,
// termination, concatenation and deferred length), under B/tus/, or as
// multipart/form-data at B/routes/{route}. Either way every byte streams:
// size limits hold while the bytes arrive, the SHA-256 is computed on the
// way in, and memory does not grow with the file.
//
// A multipart request is all or nothing: its files become ready together,
// after OnComplete has accepted each, or none does. When one is refused,
// the others are removed and end rejected with ErrBatchRejected, which
// OnError sees, even those whose OnComplete already ran.
//
// Go programs upload with package client (resumable tus with per-chunk
// checksums and retries); shells with the carcosa command (cmd/carcosa).
//
// # Verification
//
// Every file passes ordered stages before it is ready: its type is found
// from its content (never the client's claim) and checked against the
// route; executables are refused unless the route accepts any type; the
// extension of its name must agree with its content; image, audio, video
// and PDF files that carry markup or another format in their first bytes are
// refused. Names are cleaned (see package safename) and never used as storage
// keys. A tus upload is verified before the response to its last PATCH, so
// the client learns the outcome from that response.
//
// # States
//
// An upload is uploading, then processing, then ready; or it ends rejected
// (bad type, size or input), quarantined (malware) or failed (internal).
// A file is served only when ready. Refused bytes are removed at once.
//
// # Events and webhooks
//
// Every change of state is told to Config.Observer, and sent as a signed
// webhook (package webhook, Standard Webhooks) to the operator's
// Config.Webhooks and to the endpoints of the upload's tenant, registered
// through Router.Webhooks. Deliveries go through the Queue, retried for
// about a day, each attempt logged; an upload never waits on a receiver.
//
// # Metrics
//
// With Config.Metrics set to a Prometheus Registerer, the Router counts
// and times its uploads (by route, final state and the way they came in),
// scans, webhook deliveries, processing stages, bucket operations and HTTP
// requests (by the pattern that matched), and shows the state of each
// circuit breaker; labels never hold an upload ID, owner or tenant.
//
// # Traces
//
// With Config.TracerProvider set, the Router makes an OpenTelemetry span
// per request (continuing an incoming traceparent), per processing stage,
// per background job and per webhook delivery attempt (which sends
// traceparent on). An upload's record keeps the trace of the request that
// created it, so its later work, on any instance, joins that trace.
//
// # Logs
//
// Every line Config.Logger receives while a request is served carries the
// request's request_id (its X-Request-ID), and trace_id and span_id when
// the request's context holds an OpenTelemetry span. Config.AccessLog,
// when set, receives one line per request: method, path (never the query,
// which holds signatures), status, bytes in and out, duration, request_id
// and upload_id.
//
// # Graceful shutdown
//
// Router.Drain refuses new uploads (503 unavailable, with Retry-After) and
// makes /readyz answer 503 "draining", while uploads in flight go on. On
// shutdown: Drain, then http.Server.Shutdown with a deadline, then Close,
// which runs the background work the requests queued.
//
// # Crashes and failing backends
//
// A byte acknowledged to a tus client is in the staging file (the page
// cache; nothing is fsynced) and survives any crash of the process. An
// upload that had all its bytes when the process stopped is finished after
// the restart: by the client's next HEAD or PATCH, or by the recovery sweep
// the Router runs when it starts (Start, or its first request) and every
// minute after (Recover runs it on demand). OnComplete runs at least once per ready upload, twice only
// if the process dies between its return and the record turning ready. When
// storage or the store fails, the client gets 503 "unavailable" with
// Retry-After, the upload keeps its bytes, and a retry finishes it; no
// partial file is ever ready or served. Circuit breakers (Config.Breaker)
// in front of the Scanner and each bucket make a dependency that keeps
// failing fail fast: scanning still fails closed, and a bucket with a
// failover has its new uploads placed there.
//
// # Errors
//
// Every error a client sees is JSON, {"error":{"code":"…","message":"…"}},
// with a stable code and the matching status; internal error text is logged,
// never sent. Callbacks and middleware return *Error values (NewError,
// Unauthorized, Forbidden, Reject) to choose what the client sees.
//
// The Go API speaks the same dialect: every exported method of Router
// returns *Error values, which match the sentinels (ErrNotFound,
// ErrNoQuotas, …) with errors.Is. A failing backend is ErrUnavailable,
// with the backend's error kept as its cause.
//
// # Configuration
//
// Config documents each field's default. Config.WithDefaults returns a copy
// with the defaults filled in; New calls it and then refuses any bad value
// with an error naming the field. The caller's Config is never changed.
//
// # Serving
//
// GET B/files/{key} serves ready files with Range, an ETag from the SHA-256,
// nosniff and a safe Content-Disposition. A Range header of more than 16
// ranges is ignored, and overlapping or nearby ranges are merged, so that no
// answer is much larger than the file; one that selects no byte (bytes=-0)
// answers 416. Files of private routes (the
// default) are served only through signed, expiring URLs; the URL in an
// upload record is always the one to use.
//
// # Backends
//
// Storage (package storage: any gocloud.dev/blob bucket) and Store (package
// store: SQLite by default) are small interfaces with conformance suites.
// With only Config.DataDir set, a Router runs on local disk and SQLite.
package carcosa
