package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Event is one Server-Sent Event.
type Event struct {
	ID   string // the last "id:" seen, as the SSE standard keeps it
	Name string // "event:"; "message" when absent
	Data string // the "data:" lines, joined by "\n"
}

// maxEventLine bounds one line of an event stream: a record is far
// smaller.
const maxEventLine = 1 << 20

// errLineTooLong is the error of a stream with a line over maxEventLine.
var errLineTooLong = errors.New("client: an event stream line is too long")

// readEvents parses a text/event-stream from r, as the HTML standard
// says, and calls fn for each event dispatched, until r ends, fn returns
// an error, or a line is longer than maxEventLine. Comments and fields
// other than id, event and data are skipped; an event without data is not
// dispatched.
func readEvents(r io.Reader, fn func(Event) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		lastID  string
		name    string
		data    strings.Builder
		hasData bool
		first   = true
	)
	for {
		line, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				return nil // an event not ended by a blank line is dropped
			}
			return err
		}
		if first {
			line = strings.TrimPrefix(line, "\ufeff")
			first = false
		}
		if line == "" {
			if hasData {
				ev := Event{ID: lastID, Name: name, Data: data.String()}
				if ev.Name == "" {
					ev.Name = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			name, hasData = "", false
			data.Reset()
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, ok := strings.Cut(line, ":")
		if ok {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			name = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
			if data.Len() > maxEventLine {
				return errLineTooLong
			}
		case "id":
			if !strings.ContainsRune(value, 0) {
				lastID = value
			}
		}
	}
}

// readLine reads one line ended by "\r\n", "\n" or "\r" (a lone "\r" at
// the end of what is buffered is taken as the end of its line).
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return string(buf), nil
			}
			return "", err
		}
		switch b {
		case '\n':
			return string(buf), nil
		case '\r':
			if next, err := br.Peek(1); err == nil && next[0] == '\n' {
				br.ReadByte()
			}
			return string(buf), nil
		}
		if len(buf) >= maxEventLine {
			return "", errLineTooLong
		}
		buf = append(buf, b)
	}
}

// errStreamEnded is how follow reports a stream that ended before a final
// state.
var errStreamEnded = errors.New("client: the event stream ended before a final state")

// Wait returns upload id's record once it is in a final state (ready,
// rejected, quarantined or failed). It follows the upload's event stream
// (GET B/uploads/{id}/events) and, should the stream fail, polls the
// record instead. An upload that ends otherwise than ready is no error of
// Wait's: see Upload.Err.
func (c *Client) Wait(ctx context.Context, id string) (*Upload, error) {
	u, err := c.follow(ctx, id)
	if err == nil {
		return u, nil
	}
	var e *Error
	if ctx.Err() != nil || (errors.As(err, &e) && !retryable(ctx, err)) {
		return nil, err
	}
	return c.poll(ctx, id)
}

// follow reads upload id's event stream until a final state.
func (c *Client) follow(ctx context.Context, id string) (*Upload, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.URL("/uploads/"+pathID(id)+"/events"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, parseError(resp.StatusCode, resp.Header, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("client: the event stream answered %q", ct)
	}
	var final *Upload
	errFinal := errors.New("final")
	err = readEvents(resp.Body, func(ev Event) error {
		u, ok := stateEvent(ev)
		if ok && u.Final() {
			c.fixURLs(u)
			final = u
			return errFinal
		}
		return nil
	})
	if final != nil {
		return final, nil
	}
	if err == nil {
		err = errStreamEnded
	}
	return nil, err
}

// stateEvent is the record of a "state" event.
func stateEvent(ev Event) (*Upload, bool) {
	if ev.Name != "state" {
		return nil, false
	}
	var u Upload
	if err := json.Unmarshal([]byte(ev.Data), &u); err != nil || u.ID == "" || u.State == "" {
		return nil, false
	}
	return &u, true
}

// poll GETs upload id's record until it is final, at growing intervals
// from 250 ms to 2 s.
func (c *Client) poll(ctx context.Context, id string) (*Upload, error) {
	d := 250 * time.Millisecond
	for {
		u, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if u.Final() {
			return u, nil
		}
		if err := sleep(ctx, d); err != nil {
			return nil, err
		}
		d = min(2*d, 2*time.Second)
	}
}
