package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/carcosa-dev/carcosa/storage"
)

type multipartResult struct {
	Uploads []record `json:"uploads"`
}

func TestMultipartUploadRoundTrip(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	a, b := pngBytes(t, 64), pngBytes(t, 80)
	body, ct := multipartBody(t,
		part{field: "input", data: []byte(`{"album":"summer"}`)},
		part{field: "file", name: "../../etc/a.png", ctype: "image/png", data: a},
		part{field: "file", name: "b\u202egnp.png", ctype: "text/plain", data: b},
	)
	resp, raw := tb.do(t, "POST", tb.url("/routes/images"), "alice", body, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	var got multipartResult
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Uploads) != 2 {
		t.Fatalf("uploads = %+v", got.Uploads)
	}
	for i, want := range [][]byte{a, b} {
		u := got.Uploads[i]
		if u.State != "ready" || u.Type != "image/png" || u.Size != int64(len(want)) || u.SHA256 != sha(want) {
			t.Fatalf("upload %d = %+v", i, u)
		}
		if !bytes.Equal(tb.fetch(t, u.URL), want) {
			t.Fatalf("upload %d: served bytes differ", i)
		}
		if string(u.Result) == "" {
			t.Fatalf("upload %d: no callback result", i)
		}
	}
	if got.Uploads[0].Name != "a.png" {
		t.Errorf("name = %q, want a.png", got.Uploads[0].Name)
	}
	if n := got.Uploads[1].Name; bytes.ContainsRune([]byte(n), '\u202e') {
		t.Errorf("name %q keeps the RTL override", n)
	}
	// The record as stored agrees.
	rec := tb.record(t, got.Uploads[0].ID, "alice")
	if rec.State != "ready" || rec.Key == "" || rec.Key[:7] != "images/" {
		t.Fatalf("record = %+v", rec)
	}
	var res map[string]string
	json.Unmarshal(rec.Result, &res)
	if res["user"] != "alice" {
		t.Fatalf("result = %s", rec.Result)
	}
	// Another owner cannot see it.
	resp, raw = tb.do(t, "GET", tb.url("/uploads/"+rec.ID), "mallory", nil, nil)
	wantError(t, resp, raw, 404, "not_found")
}

func TestMultipartRefusals(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	img := pngBytes(t, 32)
	big := append(pngBytes(t, 32), make([]byte, 1<<20)...)
	text := []byte("hello, plain text\n")
	cases := []struct {
		name   string
		route  string
		user   string
		parts  []part
		status int
		code   string
	}{
		{"unknown route", "nope", "alice", []part{{field: "file", name: "a.png", data: img}}, 404, "unknown_route"},
		{"no user", "images", "", []part{{field: "input", data: []byte(`{"album":"x"}`)}, {field: "file", name: "a.png", data: img}}, 401, "unauthorized"},
		{"banned", "images", "banned", []part{{field: "input", data: []byte(`{"album":"x"}`)}, {field: "file", name: "a.png", data: img}}, 403, "forbidden"},
		{"wrong type", "images", "alice", []part{{field: "input", data: []byte(`{"album":"x"}`)}, {field: "file", name: "a.png", ctype: "image/png", data: text}}, 415, "type_not_allowed"},
		{"executable as image", "images", "alice", []part{{field: "input", data: []byte(`{"album":"x"}`)}, {field: "file", name: "cat.png", ctype: "image/png", data: peBytes()}}, 415, "executable_not_allowed"},
		{"extension disagrees", "files", "alice", []part{{field: "file", name: "cat.jpg", data: img}}, 415, "type_mismatch"},
		{"too large", "images", "alice", []part{{field: "input", data: []byte(`{"album":"x"}`)}, {field: "file", name: "a.png", data: big}}, 413, "too_large"},
		{"too many", "files", "alice", []part{{field: "file", name: "1.txt", data: text}, {field: "file", name: "2.txt", data: text}, {field: "file", name: "3.txt", data: text}}, 400, "too_many_files"},
		{"none", "files", "alice", []part{{field: "other", data: text}}, 400, "too_few_files"},
		{"input after files", "files", "alice", []part{{field: "file", name: "1.txt", data: text}, {field: "input", data: []byte(`{}`)}}, 400, "bad_request"},
		{"callback rejects", "strict", "alice", []part{{field: "file", name: "1.txt", data: text}}, 422, "not_welcome"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ct := multipartBody(t, c.parts...)
			resp, raw := tb.do(t, "POST", tb.url("/routes/"+c.route), c.user, body, map[string]string{"Content-Type": ct})
			wantError(t, resp, raw, c.status, c.code)
		})
	}
	// Nothing refused was left in storage.
	assertNoObjects(t, tb)
}

func TestMultipartNotMultipart(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, raw := tb.do(t, "POST", tb.url("/routes/files"), "alice", bytes.NewReader([]byte("x")), map[string]string{"Content-Type": "application/json"})
	wantError(t, resp, raw, 400, "bad_request")
	resp, raw = tb.do(t, "POST", tb.url("/routes/files"), "alice", bytes.NewReader([]byte("--x\r\nbroken")), map[string]string{"Content-Type": "multipart/form-data; boundary=x"})
	wantError(t, resp, raw, 400, "bad_request")
}

// assertNoObjects checks that every object in storage belongs to a ready
// record: nothing refused or half-done is left behind.
func assertNoObjects(t *testing.T, tb *testBundle) {
	t.Helper()
	it := tb.storage.(*storage.Bucket).Blob().List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		rec, err := tb.store.GetByKey(context.Background(), obj.Key)
		if err != nil || rec.State != "ready" {
			t.Errorf("object %s is stored without a ready record (%v)", obj.Key, err)
		}
	}
}
