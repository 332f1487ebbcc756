package carcosa_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/store"
)

// aliceUploads are alice's uploads in every state another owner could aim
// at, with the bytes each holds or will hold.
type aliceUploads struct {
	user string // X-User: the owner, and its tenant

	inProgress, inProgressURL string // a tus upload with some of its bytes
	inProgressData            []byte
	inProgressOffset          int64

	partial, partialURL string // a tus partial upload with all its bytes
	partialData         []byte

	partialWIP, partialWIPURL string // a tus partial upload still receiving bytes
	partialWIPData            []byte
	partialWIPOffset          int64

	multipart     string // a ready file that came in by multipart
	multipartData []byte

	tusReady     string // a ready file that came in by tus
	tusReadyData []byte
}

func newAliceUploads(t *testing.T, tb *testBundle, user string) *aliceUploads {
	t.Helper()
	a := &aliceUploads{
		user:           user,
		inProgressData: randomBytes(1000), inProgressOffset: 400,
		partialData:    randomBytes(300),
		partialWIPData: randomBytes(500), partialWIPOffset: 200,
		multipartData: randomBytes(700),
		tusReadyData:  randomBytes(900),
	}
	resp, body := tb.tusCreate(t, a.user, int64(len(a.inProgressData)), tusMetadata("route", "files", "filename", "wip.bin"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	a.inProgressURL = resp.Header.Get("Location")
	a.inProgress = lastSegment(a.inProgressURL)
	if resp, body := tb.tusPatch(t, a.inProgressURL, a.user, 0, a.inProgressData[:a.inProgressOffset], nil); resp.StatusCode != 204 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}

	a.partialURL = tb.tusPartials(t, a.user, "files", a.partialData)[0]
	a.partial = lastSegment(a.partialURL)

	resp, body = tb.tusCreate(t, a.user, int64(len(a.partialWIPData)), tusMetadata("route", "files"), map[string]string{"Upload-Concat": "partial"})
	if resp.StatusCode != 201 {
		t.Fatalf("create partial: %d %s", resp.StatusCode, body)
	}
	a.partialWIPURL = resp.Header.Get("Location")
	a.partialWIP = lastSegment(a.partialWIPURL)
	if resp, body := tb.tusPatch(t, a.partialWIPURL, a.user, 0, a.partialWIPData[:a.partialWIPOffset], nil); resp.StatusCode != 204 {
		t.Fatalf("PATCH partial: %d %s", resp.StatusCode, body)
	}

	mp, ct := multipartBody(t, part{field: "file", name: "m.bin", data: a.multipartData})
	resp, body = tb.do(t, "POST", tb.url("/routes/files"), a.user, mp, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	var got multipartResult
	if err := json.Unmarshal(body, &got); err != nil || len(got.Uploads) != 1 || got.Uploads[0].State != "ready" {
		t.Fatalf("multipart answer %s: %v", body, err)
	}
	a.multipart = got.Uploads[0].ID

	var pr *http.Response
	a.tusReady, pr, body = tb.tusUpload(t, a.user, "files", "t.bin", a.tusReadyData, 1<<20)
	if pr.StatusCode != 204 || pr.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus upload: %d %s", pr.StatusCode, body)
	}
	return a
}

func (a *aliceUploads) ids() []string {
	return []string{a.inProgress, a.partial, a.partialWIP, a.multipart, a.tusReady}
}

func lastSegment(u string) string { return u[strings.LastIndexByte(u, '/')+1:] }

// aliceState is what alice's uploads are: their records as stored, and the
// offsets of those still receiving bytes as alice's own HEAD reports them.
type aliceState struct {
	records map[string]*store.Upload
	offsets map[string]string
}

func (tb *testBundle) aliceState(t *testing.T, a *aliceUploads) aliceState {
	t.Helper()
	s := aliceState{records: map[string]*store.Upload{}, offsets: map[string]string{}}
	for _, id := range a.ids() {
		rec, err := tb.store.Get(t.Context(), id)
		if err != nil {
			t.Fatalf("alice's upload %s: %v", id, err)
		}
		s.records[id] = rec
	}
	for _, u := range []string{a.inProgressURL, a.partialURL, a.partialWIPURL} {
		resp, body := tb.do(t, "HEAD", u, a.user, nil, map[string]string{"Tus-Resumable": "1.0.0"})
		if resp.StatusCode != 200 {
			t.Fatalf("alice's HEAD %s: %d %s", u, resp.StatusCode, body)
		}
		s.offsets[lastSegment(u)] = resp.Header.Get("Upload-Offset") + "/" + resp.Header.Get("Upload-Length")
	}
	return s
}

// probe is one request about an upload, by its ID.
type probe struct {
	name string
	// target is the ID of alice's upload the request is aimed at.
	target func(a *aliceUploads) string
	send   func(t *testing.T, tb *testBundle, id, user string) (*http.Response, []byte)
}

func tusProbe(method string, offset int64, data []byte) func(*testing.T, *testBundle, string, string) (*http.Response, []byte) {
	return func(t *testing.T, tb *testBundle, id, user string) (*http.Response, []byte) {
		if method == "PATCH" {
			return tb.tusPatch(t, tb.url("/tus/"+id), user, offset, data, nil)
		}
		return tb.do(t, method, tb.url("/tus/"+id), user, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	}
}

func concatProbe(t *testing.T, tb *testBundle, id, user string) (*http.Response, []byte) {
	return tb.tusCreate(t, user, -1, tusMetadata("route", "files", "filename", "x.bin"),
		map[string]string{"Upload-Concat": "final;" + tb.url("/tus/"+id)})
}

func httpProbe(method, suffix string) func(*testing.T, *testBundle, string, string) (*http.Response, []byte) {
	return func(t *testing.T, tb *testBundle, id, user string) (*http.Response, []byte) {
		return tb.do(t, method, tb.url("/uploads/"+id+suffix), user, nil, nil)
	}
}

// probes are the requests an owner may make about an upload, each aimed at
// the state of alice's upload where it would do the most harm.
func probes() []probe {
	inProgress := func(a *aliceUploads) string { return a.inProgress }
	wip := randomBytes(600) // the rest of alice's in-progress upload, in length
	return []probe{
		{"tus HEAD in progress", inProgress, tusProbe("HEAD", 0, nil)},
		{"tus PATCH in progress", inProgress, tusProbe("PATCH", 400, wip)},
		{"tus DELETE in progress", inProgress, tusProbe("DELETE", 0, nil)},
		{"tus HEAD partial", func(a *aliceUploads) string { return a.partial }, tusProbe("HEAD", 0, nil)},
		{"tus PATCH partial in progress", func(a *aliceUploads) string { return a.partialWIP }, tusProbe("PATCH", 200, wip[:300])},
		{"tus DELETE partial", func(a *aliceUploads) string { return a.partial }, tusProbe("DELETE", 0, nil)},
		{"tus HEAD ready", func(a *aliceUploads) string { return a.tusReady }, tusProbe("HEAD", 0, nil)},
		{"tus DELETE ready", func(a *aliceUploads) string { return a.tusReady }, tusProbe("DELETE", 0, nil)},
		{"tus concatenation of a partial", func(a *aliceUploads) string { return a.partial }, concatProbe},
		{"tus concatenation of a partial in progress", func(a *aliceUploads) string { return a.partialWIP }, concatProbe},
		{"tus concatenation of an upload in progress", inProgress, concatProbe},
		{"GET record multipart", func(a *aliceUploads) string { return a.multipart }, httpProbe("GET", "")},
		{"GET record tus ready", func(a *aliceUploads) string { return a.tusReady }, httpProbe("GET", "")},
		{"GET record in progress", inProgress, httpProbe("GET", "")},
		{"DELETE record multipart", func(a *aliceUploads) string { return a.multipart }, httpProbe("DELETE", "")},
		{"DELETE record tus ready", func(a *aliceUploads) string { return a.tusReady }, httpProbe("DELETE", "")},
		{"complete multipart", func(a *aliceUploads) string { return a.multipart }, httpProbe("POST", "/complete")},
		{"complete tus in progress", inProgress, httpProbe("POST", "/complete")},
	}
}

// errorOf reads resp as a JSON error; a HEAD answer has no body, so only
// its status and Content-Type say what it is.
func errorOf(t *testing.T, resp *http.Response, body []byte) (status int, code, message string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d, Content-Type %q, want a JSON error; body %q", resp.StatusCode, ct, body)
	}
	if resp.Request.Method == "HEAD" {
		return resp.StatusCode, "", ""
	}
	var e errResp
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d, body %q, want a JSON error", resp.StatusCode, body)
	}
	return resp.StatusCode, e.Error.Code, e.Error.Message
}

func wantErrorOf(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	gotStatus, gotCode, _ := errorOf(t, resp, body)
	if gotStatus != status || (resp.Request.Method != "HEAD" && gotCode != code) {
		t.Fatalf("%d %q, want %d %q; body %s", gotStatus, gotCode, status, code, body)
	}
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// One owner can neither read, change, delete nor claim another's uploads,
// nor learn that they exist: every request about an upload re-runs its
// route's middleware, and an upload of another owner is not found.
func TestOwnerIsolation(t *testing.T) {
	t.Parallel()
	isolation(t, "alice", "mallory")
}

// One tenant can neither read, change, delete nor claim another tenant's
// uploads, nor learn that they exist, even under the same owner name; and
// an owner without a tenant is another owner than one with.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ victim, attacker string }{
		{"alice@acme", "alice@evil"},   // the same owner name in another tenant
		{"alice@acme", "mallory@acme"}, // another owner of the same tenant
		{"alice@acme", "alice"},        // the same owner name without a tenant
		{"alice", "alice@acme"},        // and the other way round
	} {
		t.Run(c.victim+" against "+c.attacker, func(t *testing.T) {
			t.Parallel()
			isolation(t, c.victim, c.attacker)
		})
	}
}

// isolation checks that attacker can do nothing to victim's uploads, in
// every state and by every way in.
func isolation(t *testing.T, victim, attacker string) {
	tb := setup(t)
	a := newAliceUploads(t, tb, victim)
	before := tb.aliceState(t, a)

	// Mallory's own partial upload, to mix into a concatenation.
	mallorysPartial := tb.tusPartials(t, attacker, "files", randomBytes(100))[0]

	t.Run("requests", func(t *testing.T) {
		for _, p := range probes() {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				target := p.target(a)

				t.Run("by another owner", func(t *testing.T) {
					resp, body := p.send(t, tb, target, attacker)
					wantErrorOf(t, resp, body, 404, "not_found")
				})
				// IDs cannot be probed: another owner's upload, one that
				// does not exist and an ID that cannot exist answer alike.
				t.Run("same as an unknown ID", func(t *testing.T) {
					resp, body := p.send(t, tb, target, attacker)
					s, c, m := errorOf(t, resp, body)
					for _, id := range []string{randomID(), "not-an-id", strings.Repeat("Z", 32)} {
						resp, body := p.send(t, tb, id, attacker)
						s2, c2, m2 := errorOf(t, resp, body)
						if s2 != s || c2 != c || m2 != m {
							t.Errorf("ID %q: %d %q %q; alice's upload: %d %q %q", id, s2, c2, m2, s, c, m)
						}
					}
				})
				// Without credentials the middleware refuses before any
				// ownership is looked at.
				t.Run("without credentials", func(t *testing.T) {
					resp, body := p.send(t, tb, target, "")
					wantErrorOf(t, resp, body, 401, "unauthorized")
				})
			})
		}
		t.Run("tus concatenation mixing in another owner's partial", func(t *testing.T) {
			t.Parallel()
			resp, body := tb.tusCreate(t, attacker, -1, tusMetadata("route", "files", "filename", "x.bin"),
				map[string]string{"Upload-Concat": "final;" + mallorysPartial + " " + a.partialURL})
			wantErrorOf(t, resp, body, 404, "not_found")
		})
	})

	t.Run("nothing changed", func(t *testing.T) {
		after := tb.aliceState(t, a)
		for id, rec := range before.records {
			if !reflect.DeepEqual(after.records[id], rec) {
				t.Errorf("alice's upload %s changed:\n was %+v\n now %+v", id, rec, after.records[id])
			}
		}
		if !reflect.DeepEqual(after.offsets, before.offsets) {
			t.Errorf("offsets changed: were %v, now %v", before.offsets, after.offsets)
		}
		// Mallory created nothing but her own partial upload.
		recs, err := tb.store.List(t.Context(), store.Query{State: store.Uploading})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if userOf(r) != victim && r.ID != lastSegment(mallorysPartial) {
				t.Errorf("a request of %s left upload %s (owner %q)", attacker, r.ID, userOf(r))
			}
		}
	})

	// Alice's bytes are hers alone: what she finishes and downloads is
	// exactly what she sent.
	t.Run("alice's bytes", func(t *testing.T) {
		download := func(t *testing.T, id string, want []byte) {
			t.Helper()
			rec := tb.record(t, id, victim)
			if rec.State != "ready" || rec.SHA256 != sha(want) {
				t.Fatalf("upload %s: %+v", id, rec)
			}
			if got := tb.fetch(t, rec.URL); !bytes.Equal(got, want) {
				t.Fatalf("upload %s: served %d bytes that differ from the %d sent", id, len(got), len(want))
			}
		}
		download(t, a.multipart, a.multipartData)
		download(t, a.tusReady, a.tusReadyData)

		resp, body := tb.tusPatch(t, a.inProgressURL, victim, a.inProgressOffset, a.inProgressData[a.inProgressOffset:], nil)
		if resp.StatusCode != 204 {
			t.Fatalf("alice's last PATCH: %d %s", resp.StatusCode, body)
		}
		download(t, a.inProgress, a.inProgressData)

		if resp, body := tb.tusPatch(t, a.partialWIPURL, victim, a.partialWIPOffset, a.partialWIPData[a.partialWIPOffset:], nil); resp.StatusCode != 204 {
			t.Fatalf("alice's partial: %d %s", resp.StatusCode, body)
		}
		resp, body = tb.tusCreate(t, victim, -1, tusMetadata("route", "files", "filename", "whole.bin"),
			map[string]string{"Upload-Concat": "final;" + a.partialURL + " " + a.partialWIPURL})
		if resp.StatusCode != 201 {
			t.Fatalf("alice's concatenation: %d %s", resp.StatusCode, body)
		}
		download(t, lastSegment(resp.Header.Get("Location")), append(append([]byte{}, a.partialData...), a.partialWIPData...))
	})

	// Files are not served by owner: a private file's URL is signed, and
	// the signature is the capability. Whoever holds the URL alice's record
	// gives reads the file; without it nobody does, alice included.
	t.Run("files by signed URL", func(t *testing.T) {
		rec := tb.record(t, a.tusReady, victim)
		pu, err := url.Parse(rec.URL)
		if err != nil || pu.Query().Get("sig") == "" {
			t.Fatalf("private file URL %q is not signed", rec.URL)
		}
		for _, user := range []string{"", victim, attacker} {
			resp, body := tb.do(t, "GET", tb.server.URL+pu.Path, user, nil, nil)
			wantError(t, resp, body, 403, "invalid_signature")
		}
		resp, body := tb.do(t, "GET", tb.server.URL+rec.URL, attacker, nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, a.tusReadyData) {
			t.Fatalf("signed URL: %d, %d bytes; want 200 and alice's %d", resp.StatusCode, len(body), len(a.tusReadyData))
		}
	})

	t.Run("presigned", func(t *testing.T) {
		t.Parallel()
		pb := newPresignBundle(t, s3Bucket(t))
		pb.user = victim
		img := pngBytes(t, 24)
		up := pb.presign(t, map[string]any{"name": "a.png", "size": len(img), "type": "image/png"})[0]
		put(t, up, img)
		rec, err := pb.db.Get(t.Context(), up.ID)
		if err != nil {
			t.Fatal(err)
		}
		send := func(method, path, user string) (*http.Response, []byte) {
			req, err := http.NewRequest(method, pb.srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if user != "" {
				req.Header.Set("X-User", user)
			}
			resp, err := pb.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, body
		}
		for _, m := range []struct{ method, path string }{
			{"POST", "/uploads/" + up.ID + "/complete"},
			{"GET", "/uploads/" + up.ID},
			{"DELETE", "/uploads/" + up.ID},
		} {
			resp, body := send(m.method, m.path, attacker)
			wantError(t, resp, body, 404, "not_found")
		}
		resp, body := send("POST", "/uploads/"+up.ID+"/complete", "")
		wantError(t, resp, body, 401, "unauthorized")
		if now, err := pb.db.Get(t.Context(), up.ID); err != nil || !reflect.DeepEqual(now, rec) {
			t.Fatalf("alice's presigned upload changed: was %+v, now %+v (%v)", rec, now, err)
		}
		resp, body = send("POST", "/uploads/"+up.ID+"/complete", victim)
		if resp.StatusCode != 200 {
			t.Fatalf("alice's complete: %d %s", resp.StatusCode, body)
		}
		var done struct{ State, SHA256, URL string }
		if err := json.Unmarshal(body, &done); err != nil || done.State != "ready" || done.SHA256 != sha(img) {
			t.Fatalf("alice's record %s", body)
		}
		resp, body = send("GET", done.URL, "")
		if resp.StatusCode != 200 || !bytes.Equal(body, img) {
			t.Fatalf("alice's file: %d, %d bytes; want %d", resp.StatusCode, len(body), len(img))
		}
	})
}
