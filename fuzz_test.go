package carcosa

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
)

// fuzzInput is a route input type with the kinds of fields and rules routes
// use: bounded strings, integers and floats, a required nested struct, an
// optional pointer to one, and slices of scalars and of structs.
type fuzzInput struct {
	Caption string      `json:"caption" validate:"max=100"`
	Rating  int         `json:"rating" validate:"min=0,max=5"`
	Views   uint32      `json:"views"`
	Public  bool        `json:"public"`
	Album   fuzzAlbum   `json:"album" validate:"required"`
	Cover   *fuzzAlbum  `json:"cover,omitempty"`
	Tags    []string    `json:"tags" validate:"max=5,dive,required,max=16"`
	Tracks  []fuzzTrack `json:"tracks" validate:"max=3,dive"`
}

type fuzzAlbum struct {
	Title string `json:"title" validate:"required,max=40"`
	Year  int    `json:"year" validate:"omitempty,min=1900,max=2100"`
}

type fuzzTrack struct {
	Name    string  `json:"name" validate:"required,max=20"`
	Seconds float64 `json:"seconds" validate:"gte=0,lte=86400"`
}

// FuzzRouteInput feeds a client's JSON input through decodeInput, the strict
// decoding and validation every route's admission runs. It never panics; it
// refuses with a *Error of status 400 (bad_request) or 422 (invalid_input),
// never anything a client would see as a server error; JSON text beyond
// 64 KiB is refused; an object key that names no field is refused at any
// depth; and an accepted input, encoded again, decodes to an equal value.
// The same input decoded into a pointer type gives the same outcome, except
// that empty and null inputs give a nil pointer without validation.
func FuzzRouteInput(f *testing.F) {
	v := newValidator()
	valid := `{"caption":"sunset","rating":4,"album":{"title":"Summer","year":2024},"tags":["beach","sea"],"tracks":[{"name":"waves","seconds":61.5}]}`
	f.Add([]byte(valid))
	f.Add([]byte(`{"album":{"title":"a"}}`))
	f.Add([]byte(`{"album":{"title":"a"},"cover":{"title":"b","year":1999}}`))
	f.Add([]byte(`{"album":{"title":"a"},"admin":true}`))
	f.Add([]byte(`{"album":{"title":"a","owner":"x"}}`))
	f.Add([]byte(`{"album":{"title":"a"},"tracks":[{"name":"x","url":"y"}]}`))
	f.Add([]byte(`{"ALBUM":{"Title":"a"},"trac\u212as":[]}`))
	f.Add([]byte(`{"album":{"title":"a"},"rating":"5"}`))
	f.Add([]byte(`{"album":{"title":"a"},"rating":1e400}`))
	f.Add([]byte(`{"album":{"title":"a"},"views":-1}`))
	f.Add([]byte(`{"album":{"title":"a"},"rating":99999999999999999999}`))
	f.Add([]byte(`{"album":{"title":"a"},"tracks":[{"name":"x","seconds":-0}]}`))
	f.Add([]byte("{\"album\":{\"title\":\"\xff\xfe\"}}"))
	f.Add([]byte("\xef\xbb\xbf{\"album\":{\"title\":\"a\"}}"))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"album":{"title":"a"}} {"admin":true}`))
	f.Add([]byte(`{"album":{"title":"a"},"album":{"year":2000}}`))
	f.Add([]byte(`{"album":{"title":"a"},"tags":["a","b","c","d","e","f"]}`))

	// Deep nesting, and sizes on both sides of the limit. The JSON text is
	// what is bounded: whitespace around it is trimmed first.
	f.Add([]byte(`{"tags":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`))
	f.Add([]byte(strings.Repeat(`{"album":`, 5000) + `{}` + strings.Repeat(`}`, 5000)))
	pad := func(n int) []byte {
		b := []byte(`{"album":{"title":"a"}` + strings.Repeat(" ", n) + `}`)
		return b
	}
	f.Add(pad(maxInputSize - len(pad(0))))     // exactly at the limit: accepted
	f.Add(pad(maxInputSize - len(pad(0)) + 1)) // one byte over: refused
	f.Add([]byte(`{"caption":"` + strings.Repeat("x", 70000) + `"}`))
	f.Add([]byte(strings.Repeat(" ", 70000) + `{"album":{"title":"a"}}` + strings.Repeat("\n", 70000)))

	f.Fuzz(func(t *testing.T, input []byte) {
		text := bytes.TrimSpace(input)
		in, err := decodeInput[fuzzInput](v, input)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("decodeInput(%.200q) returned %T (%v); want *Error", input, err, err)
			}
			switch {
			case e.Status == http.StatusBadRequest && e.Code == ErrBadRequest.Code:
			case e.Status == http.StatusUnprocessableEntity && e.Code == ErrInvalidInput.Code:
			default:
				t.Fatalf("decodeInput(%.200q) = status %d code %q; want 400 bad_request or 422 invalid_input", input, e.Status, e.Code)
			}
			if len(text) >= 8 && strings.Contains(e.Message, string(text)) {
				t.Fatalf("error message echoes the input: %q", e.Message)
			}
			if len(text) > maxInputSize && e.Code != ErrInvalidInput.Code {
				t.Fatalf("%d bytes of input refused with %q; want invalid_input", len(text), e.Code)
			}
		} else {
			if len(text) > maxInputSize {
				t.Fatalf("accepted %d bytes of input; the limit is %d", len(text), maxInputSize)
			}
			if k, ok := unknownKey(text, reflect.TypeFor[fuzzInput]()); ok {
				t.Fatalf("accepted %.200q with the unknown field %q", input, k)
			}
			again, err := json.Marshal(in)
			if err != nil {
				t.Fatalf("encoding the decoded input %+v: %v", in, err)
			}
			in2, err := decodeInput[fuzzInput](v, again)
			if err != nil {
				t.Fatalf("accepted %.200q, but not its encoding %.200q: %v", input, again, err)
			}
			if !reflect.DeepEqual(in, in2) {
				t.Fatalf("%.200q decodes to %+v, its encoding %.200q to %+v", input, in, again, in2)
			}
		}

		p, perr := decodeInput[*fuzzInput](v, input)
		switch {
		case perr == nil && p == nil:
			if len(text) != 0 && string(text) != "null" {
				t.Fatalf("pointer input: %.200q decoded to nil", input)
			}
		case perr == nil:
			if err != nil || !reflect.DeepEqual(*p, in) {
				t.Fatalf("pointer input: %.200q gives %+v, the value type %+v, %v", input, *p, in, err)
			}
		default:
			if err == nil || apierr.Client(perr).Code != apierr.Client(err).Code {
				t.Fatalf("pointer input: %.200q refused with %v, the value type %v", input, perr, err)
			}
		}
	})
}

// unknownKey walks the first JSON value of text as decoding it into t
// would, and returns the first object key that names no field of the struct
// the object is decoded into. Keys match field names as encoding/json
// matches them, case-insensitively. A value of another shape than its type
// is not looked into: decoding fails on it anyway. So is anything after a
// syntax error or beyond encoding/json's nesting limit.
func unknownKey(text []byte, t reflect.Type) (string, bool) {
	w := keyWalker{dec: json.NewDecoder(bytes.NewReader(text))}
	w.walk(t, 0)
	return w.key, w.found
}

type keyWalker struct {
	dec   *json.Decoder
	key   string
	found bool
	stop  bool // found, or the walk cannot go on
}

func (w *keyWalker) walk(t reflect.Type, depth int) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > 10000 {
		w.stop = true
		return
	}
	tok, err := w.dec.Token()
	if err != nil {
		w.stop = true
		return
	}
	switch tok {
	case json.Delim('{'):
		for !w.stop && w.dec.More() {
			kt, err := w.dec.Token()
			if err != nil {
				w.stop = true
				return
			}
			k, _ := kt.(string)
			var ft reflect.Type
			if t != nil && t.Kind() == reflect.Struct {
				f, ok := jsonField(t, k)
				if !ok {
					w.key, w.found, w.stop = k, true, true
					return
				}
				ft = f.Type
			}
			w.walk(ft, depth+1)
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = t.Elem()
		}
		for !w.stop && w.dec.More() {
			w.walk(et, depth+1)
		}
	default:
		return
	}
	if !w.stop {
		if _, err := w.dec.Token(); err != nil { // the closing delimiter
			w.stop = true
		}
	}
}

// jsonField finds the field of struct t that the JSON key name decodes into.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" {
			tag = f.Name
		}
		if f.IsExported() && tag != "-" && strings.EqualFold(tag, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// FuzzDecodeCursor: a List cursor comes from whoever calls the Go API,
// possibly relayed from a client. Anything decoded must name a valid
// position, and re-encode to a cursor that decodes to the same position.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(store.Cursor{UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ID: "0123456789abcdef0123456789abcdef"}))
	f.Add("")
	f.Add("W10")
	f.Add("WyIiLCIiXQ")
	f.Add("bnVsbA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		if !lifecycle.ValidID(c.ID) {
			t.Fatalf("decoded an invalid ID %q", c.ID)
		}
		again, err := decodeCursor(encodeCursor(c))
		if err != nil || !again.UpdatedAt.Equal(c.UpdatedAt) || again.ID != c.ID {
			t.Fatalf("%+v re-encoded decodes to %+v, %v", c, again, err)
		}
	})
}
