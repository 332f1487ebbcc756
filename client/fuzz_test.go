package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// FuzzReadEvents feeds the event-stream parser what a server (or something
// in its place) might send: it never panics, dispatches only events with
// data, and an event it dispatched, written back as SSE, reads the same.
func FuzzReadEvents(f *testing.F) {
	f.Add("id: 1\nevent: state\ndata: {\"id\":\"u1\",\"state\":\"ready\"}\n\n")
	f.Add(": heartbeat\n\nevent: progress\ndata: {\"offset\":5}\r\n\r\n")
	f.Add("data: a\ndata: b\r\rdata\n\nevent:x\n\n")
	f.Add("\ufeffdata:no space\nid: 7\x00\nretry: 5\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var events []Event
		err := readEvents(strings.NewReader(in), func(ev Event) error {
			events = append(events, ev)
			return nil
		})
		if err != nil && !errors.Is(err, errLineTooLong) {
			t.Fatalf("error %v", err)
		}
		for _, ev := range events {
			if ev.Name == "" {
				t.Fatal("an event without a name")
			}
			if strings.ContainsAny(ev.Name, "\r\n") || strings.ContainsAny(ev.ID, "\r\n\x00") {
				t.Fatalf("a line break in %q", ev)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "id: %s\nevent: %s\n", ev.ID, ev.Name)
			for _, line := range strings.Split(ev.Data, "\n") {
				fmt.Fprintf(&b, "data: %s\n", line)
			}
			b.WriteString("\n")
			var again []Event
			readEvents(strings.NewReader(b.String()), func(ev Event) error {
				again = append(again, ev)
				return nil
			})
			if len(again) != 1 || again[0] != ev {
				t.Fatalf("%q reads back as %q", ev, again)
			}
			stateEvent(ev) // never panics
		}
	})
}

// FuzzParseError feeds the error parser any body and Retry-After: it never
// panics, keeps the status, and never shows a body that is not Carcosa's
// JSON.
func FuzzParseError(f *testing.F) {
	f.Add(415, "", `{"error":{"code":"type_not_allowed","message":"no","requestId":"r"}}`)
	f.Add(422, "", `{"error":{"code":"invalid_input","message":"bad","fields":[{"field":"a","rule":"required"}]}}`)
	f.Add(429, "120", `{"error":{"code":"quota_exceeded","message":"full","quota":{"scope":"owner","leftBytes":-1}}}`)
	f.Add(502, "x", "<html>Bad Gateway</html>")
	f.Add(503, "-1", `{"error":null}`)
	f.Add(999, "", `{"error":{"code":""}}`)
	f.Fuzz(func(t *testing.T, status int, retryAfter, body string) {
		e := parseError(status, http.Header{"Retry-After": {retryAfter}}, []byte(body))
		if e.Status != status || e.RetryAfter < 0 {
			t.Fatalf("%#v", e)
		}
		if e.Code == "" && e.Message != strings.ToLower(http.StatusText(status)) && e.Message != fmt.Sprintf("HTTP status %d", status) {
			t.Fatalf("a body that is not Carcosa's JSON shows as %q", e.Message)
		}
		_ = e.Error()
		_ = errors.Is(e, ErrNotFound)
	})
}
