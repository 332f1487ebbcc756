package carcosa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
)

// Live events reach browsers over Server-Sent Events, from whichever
// instance holds an upload's bytes: the instance that sees a change
// publishes a small message on the Broker (Config.Broker), and the
// instance serving a stream turns it into an event. A state message names
// the upload only; the stream reads the record from the Store, so it never
// shows a record older than the event, and a message lost on the way (a
// full buffer, a dropped connection) is made up for by reading the record
// again at the next heartbeat.

// liveMessage is what the Broker carries about an upload.
type liveMessage struct {
	Kind string `json:"k"` // "state" or "progress"
	ID   string `json:"id"`

	// progress
	Offset         int64   `json:"o,omitempty"`
	Size           int64   `json:"s,omitempty"`
	BytesPerSecond float64 `json:"b,omitempty"`
	Version        int64   `json:"v,omitempty"` // the record's UpdatedAt, Unix nanoseconds
}

// progressJSON is the data of an SSE progress event.
type progressJSON struct {
	ID             string  `json:"id"`
	State          string  `json:"state"`
	Offset         int64   `json:"offset"`
	Size           int64   `json:"size"` // -1 while the length is deferred
	BytesPerSecond float64 `json:"bytesPerSecond"`
	ETASeconds     float64 `json:"etaSeconds"` // -1 when unknown
}

// heartbeat is how often an idle stream gets a comment, which keeps
// proxies from closing it, and how often it reads its record again.
const heartbeat = 15 * time.Second

func uploadTopic(id string) string { return "upload:" + id }

func ownerTopic(tenant, owner string) string { return "owner:" + tenant + "/" + owner }

// live publishes upload events on the Broker and serves the event streams.
// Messages are published by one goroutine, in order, so that a Broker that
// waits on the network never holds up an upload.
type live struct {
	r      *Router
	b      broker.Broker
	queue  chan published
	done   chan struct{}
	stop   sync.Once
	closed chan struct{}
	warned atomic.Bool // the broker's falling behind was logged
}

type published struct {
	topics []string
	data   []byte
	state  bool
}

const publishBuffer = 1024

func newLive(r *Router, b broker.Broker) *live {
	l := &live{r: r, b: b, queue: make(chan published, publishBuffer), done: make(chan struct{}), closed: make(chan struct{})}
	go l.run()
	return l
}

func (l *live) run() {
	defer close(l.closed)
	for {
		select {
		case p := <-l.queue:
			l.send(p)
		case <-l.done:
			for {
				select {
				case p := <-l.queue:
					l.send(p)
				default:
					return
				}
			}
		}
	}
}

func (l *live) send(p published) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, t := range p.topics {
		if err := l.b.Publish(ctx, t, p.data); err != nil {
			l.r.log.Warn("publishing a live event", "topic", t, "err", err)
		}
	}
}

// Close publishes what is queued and stops, waiting at most closeWait
// for a Broker that does not answer.
func (l *live) Close() {
	l.stop.Do(func() { close(l.done) })
	select {
	case <-l.closed:
	case <-time.After(closeWait):
		l.r.log.Warn("carcosa: live events still queued at Close were not published: the broker does not answer")
	}
}

// closeWait bounds how long Close waits for queued live events.
const closeWait = 10 * time.Second

// publish queues p without ever waiting: an upload is never held up by
// the Broker. When the Broker has fallen behind by publishBuffer messages,
// p is dropped; a stream that misses a state because of it reads the
// record again at its next heartbeat.
func (l *live) publish(p published) {
	select {
	case l.queue <- p:
	default:
		if p.state && l.warned.CompareAndSwap(false, true) {
			l.r.log.Warn("carcosa: the live-event broker is falling behind; state changes reach streams at their next heartbeat")
		}
	}
}

// Observe publishes a state change of an upload to the streams about it and
// about its owner.
func (l *live) Observe(_ context.Context, e lifecycle.Event) {
	b, _ := json.Marshal(liveMessage{Kind: "state", ID: e.ID})
	l.publish(published{topics: []string{uploadTopic(e.ID), ownerTopic(e.Tenant, e.Owner)}, data: b, state: true})
}

// Progress publishes that offset bytes of upload rec have arrived.
func (l *live) Progress(rec *store.Upload, offset int64, bytesPerSecond float64) {
	b, _ := json.Marshal(liveMessage{
		Kind: "progress", ID: rec.ID, Offset: offset, Size: rec.Size,
		BytesPerSecond: bytesPerSecond, Version: rec.UpdatedAt.UnixNano(),
	})
	l.publish(published{topics: []string{uploadTopic(rec.ID)}, data: b})
}

// stream is one Server-Sent Events response.
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startStream(w http.ResponseWriter) *stream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	s := &stream{w: w, rc: http.NewResponseController(w)}
	s.rc.Flush()
	return s
}

func (s *stream) event(name, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", id, name, b); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *stream) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// stateID is the SSE event ID of record rec's state: the version of the
// record, so that a client that comes back with it as Last-Event-ID is not
// told again what it has seen.
func stateID(rec *store.Upload) string { return strconv.FormatInt(rec.UpdatedAt.UnixNano(), 10) }

// seenVersion is the record version a Last-Event-ID names (both the state
// and the progress events' IDs start with it); 0 when none.
func seenVersion(req *http.Request) int64 {
	id := req.Header.Get("Last-Event-ID")
	v, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// serveUpload answers GET B/uploads/{id}/events: the upload's progress and
// state changes, to its owner, until it reaches a final state.
func (l *live) serveUpload(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	rec, _, err := l.r.authorize(req, id)
	if err != nil {
		l.r.writeError(w, req, err)
		return
	}
	ctx := req.Context()
	// Subscribed before the record is read again: no change falls between.
	sub, err := l.b.Subscribe(ctx, uploadTopic(id))
	if err != nil {
		l.r.writeError(w, req, apierr.Unavailable(err))
		return
	}
	defer sub.Close()
	if rec, err = l.r.store.Get(ctx, id); err != nil {
		l.r.writeError(w, req, apierr.API(err))
		return
	}
	s := startStream(w)
	var sent int64 // the version of the last state sent
	if v := seenVersion(req); v >= rec.UpdatedAt.UnixNano() {
		sent = v
	}
	// sendState sends rec's state unless it was sent; it reports whether
	// the stream is over.
	sendState := func(rec *store.Upload) (bool, error) {
		if v := rec.UpdatedAt.UnixNano(); v > sent {
			sent = v
			if err := s.event("state", stateID(rec), l.r.uploadJSON(rec)); err != nil {
				return true, err
			}
		}
		return rec.State.Settled(), nil
	}
	reload := func() (bool, error) {
		cur, err := l.r.store.Get(ctx, id)
		if err != nil {
			return true, err // deleted, or the Store is down: the client reconnects
		}
		return sendState(cur)
	}
	if over, err := sendState(rec); over || err != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.comment("heartbeat"); err != nil {
				return
			}
			// A state whose message was lost (a full buffer here or at
			// the publisher, a dropped connection) is sent now.
			if over, err := reload(); over || err != nil {
				return
			}
		case b, ok := <-sub.C():
			if !ok {
				return
			}
			var m liveMessage
			if json.Unmarshal(b, &m) != nil || m.ID != id {
				continue
			}
			if m.Kind == "state" {
				if over, err := reload(); over || err != nil {
					return
				}
				continue
			}
			p := progressJSON{
				ID: id, State: string(store.Uploading), Offset: m.Offset, Size: m.Size,
				BytesPerSecond: m.BytesPerSecond, ETASeconds: -1,
			}
			if m.Size >= 0 && m.BytesPerSecond > 0 {
				p.ETASeconds = float64(m.Size-m.Offset) / m.BytesPerSecond
			}
			if err := s.event("progress", fmt.Sprintf("%d-%d", m.Version, m.Offset), p); err != nil {
				return
			}
		}
	}
}

// serveOwner answers GET B/events?route=name: the state changes of the
// caller's uploads of the route, as the route's middleware identifies the
// caller, until the client goes away.
func (l *live) serveOwner(w http.ResponseWriter, req *http.Request) {
	route, g, ok := l.r.identifyOwner(w, req)
	if !ok {
		return
	}
	ctx := req.Context()
	sub, err := l.b.Subscribe(ctx, ownerTopic(g.Tenant, g.Owner))
	if err != nil {
		l.r.writeError(w, req, apierr.Unavailable(err))
		return
	}
	defer sub.Close()
	s := startStream(w)
	if err := s.comment("subscribed"); err != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.r.drained:
			// It would hold the server's shutdown until its deadline; the
			// client reconnects.
			return
		case <-tick.C:
			if err := s.comment("heartbeat"); err != nil {
				return
			}
		case b, ok := <-sub.C():
			if !ok {
				return
			}
			var m liveMessage
			if json.Unmarshal(b, &m) != nil || m.Kind != "state" {
				continue
			}
			rec, err := l.r.store.Get(ctx, m.ID)
			if err != nil || !g.Owns(rec) || rec.Route != route {
				continue // deleted since, or of another route
			}
			if err := s.event("state", m.ID+"-"+stateID(rec), l.r.uploadJSON(rec)); err != nil {
				return
			}
		}
	}
}

// serveList answers GET B/uploads?route=name&state=&cursor=&limit=: the
// caller's uploads of the route, most recently changed first, a page at a
// time.
func (l *live) serveList(w http.ResponseWriter, req *http.Request) {
	route, g, ok := l.r.identifyOwner(w, req)
	if !ok {
		return
	}
	v := req.URL.Query()
	q := store.Query{Owner: g.Owner, Tenant: g.Tenant, Route: route, State: store.State(v.Get("state")), Newest: true}
	if c := v.Get("cursor"); c != "" {
		cur, err := decodeCursor(c)
		if err != nil {
			l.r.writeError(w, req, ErrBadRequest.With("the cursor is not one this list returned"))
			return
		}
		q.After = cur
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			l.r.writeError(w, req, ErrBadRequest.With("limit must be 1-100"))
			return
		}
		q.Limit = n
	} else {
		q.Limit = 20
	}
	q, err := q.Check()
	if err != nil {
		l.r.writeError(w, req, ErrBadRequest.With("state must be one of uploading, processing, ready, rejected, quarantined, failed"))
		return
	}
	recs, err := l.r.store.List(req.Context(), q)
	if err != nil {
		l.r.writeError(w, req, apierr.Unavailable(err))
		return
	}
	p := Page{Uploads: make([]Upload, len(recs))}
	for i, rec := range recs {
		p.Uploads[i] = l.r.uploadJSON(rec)
	}
	if len(recs) == q.Limit {
		p.Next = encodeCursor(recs[len(recs)-1].Cursor())
	}
	apierr.WriteJSON(w, http.StatusOK, p)
}
