package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
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

// TestMultipartAllOrNothing: when OnComplete refuses the second of three
// files, the request answers that refusal and no file of it stays: the
// first, whose OnComplete succeeded, is withdrawn through OnError with
// batch_rejected, as is the third, whose OnComplete never ran; their bytes
// are removed and their quota given back.
func TestMultipartAllOrNothing(t *testing.T) {
	t.Parallel()
	tb := newBundle(t, memstore.New(), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{Owner: quota.Limits{Bytes: 1 << 20, Files: 10}}
	})
	var (
		mu        sync.Mutex
		completed []string
		failed    = map[string]string{} // file name → error code
	)
	carcosa.Handle(tb.router, "pairs", carcosa.Route[struct{}, userMeta]{
		Accept: []string{"text"}, MaxFiles: 3,
		Middleware: func(_ context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[userMeta], error) {
			return grantOf(req.HTTP)
		},
		OnComplete: func(_ context.Context, _ userMeta, f carcosa.File) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			completed = append(completed, f.Name)
			if f.Name == "2.txt" {
				return nil, carcosa.Reject("second_refused", "the second file is refused")
			}
			return nil, nil
		},
		OnError: func(_ context.Context, _ userMeta, f carcosa.File, err error) {
			mu.Lock()
			defer mu.Unlock()
			var e *carcosa.Error
			errors.As(err, &e)
			failed[f.Name] = e.Code
		},
	})
	tb.serve(t)

	body, ct := multipartBody(t,
		part{field: "file", name: "1.txt", data: []byte("the first file\n")},
		part{field: "file", name: "2.txt", data: []byte("the second file\n")},
		part{field: "file", name: "3.txt", data: []byte("the third file\n")},
	)
	resp, raw := tb.do(t, "POST", tb.url("/routes/pairs"), "alice", body, map[string]string{"Content-Type": ct})
	wantError(t, resp, raw, 422, "second_refused")

	recs, err := tb.store.List(t.Context(), store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for _, rec := range recs {
		want := "batch_rejected"
		if rec.Name == "2.txt" {
			want = "second_refused"
		}
		if rec.State != store.Rejected || rec.ErrorCode != want {
			t.Errorf("%s: %s %s, want rejected %s", rec.Name, rec.State, rec.ErrorCode, want)
		}
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Errorf("objects left in storage: %v", keys)
	}
	mu.Lock()
	if want := []string{"1.txt", "2.txt"}; !slices.Equal(completed, want) {
		t.Errorf("OnComplete ran for %v, want %v", completed, want)
	}
	if want := map[string]string{"1.txt": "batch_rejected", "2.txt": "second_refused", "3.txt": "batch_rejected"}; !maps.Equal(failed, want) {
		t.Errorf("OnError ran with %v, want %v", failed, want)
	}
	mu.Unlock()
	wantUsed(t, "after the refused request", tb.usage(t, "alice", "pairs")["owner/"], 0, 0)
}

// TestMultipartScanFailsInBatch: a file of a several-file request that
// cannot be scanned does not wait for a retry that would make it ready
// after its request failed: it is removed with scan_failed, and the
// other files with it.
func TestMultipartScanFailsInBatch(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Queue = fastQueue()
		c.Scanner = scan.Func(func(_ context.Context, r io.Reader) (scan.Verdict, error) {
			b, err := io.ReadAll(r)
			if err == nil && bytes.HasPrefix(b, []byte("UNSCANNABLE")) {
				err = errors.New("the scanner broke")
			}
			return scan.Verdict{}, err
		})
	})
	body, ct := multipartBody(t,
		part{field: "file", name: "1.txt", data: []byte("a file the scanner reads\n")},
		part{field: "file", name: "2.txt", data: []byte("UNSCANNABLE file\n")},
	)
	resp, raw := tb.do(t, "POST", tb.url("/routes/files"), "alice", body, map[string]string{"Content-Type": ct})
	wantError(t, resp, raw, 503, "scan_failed")
	time.Sleep(200 * time.Millisecond) // time for a retry, if one were scheduled
	recs, err := tb.store.List(t.Context(), store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1.txt": "rejected batch_rejected", "2.txt": "failed scan_failed"}
	got := map[string]string{}
	for _, rec := range recs {
		got[rec.Name] = string(rec.State) + " " + rec.ErrorCode
	}
	if !maps.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Errorf("objects left in storage: %v", keys)
	}
}
