package carcosa_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/safename"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// postFile uploads one file by multipart as user (with any extra headers)
// and returns the upload's ID.
func (tb *testBundle) postFile(t *testing.T, user, route, name string, data []byte, hdr map[string]string) string {
	t.Helper()
	body, ct := multipartBody(t, part{field: "file", name: name, data: data})
	h := map[string]string{"Content-Type": ct}
	for k, v := range hdr {
		h[k] = v
	}
	resp, raw := tb.do(t, "POST", tb.url("/routes/"+route), user, body, h)
	if resp.StatusCode != 201 {
		t.Fatalf("multipart to %s as %q: %d %s", route, user, resp.StatusCode, raw)
	}
	var got multipartResult
	if err := json.Unmarshal(raw, &got); err != nil || len(got.Uploads) != 1 || got.Uploads[0].State != "ready" {
		t.Fatalf("multipart answer %s: %v", raw, err)
	}
	return got.Uploads[0].ID
}

// wantCode checks that err is a *carcosa.Error with code and status.
func wantCode(t *testing.T, err error, status int, code string) *carcosa.Error {
	t.Helper()
	var e *carcosa.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a *carcosa.Error %s", err, err, code)
	}
	if e.Code != code || e.Status != status {
		t.Fatalf("error %d %q (%v), want %d %q", e.Status, e.Code, err, status, code)
	}
	return e
}

// readStored reads the object at key from tb's storage.
func (tb *testBundle) readStored(t *testing.T, key string) []byte {
	t.Helper()
	rd, err := tb.storage.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listAll pages through List with opts (its Limit kept) and returns every
// upload once, failing on an upload seen twice.
func listAll(t *testing.T, r *carcosa.Router, opts carcosa.ListOptions) []carcosa.Upload {
	t.Helper()
	var all []carcosa.Upload
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("List does not end")
		}
		p, err := r.List(t.Context(), opts)
		if err != nil {
			t.Fatalf("List %+v: %v", opts, err)
		}
		if opts.Limit > 0 && len(p.Uploads) > opts.Limit {
			t.Fatalf("page of %d uploads, limit %d", len(p.Uploads), opts.Limit)
		}
		for _, u := range p.Uploads {
			if seen[u.ID] {
				t.Fatalf("upload %s listed twice", u.ID)
			}
			seen[u.ID] = true
			all = append(all, u)
		}
		if p.Next == "" {
			return all
		}
		opts.Cursor = p.Next
	}
}

func idsOf(us []carcosa.Upload) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func TestServerAPIList(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	text := []byte("a plain text document\n")

	// Whose each upload is, as X-User.
	users := map[string]string{}
	add := func(user, id string) string { users[id] = user; return id }
	m1 := add("alice@acme", tb.postFile(t, "alice@acme", "files", "m1.bin", randomBytes(300), nil))
	t1, resp, body := tb.tusUpload(t, "alice@acme", "files", "t1.bin", randomBytes(700), 256)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	add("alice@acme", t1)
	d1 := add("alice@acme", tb.postFile(t, "alice@acme", "docs", "d1.txt", text, nil))
	resp, body = tb.tusCreate(t, "alice@acme", 100, tusMetadata("route", "docs", "filename", "wip.txt"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("tus create: %d %s", resp.StatusCode, body)
	}
	w1 := add("alice@acme", lastSegment(resp.Header.Get("Location")))
	b1 := add("bob@acme", tb.postFile(t, "bob@acme", "files", "b1.bin", randomBytes(200), nil))
	a0 := add("alice", tb.postFile(t, "alice", "files", "a0.bin", randomBytes(200), nil))
	c1 := add("carol@other", tb.postFile(t, "carol@other", "docs", "c1.txt", text, nil))

	all := sorted(m1, t1, d1, w1, b1, a0, c1)
	for _, tc := range []struct {
		name string
		opts carcosa.ListOptions
		want []string
	}{
		{"everything", carcosa.ListOptions{}, all},
		{"owner in tenant", carcosa.ListOptions{Owner: "alice", Tenant: "acme"}, sorted(m1, t1, d1, w1)},
		{"tenant", carcosa.ListOptions{Tenant: "acme"}, sorted(m1, t1, d1, w1, b1)},
		{"owner in any tenant", carcosa.ListOptions{Owner: "alice"}, sorted(m1, t1, d1, w1, a0)},
		{"route", carcosa.ListOptions{Route: "docs"}, sorted(d1, w1, c1)},
		{"uploading", carcosa.ListOptions{State: "uploading"}, sorted(w1)},
		{"ready", carcosa.ListOptions{State: "ready"}, sorted(m1, t1, d1, b1, a0, c1)},
		{"all filters", carcosa.ListOptions{Owner: "alice", Tenant: "acme", Route: "docs", State: "ready"}, sorted(d1)},
		{"nothing matches", carcosa.ListOptions{Tenant: "other", Route: "files"}, nil},
	} {
		for _, limit := range []int{0, 1, 2, 1000} {
			opts := tc.opts
			opts.Limit = limit
			got := listAll(t, tb.router, opts)
			if ids := idsOf(got); !slices.Equal(ids, tc.want) {
				t.Errorf("%s, limit %d: listed %v, want %v", tc.name, limit, ids, tc.want)
			}
			for _, u := range got {
				if user := userOf(&store.Upload{Owner: u.Owner, Tenant: u.Tenant}); user != users[u.ID] {
					t.Errorf("%s: upload %s has owner %q tenant %q, want %s", tc.name, u.ID, u.Owner, u.Tenant, users[u.ID])
				}
			}
		}
	}

	// A page of exactly Limit uploads has a Next; the page after the last
	// upload is empty and ends the listing.
	p, err := tb.router.List(t.Context(), carcosa.ListOptions{Route: "docs", Limit: 3})
	if err != nil || len(p.Uploads) != 3 || p.Next == "" {
		t.Fatalf("List: %d uploads, next %q, %v", len(p.Uploads), p.Next, err)
	}
	p, err = tb.router.List(t.Context(), carcosa.ListOptions{Route: "docs", Limit: 3, Cursor: p.Next})
	if err != nil || len(p.Uploads) != 0 || p.Next != "" {
		t.Fatalf("List after the end: %d uploads, next %q, %v", len(p.Uploads), p.Next, err)
	}

	// The listed record is the record: size, hash and state.
	p, err = tb.router.List(t.Context(), carcosa.ListOptions{Owner: "alice", Tenant: "acme", Route: "docs", State: "ready"})
	if err != nil || len(p.Uploads) != 1 {
		t.Fatalf("List: %+v, %v", p, err)
	}
	if u := p.Uploads[0]; u.Size != int64(len(text)) || u.SHA256 != sha(text) || u.Name != "d1.txt" || u.Route != "docs" {
		t.Errorf("listed %+v", u)
	}

	for _, bad := range []carcosa.ListOptions{
		{Cursor: "not a cursor"},
		{Cursor: "W10"}, // base64 of []
		{State: "nope"},
		{Limit: -1},
		{Limit: 1001},
	} {
		_, err := tb.router.List(t.Context(), bad)
		wantCode(t, err, 400, "bad_request")
	}
}

func TestServerAPIGetAndDelete(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := carcosa.WithActor(t.Context(), "ops@x")
	data := randomBytes(5000)
	id := tb.postFile(t, "alice@acme", "files", "a.bin", data, nil)

	u, err := tb.router.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != id || u.Owner != "alice" || u.Tenant != "acme" || u.State != "ready" || u.SHA256 != sha(data) || u.Size != int64(len(data)) {
		t.Fatalf("Get: %+v", u)
	}
	if got := tb.readStored(t, u.Key); sha(got) != sha(data) {
		t.Fatal("stored bytes differ from those uploaded")
	}

	if err := tb.router.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.storage.Open(t.Context(), u.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("bytes after Delete: %v, want not found", err)
	}
	if _, err := tb.store.Get(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record after Delete: %v, want not found", err)
	}
	_, err = tb.router.Get(t.Context(), id)
	wantCode(t, err, 404, "not_found")
	resp, body := tb.do(t, "GET", tb.url("/uploads/"+id), "alice@acme", nil, nil)
	wantError(t, resp, body, 404, "not_found")
	wantCode(t, tb.router.Delete(ctx, id), 404, "not_found")

	events, err := tb.router.AuditLog(t.Context(), store.AuditQuery{Action: store.AuditFileDeleted, Subject: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Actor != "ops@x" || events[0].Tenant != "acme" {
		t.Fatalf("audit events %+v, want one file.deleted by ops@x in acme", events)
	}
	var detail map[string]string
	if err := json.Unmarshal(events[0].Detail, &detail); err != nil || detail["route"] != "files" {
		t.Errorf("audit detail %s: %v", events[0].Detail, err)
	}

	// Without WithActor the actor is the server; a tus upload's bytes go
	// as well.
	tid, resp, body := tb.tusUpload(t, "bob", "files", "t.bin", data, 1000)
	if resp.StatusCode != 204 {
		t.Fatalf("tus: %d %s", resp.StatusCode, body)
	}
	tu, err := tb.router.Get(t.Context(), tid)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.router.Delete(t.Context(), tid); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.storage.Open(t.Context(), tu.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("tus bytes after Delete: %v, want not found", err)
	}
	events, err = tb.router.AuditLog(t.Context(), store.AuditQuery{Action: store.AuditFileDeleted, Subject: tid})
	if err != nil || len(events) != 1 || events[0].Actor != "server" || events[0].Tenant != "" {
		t.Fatalf("audit events %+v, %v; want one by server", events, err)
	}

	// An upload with no request bringing bytes is deleted with what it
	// holds so far; its owner then finds nothing.
	resp, body = tb.tusCreate(t, "alice", 1000, tusMetadata("route", "files", "filename", "w.bin"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("tus create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if resp, body := tb.tusPatch(t, loc, "alice", 0, data[:400], nil); resp.StatusCode != 204 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	if len(tb.stagedFiles(t, lastSegment(loc))) == 0 {
		t.Fatal("the upload in progress has nothing staged")
	}
	if err := tb.router.Delete(ctx, lastSegment(loc)); err != nil {
		t.Fatal(err)
	}
	if staged := tb.stagedFiles(t, lastSegment(loc)); len(staged) != 0 {
		t.Errorf("staged after Delete: %v", staged)
	}
	resp, _ = tb.do(t, "HEAD", loc, "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != 404 {
		t.Errorf("HEAD of a deleted upload: %d, want 404", resp.StatusCode)
	}

	for _, bad := range []string{"", "../x", randomID(), strings.Repeat("A", 32)} {
		_, err := tb.router.Get(t.Context(), bad)
		wantCode(t, err, 404, "not_found")
		wantCode(t, tb.router.Delete(ctx, bad), 404, "not_found")
	}
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Errorf("objects left in storage: %v", keys)
	}
}

func TestServerAPIRename(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := carcosa.WithActor(t.Context(), "ops@x")
	data := randomBytes(1000)
	id := tb.postFile(t, "alice@acme", "files", "orig.bin", data, nil)
	before := tb.record(t, id, "alice@acme")

	const unsafe = "../a\x00b.txt"
	want := safename.Clean(unsafe)
	if want == unsafe || strings.ContainsAny(want, "/\\\x00") || strings.HasPrefix(want, ".") {
		t.Fatalf("safename.Clean(%q) = %q: the test needs a name it changes", unsafe, want)
	}
	u, err := tb.router.Rename(ctx, id, unsafe)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != want || u.Owner != "alice" || u.Tenant != "acme" {
		t.Fatalf("Rename returned %+v, want name %q", u, want)
	}
	after := tb.record(t, id, "alice@acme")
	if after.Name != want {
		t.Errorf("the owner sees name %q, want %q", after.Name, want)
	}
	if after.Key != before.Key || after.SHA256 != before.SHA256 || u.Key != before.Key {
		t.Errorf("Rename changed the file: before %+v, after %+v", before, after)
	}
	// Signed URLs of private files carry their expiry; the path is the key's.
	if p, q, _ := strings.Cut(after.URL, "?"); p != strings.Split(before.URL, "?")[0] || q == "" {
		t.Errorf("URL %q, was %q", after.URL, before.URL)
	}
	if got := tb.fetch(t, after.URL); sha(got) != sha(data) {
		t.Error("the renamed file serves other bytes")
	}

	events, err := tb.router.AuditLog(t.Context(), store.AuditQuery{Action: store.AuditFileRenamed, Subject: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Actor != "ops@x" || events[0].Tenant != "acme" {
		t.Fatalf("audit events %+v, want one file.renamed by ops@x in acme", events)
	}
	var detail map[string]string
	if err := json.Unmarshal(events[0].Detail, &detail); err != nil || detail["from"] != "orig.bin" || detail["to"] != want {
		t.Errorf("audit detail %s: %v", events[0].Detail, err)
	}

	for _, bad := range []string{"", "../x", randomID()} {
		_, err := tb.router.Rename(ctx, bad, "x.txt")
		wantCode(t, err, 404, "not_found")
	}
}

func TestServerAPISignedURL(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	data := randomBytes(4000)
	id := tb.postFile(t, "alice", "files", "private.bin", data, nil)
	u, err := tb.router.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}

	// The file is private: its path alone does not serve it.
	resp, body := tb.do(t, "GET", tb.url("/files/"+u.Key), "", nil, nil)
	wantError(t, resp, body, 403, "invalid_signature")

	p, err := tb.router.SignedURL(t.Context(), id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, base+"/files/") {
		t.Fatalf("signed URL %q is not under %s/files/", p, base)
	}
	if got := tb.fetch(t, p); sha(got) != sha(data) || len(got) != len(data) {
		t.Fatal("the signed URL serves other bytes")
	}
	pu, err := url.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := strconv.ParseInt(pu.Query().Get("exp"), 10, 64)
	if d := time.Until(time.Unix(exp, 0)); d < 50*time.Second || d > 70*time.Second {
		t.Errorf("signed for %v, want a minute", d)
	}
	q := pu.Query()
	q.Set("exp", strconv.FormatInt(exp+3600, 10))
	resp, body = tb.do(t, "GET", tb.server.URL+pu.Path+"?"+q.Encode(), "", nil, nil)
	wantError(t, resp, body, 403, "invalid_signature")

	// ttl 0 is Config.SignedURLTTL: an hour.
	p, err = tb.router.SignedURL(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	pu, _ = url.Parse(p)
	exp, _ = strconv.ParseInt(pu.Query().Get("exp"), 10, 64)
	if d := time.Until(time.Unix(exp, 0)); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("signed for %v by default, want an hour", d)
	}

	resp, body = tb.tusCreate(t, "alice", 100, tusMetadata("route", "files"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("tus create: %d %s", resp.StatusCode, body)
	}
	for _, notReady := range []string{lastSegment(resp.Header.Get("Location")), randomID(), "../x"} {
		_, err := tb.router.SignedURL(t.Context(), notReady, time.Minute)
		wantCode(t, err, 404, "not_found")
	}
}

// fromURLSource is an HTTP server to fetch from, counting the requests
// each path gets.
type fromURLSource struct {
	*httptest.Server
	port int
	mu   sync.Mutex
	hits map[string]int
}

func newFromURLSource(t *testing.T, h http.Handler) *fromURLSource {
	t.Helper()
	s := &fromURLSource{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.hits[req.URL.Path]++
		s.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(s.Close)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s.port, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *fromURLSource) hitsOf(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *fromURLSource) totalHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hits {
		n += h
	}
	return n
}

// serveBytes serves data with the given Content-Type; with chunked, without
// a Content-Length.
func serveBytes(data []byte, ctype string, chunked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", ctype)
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
			return
		}
		for len(data) > 0 {
			n := min(len(data), 64<<10)
			w.Write(data[:n])
			w.(http.Flusher).Flush()
			data = data[n:]
		}
	}
}

// wantNothingStored checks that owner has no ready upload and storage no
// object at all.
func wantNothingStored(t *testing.T, tb *testBundle, owner string) {
	t.Helper()
	wantNothingStoredFor(t, tb, owner)
	if keys := tb.storedKeys(t); len(keys) != 0 {
		t.Errorf("objects in storage: %v", keys)
	}
}

// wantNothingStoredFor checks that owner has no ready upload and that no
// stored object belongs to one of its uploads.
func wantNothingStoredFor(t *testing.T, tb *testBundle, owner string) {
	t.Helper()
	p, err := tb.router.List(t.Context(), carcosa.ListOptions{Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range p.Uploads {
		if u.State == "ready" || u.State == "processing" {
			t.Errorf("upload %s of %s is %s", u.ID, owner, u.State)
		}
	}
	for _, key := range tb.storedKeys(t) {
		if rec, err := tb.store.GetByKey(t.Context(), key); err != nil || rec.Owner == owner {
			t.Errorf("object %s stored for %s (%v)", key, owner, err)
		}
	}
}

// UploadFromURL refuses what would reach the server's own network, by
// default: loopback literals of either family, link-local metadata
// services, and names that resolve to loopback. Nothing is fetched or
// stored.
func TestUploadFromURLForbiddenAddresses(t *testing.T) {
	t.Parallel()
	src := newFromURLSource(t, serveBytes([]byte("secret"), "text/plain", false))
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		// The ports are allowed, so that the refusals are the addresses'.
		c.Fetch = safefetch.Options{AllowedPorts: []int{80, src.port}}
	})
	for _, target := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/x", src.port),
		fmt.Sprintf("http://[::1]:%d/x", src.port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/x", src.port),
		"http://169.254.169.254/latest/meta-data/",
		"http://100.100.100.200/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		fmt.Sprintf("http://[64:ff9b::7f00:1]:%d/x", src.port),
		fmt.Sprintf("http://localhost:%d/x", src.port),
		fmt.Sprintf("http://127.1:%d/x", src.port),
		fmt.Sprintf("http://0x7f000001:%d/x", src.port),
	} {
		_, err := tb.router.UploadFromURL(t.Context(), "files", target, carcosa.FromURL{Owner: "mallory"})
		wantCode(t, err, 422, "url_forbidden_address")
	}
	if n := src.totalHits(); n != 0 {
		t.Errorf("the loopback server got %d requests", n)
	}
	p, err := tb.router.List(t.Context(), carcosa.ListOptions{Owner: "mallory"})
	if err != nil || len(p.Uploads) != 0 {
		t.Errorf("mallory's uploads: %+v, %v", p.Uploads, err)
	}
	wantNothingStored(t, tb, "mallory")
}

// A redirect from an allowed address to a forbidden one is refused before
// it is followed.
func TestUploadFromURLRedirectToForbiddenAddress(t *testing.T) {
	t.Parallel()
	data := testenv.RandomBytes(2000)
	var port int
	mux := http.NewServeMux()
	mux.Handle("/x", serveBytes(data, "application/octet-stream", false))
	redirect := func(to func() string) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) { http.Redirect(w, req, to(), http.StatusFound) }
	}
	mux.Handle("/to-v6", redirect(func() string { return fmt.Sprintf("http://[::1]:%d/x", port) }))
	mux.Handle("/to-other-loopback", redirect(func() string { return fmt.Sprintf("http://127.0.0.2:%d/x", port) }))
	mux.Handle("/to-metadata", redirect(func() string { return "http://169.254.169.254/latest/meta-data/" }))
	mux.Handle("/to-allowed", redirect(func() string { return fmt.Sprintf("http://127.0.0.1:%d/x", port) }))
	src := newFromURLSource(t, mux)
	port = src.port
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Fetch = safefetch.Options{
			AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			AllowedPorts: []int{80, src.port},
		}
	})
	for _, from := range []string{"/to-v6", "/to-other-loopback", "/to-metadata"} {
		_, err := tb.router.UploadFromURL(t.Context(), "files", src.URL+from, carcosa.FromURL{Owner: "mallory"})
		wantCode(t, err, 422, "url_forbidden_address")
		if src.hitsOf(from) != 1 {
			t.Errorf("%s: %d requests, want 1", from, src.hitsOf(from))
		}
	}
	if n := src.hitsOf("/x"); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
	wantNothingStored(t, tb, "mallory")

	// The control: a redirect to an allowed address is followed, and the
	// name is the target's.
	u, err := tb.router.UploadFromURL(t.Context(), "files", src.URL+"/to-allowed", carcosa.FromURL{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if u.SHA256 != sha(data) || u.Name != "x" || u.State != "ready" {
		t.Fatalf("after an allowed redirect: %+v", u)
	}
}

func TestUploadFromURLTooLargeAndBadStatus(t *testing.T) {
	t.Parallel()
	big := []byte(strings.Repeat("a line of text\n", (1<<20)/15+1)) // docs takes 1 MiB
	mux := http.NewServeMux()
	mux.Handle("/big.txt", serveBytes(big, "text/plain", false))
	mux.Handle("/big-chunked.txt", serveBytes(big, "text/plain", true))
	mux.Handle("/fits.txt", serveBytes(big[:1<<20], "text/plain", false))
	mux.Handle("/gone", http.NotFoundHandler())
	mux.Handle("/broken", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "internal detail", http.StatusInternalServerError)
	}))
	src := newFromURLSource(t, mux)
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Fetch = safefetch.Options{
			AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			AllowedPorts: []int{src.port},
		}
	})
	ctx := t.Context()

	_, err := tb.router.UploadFromURL(ctx, "docs", src.URL+"/big.txt", carcosa.FromURL{Owner: "alice"})
	wantCode(t, err, 413, "too_large")
	p, err := tb.router.List(ctx, carcosa.ListOptions{Owner: "alice"})
	if err != nil || len(p.Uploads) != 0 {
		t.Errorf("alice's uploads after a refused Content-Length: %+v, %v", p.Uploads, err)
	}
	_, err = tb.router.UploadFromURL(ctx, "docs", src.URL+"/big-chunked.txt", carcosa.FromURL{Owner: "alice"})
	wantCode(t, err, 413, "too_large")
	wantNothingStored(t, tb, "alice")

	for path, code := range map[string]string{"/gone": "url_bad_status", "/broken": "url_bad_status"} {
		_, err := tb.router.UploadFromURL(ctx, "docs", src.URL+path, carcosa.FromURL{Owner: "bob"})
		if e := wantCode(t, err, 502, code); strings.Contains(e.Message, "internal detail") {
			t.Errorf("the message quotes the fetched body: %q", e.Message)
		}
	}
	wantNothingStored(t, tb, "bob")

	// Exactly the limit fits.
	u, err := tb.router.UploadFromURL(ctx, "docs", src.URL+"/fits.txt", carcosa.FromURL{Owner: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Size != 1<<20 || u.SHA256 != sha(big[:1<<20]) {
		t.Fatalf("at the limit: %+v", u)
	}
}

// UploadFromURL validates FromURL.Input as the route would a client's:
// every later request about the upload re-runs the route's middleware on
// the stored input, so an input the route refuses would leave a file its
// owner can never reach, and answer other callers 422 instead of 404.
func TestUploadFromURLValidatesInput(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, 64)
	src := newFromURLSource(t, serveBytes(img, "image/png", false))
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Fetch = safefetch.Options{
			AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			AllowedPorts: []int{src.port},
		}
	})
	// images requires {"album": …} of at most 20 characters.
	for name, input := range map[string]json.RawMessage{
		"none":          nil,
		"unknown field": json.RawMessage(`{"bogus":1}`),
		"too long":      json.RawMessage(`{"album":"` + strings.Repeat("x", 21) + `"}`),
		"missing album": json.RawMessage(`{}`),
		"valid":         json.RawMessage(`{"album":"trip"}`),
	} {
		t.Run(name, func(t *testing.T) {
			owner := "carol-" + strings.ReplaceAll(name, " ", "-")
			u, err := tb.router.UploadFromURL(t.Context(), "images", src.URL+"/a.png",
				carcosa.FromURL{Owner: owner, Input: input, Metadata: userMeta{User: owner}})
			if err != nil {
				// Refusing the input is right: nothing may be kept.
				wantCode(t, err, 422, "invalid_input")
				wantNothingStoredFor(t, tb, owner)
				return
			}
			// Kept: then its owner reaches it, and nobody else learns of it.
			resp, body := tb.do(t, "GET", tb.url("/uploads/"+u.ID), owner, nil, nil)
			if resp.StatusCode != 200 {
				t.Errorf("UploadFromURL kept input %s that the route refuses; its owner's GET answers %d %s", input, resp.StatusCode, body)
			}
			resp, body = tb.do(t, "GET", tb.url("/uploads/"+u.ID), "mallory", nil, nil)
			if resp.StatusCode != 404 {
				t.Errorf("another owner's GET of the upload answers %d %s, want 404", resp.StatusCode, body)
			}
			<-tb.completed
		})
	}
}

// UploadFromURL's errors carry precise codes (url_forbidden_address,
// url_bad_status, …) and still match the exported sentinels with
// errors.Is.
func TestUploadFromURLErrorsMatchSentinels(t *testing.T) {
	t.Parallel()
	src := newFromURLSource(t, http.NotFoundHandler())
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Fetch = safefetch.Options{
			AllowedNets:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			AllowedPorts: []int{src.port},
		}
	})
	_, err := tb.router.UploadFromURL(t.Context(), "files", fmt.Sprintf("http://127.0.0.2:%d/x", src.port), carcosa.FromURL{Owner: "alice"})
	wantCode(t, err, 422, "url_forbidden_address")
	if !errors.Is(err, carcosa.ErrURLRefused) {
		t.Errorf("a refused URL's error %v does not match carcosa.ErrURLRefused", err)
	}
	_, err = tb.router.UploadFromURL(t.Context(), "files", src.URL+"/gone", carcosa.FromURL{Owner: "alice"})
	wantCode(t, err, 502, "url_bad_status")
	if !errors.Is(err, carcosa.ErrURLFetch) {
		t.Errorf("a failed fetch's error %v does not match carcosa.ErrURLFetch", err)
	}
	if !errors.Is(err, safefetch.ErrStatus) {
		t.Errorf("the cause is not kept: %v", err)
	}
}
