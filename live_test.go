package carcosa_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// sseEvent is one Server-Sent Event as a client reads it.
type sseEvent struct {
	ID, Name string
	Data     json.RawMessage
}

// sseStream reads the events of a stream as they come.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	done   chan struct{} // closed when the stream ends
}

// openStream opens url as user, with extra headers, and reads its events
// on a goroutine; it fails the test unless the answer is an event stream.
func (tb *testBundle) openStream(t *testing.T, url, user string, hdr map[string]string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("X-User", user)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := tb.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 1000), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.Name != "" {
					s.events <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				e.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.Data = json.RawMessage(strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return s
}

// next returns the next event, failing the test after 10 s.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-s.done:
		select {
		case e := <-s.events:
			return e
		default:
		}
		t.Fatal("the stream ended")
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return sseEvent{}
}

// ended reports whether the stream ends, with no event left, within 5 s.
func (s *sseStream) ended() bool {
	select {
	case <-s.done:
		return len(s.events) == 0
	case <-time.After(5 * time.Second):
		return false
	}
}

type stateData struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Size  int64  `json:"size"`
	SHA   string `json:"sha256"`
}

type progressData struct {
	ID             string  `json:"id"`
	State          string  `json:"state"`
	Offset         int64   `json:"offset"`
	Size           int64   `json:"size"`
	BytesPerSecond float64 `json:"bytesPerSecond"`
	ETASeconds     float64 `json:"etaSeconds"`
}

// An upload's stream, opened by its owner while it is uploading, tells the
// progress of every PATCH (the last event of each at its end offset), then
// the upload's states to ready, and ends.
func TestLiveUploadStream(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(300_000)
	resp, body := tb.tusCreate(t, "alice", int64(len(data)), tusMetadata("route", "files", "filename", "a.bin"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndexByte(loc, '/')+1:]

	// Others are not told the upload exists.
	r2, b2 := tb.do(t, "GET", tb.url("/uploads/"+id+"/events"), "mallory", nil, nil)
	wantError(t, r2, b2, 404, "not_found")

	s := tb.openStream(t, tb.url("/uploads/"+id+"/events"), "alice", nil)
	first := s.next(t)
	var st stateData
	if json.Unmarshal(first.Data, &st); first.Name != "state" || st.ID != id || st.State != "uploading" || first.ID == "" {
		t.Fatalf("first event: %+v", first)
	}
	for off := 0; off < len(data); off += 100_000 {
		r, b := tb.tusPatch(t, loc, "alice", int64(off), data[off:off+100_000], nil)
		if r.StatusCode != 204 {
			t.Fatalf("PATCH: %d %s", r.StatusCode, b)
		}
		if off+100_000 == len(data) {
			break
		}
		// Progress events until the PATCH's end offset.
		for {
			e := s.next(t)
			var p progressData
			json.Unmarshal(e.Data, &p)
			if e.Name != "progress" || p.ID != id || p.State != "uploading" || p.Size != int64(len(data)) || e.ID == "" {
				t.Fatalf("progress event: %+v", e)
			}
			if p.Offset == int64(off+100_000) {
				if p.BytesPerSecond <= 0 || p.ETASeconds < 0 {
					t.Fatalf("rate and ETA at the end of a PATCH: %+v", p)
				}
				break
			}
		}
	}
	var states []string
	for {
		e := s.next(t)
		if e.Name == "progress" {
			continue
		}
		var st stateData
		json.Unmarshal(e.Data, &st)
		states = append(states, st.State)
		if st.State == "ready" {
			if st.SHA != sha(data) || st.Size != int64(len(data)) {
				t.Fatalf("ready event: %s", e.Data)
			}
			break
		}
	}
	if states[len(states)-1] != "ready" {
		t.Fatalf("states %v", states)
	}
	if !s.ended() {
		t.Fatal("the stream goes on after ready")
	}

	// A stream opened on a finished upload says its state and ends.
	s2 := tb.openStream(t, tb.url("/uploads/"+id+"/events"), "alice", nil)
	e := s2.next(t)
	json.Unmarshal(e.Data, &st)
	if e.Name != "state" || st.State != "ready" || !s2.ended() {
		t.Fatalf("finished upload's stream: %+v", e)
	}
	// With the last event seen as Last-Event-ID, it says nothing more.
	s3 := tb.openStream(t, tb.url("/uploads/"+id+"/events"), "alice", map[string]string{"Last-Event-ID": e.ID})
	if !s3.ended() {
		t.Fatal("a stream resumed after the final state goes on")
	}
}

// The caller's list and dashboard stream: GET B/uploads lists the
// caller's uploads of the route, most recently changed first, in pages;
// GET B/events streams their state changes and nobody else's.
func TestLiveListAndOwnerStream(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), nil)
	events := tb.openStream(t, tb.url("/events?route=files"), "alice", nil)

	var ids []string
	for i := range 3 {
		id, resp, body := tb.tusUpload(t, "alice", "files", "a.bin", randomBytes(1000+i), 1000+i)
		if resp.StatusCode != 204 {
			t.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
		ids = append(ids, id)
	}
	other, _, _ := tb.tusUpload(t, "bob", "files", "b.bin", randomBytes(500), 500)

	// Every state of alice's uploads, none of bob's.
	seen := map[string][]string{}
	for len(seen[ids[2]]) == 0 || seen[ids[2]][len(seen[ids[2]])-1] != "ready" {
		e := events.next(t)
		var st stateData
		json.Unmarshal(e.Data, &st)
		if e.Name != "state" || st.ID == other {
			t.Fatalf("event: %+v", e)
		}
		seen[st.ID] = append(seen[st.ID], st.State)
	}
	for _, id := range ids {
		if got := seen[id]; len(got) == 0 || got[len(got)-1] != "ready" {
			t.Errorf("upload %s: states %v", id, got)
		}
	}

	var page struct {
		Uploads []stateData `json:"uploads"`
		Next    string      `json:"next"`
	}
	resp, body := tb.do(t, "GET", tb.url("/uploads?route=files&limit=2"), "alice", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	json.Unmarshal(body, &page)
	if len(page.Uploads) != 2 || page.Uploads[0].ID != ids[2] || page.Uploads[1].ID != ids[1] || page.Next == "" {
		t.Fatalf("first page: %s", body)
	}
	resp, body = tb.do(t, "GET", tb.url("/uploads?route=files&limit=2&cursor="+page.Next), "alice", nil, nil)
	page.Uploads, page.Next = nil, ""
	json.Unmarshal(body, &page)
	if resp.StatusCode != 200 || len(page.Uploads) != 1 || page.Uploads[0].ID != ids[0] || page.Next != "" {
		t.Fatalf("second page: %d %s", resp.StatusCode, body)
	}
	resp, body = tb.do(t, "GET", tb.url("/uploads?route=files&state=rejected"), "alice", nil, nil)
	if resp.StatusCode != 200 || strings.Contains(string(body), ids[0]) {
		t.Fatalf("rejected uploads: %d %s", resp.StatusCode, body)
	}
	for _, c := range []struct {
		url, user string
		status    int
		code      string
	}{
		{"/uploads?route=files", "", 401, "unauthorized"},
		{"/uploads?route=nope", "alice", 404, "unknown_route"},
		{"/uploads?route=files&state=lost", "alice", 400, "bad_request"},
		{"/uploads?route=files&limit=0", "alice", 400, "bad_request"},
		{"/uploads?route=files&cursor=abc", "alice", 400, "bad_request"},
		{"/events?route=files", "", 401, "unauthorized"},
	} {
		resp, body := tb.do(t, "GET", tb.url(c.url), c.user, nil, nil)
		wantError(t, resp, body, c.status, c.code)
	}
}

// stuckBroker is a Broker whose Publish waits until release is closed,
// whatever its context says, as one whose backend stopped answering and
// whose driver ignores deadlines.
type stuckBroker struct {
	*broker.Local
	release chan struct{}
}

func (b stuckBroker) Publish(context.Context, string, []byte) error {
	<-b.release
	return nil
}

// A Broker that stops answering never holds up an upload: more messages
// than the publisher buffers (a tus upload of 1,200 one-byte PATCHes) and
// the upload still ends ready.
func TestLiveStuckBrokerNeverHoldsUploads(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Broker = stuckBroker{Local: broker.New(), release: release}
	})
	t.Cleanup(func() { close(release) })
	data := randomBytes(1200)
	type outcome struct {
		status int
		state  string
	}
	done := make(chan outcome, 1)
	go func() {
		_, resp, _ := tb.tusUpload(t, "alice", "files", "a.bin", data, 1)
		done <- outcome{resp.StatusCode, resp.Header.Get("Upload-State")}
	}()
	select {
	case o := <-done:
		if o.status != 204 || o.state != "ready" {
			t.Fatalf("last PATCH: %d, Upload-State %q", o.status, o.state)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the upload is held up by the stuck Broker")
	}
}
