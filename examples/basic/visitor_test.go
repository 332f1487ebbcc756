package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/testenv"
)

// TestVisitorsOwnTheirUploads checks that each browser that loads the page
// is an owner of its own, by its cookie: another browser, a client without
// the cookie and one with a malformed cookie get 404 on its uploads, by the
// API and by tus; clients without the cookie share one anonymous owner, as
// before; and -quota-files counts per owner.
func TestVisitorsOwnTheirUploads(t *testing.T) {
	t.Parallel()
	base := startServerWith(t, options{Data: t.TempDir(), QuotaFiles: 1})
	baseURL, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	a, idA := loadPage(t, base, nil)
	b, idB := loadPage(t, base, nil)
	if idA == idB {
		t.Errorf("two browsers got the same visitor ID %q", idA)
	}
	anon := &http.Client{Timeout: 30 * time.Second}
	anon2 := &http.Client{Timeout: 30 * time.Second}

	// A starts a resumable upload and sends none of its bytes yet.
	data := testenv.RandomBytes(1000)
	resp, body := send(t, a, http.MethodPost, base+"/api/uploads/tus/", nil, map[string]string{
		"Upload-Length":   strconv.Itoa(len(data)),
		"Upload-Metadata": "route " + b64("files") + ",filename " + b64("a.bin"),
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("A's tus creation: %s %s", resp.Status, truncate(body))
	}
	upload := path.Base(resp.Header.Get("Location"))
	tusURL := base + "/api/uploads/tus/" + upload
	recordURL := base + "/api/uploads/uploads/" + upload
	patch := map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}

	// Malformed cookies, one of them A's own ID spelled otherwise, are no
	// cookie at all.
	others := map[string]*http.Client{"visitor B": b, "a client without the cookie": anon}
	for name, c := range map[string]*http.Cookie{
		"upper-case":    {Value: strings.ToUpper(idA)},
		"one too long":  {Value: idA + "0"},
		"one too short": {Value: strings.Repeat("a", 2*visitorIDBytes-1)},
		"quoted":        {Value: idA, Quoted: true},
		"not hex":       {Value: strings.Repeat("g", 2*visitorIDBytes)},
		"empty":         {Value: ""},
	} {
		jar, _ := cookiejar.New(nil)
		c.Name, c.Path = visitorCookie, "/"
		jar.SetCookies(baseURL, []*http.Cookie{c})
		others["a cookie "+name] = &http.Client{Jar: jar, Timeout: 30 * time.Second}
	}
	for name, c := range others {
		for _, r := range []struct {
			method, url string
			body        []byte
			header      map[string]string
		}{
			{http.MethodHead, tusURL, nil, nil},
			{http.MethodPatch, tusURL, data, patch},
			{http.MethodDelete, tusURL, nil, nil},
			{http.MethodGet, recordURL, nil, nil},
			{http.MethodDelete, recordURL, nil, nil},
		} {
			if resp, body := send(t, c, r.method, r.url, r.body, r.header); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %s %s: %s %s; want 404", name, r.method, r.url, resp.Status, truncate(body))
			}
		}
	}

	// A finishes its upload, reads it and sees its file.
	resp, body = send(t, a, http.MethodPatch, tusURL, data, patch)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "ready" {
		t.Errorf("A's PATCH: %s, Upload-State %q %s; want 204 ready", resp.Status, resp.Header.Get("Upload-State"), truncate(body))
	}
	var rec record
	if resp, body := send(t, a, http.MethodGet, recordURL, nil, nil); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rec) != nil {
		t.Fatalf("A's GET of its record: %s %s", resp.Status, truncate(body))
	}
	if rec.State != "ready" || rec.SHA256 != sum(data) {
		t.Errorf("A's record: state %q, sha256 %s; want ready, %s", rec.State, rec.SHA256, sum(data))
	}

	// The quota counts per owner: A's file leaves B's whole.
	for _, v := range []struct {
		name string
		c    *http.Client
		want int
	}{{"visitor B", b, http.StatusCreated}, {"visitor A", a, http.StatusTooManyRequests}} {
		resp, body := tusCreateWithUpload(t, v.c, base, "files", "more.bin", data)
		if resp.StatusCode != v.want {
			t.Errorf("%s's upload with -quota-files 1: %s %s; want %d", v.name, resp.Status, truncate(body), v.want)
		}
	}

	// Clients without the cookie are one anonymous owner, as before, whose
	// uploads visitors cannot reach either.
	resp, body = postMultipart(t, anon, base, "documents", "note.txt", []byte("anonymous note\n"))
	var created struct {
		Uploads []record `json:"uploads"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &created) != nil || len(created.Uploads) != 1 {
		t.Fatalf("an anonymous multipart upload: %s %s", resp.Status, truncate(body))
	}
	note := base + "/api/uploads/uploads/" + created.Uploads[0].ID
	for _, r := range []struct {
		name   string
		c      *http.Client
		method string
		want   int
	}{
		{"visitor A", a, http.MethodGet, http.StatusNotFound},
		{"visitor A", a, http.MethodDelete, http.StatusNotFound},
		{"another client without the cookie", anon2, http.MethodGet, http.StatusOK},
		// Its file was the anonymous owner's one of -quota-files 1.
		{"another client without the cookie", anon2, http.MethodDelete, http.StatusNoContent},
	} {
		if resp, body := send(t, r.c, r.method, note, nil, nil); resp.StatusCode != r.want {
			t.Errorf("%s: %s of an anonymous upload: %s %s; want %d", r.name, r.method, resp.Status, truncate(body), r.want)
		}
	}
	resp, body = tusCreateWithUpload(t, anon, base, "files", "anon.bin", data)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("an anonymous tus upload: %s %s", resp.Status, truncate(body))
	}
	anonTus := path.Base(resp.Header.Get("Location"))
	if resp, body := send(t, anon2, http.MethodHead, base+"/api/uploads/tus/"+anonTus, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another client without the cookie: HEAD of an anonymous tus upload: %s %s; want 200", resp.Status, truncate(body))
	}
	if resp, body := send(t, anon2, http.MethodGet, base+"/api/uploads/uploads/"+anonTus, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another client without the cookie: GET of an anonymous tus upload: %s %s; want 200", resp.Status, truncate(body))
	}

	// A still has its upload, and deletes it.
	for _, r := range []struct {
		method string
		want   int
	}{{http.MethodGet, http.StatusOK}, {http.MethodDelete, http.StatusNoContent}, {http.MethodGet, http.StatusNotFound}} {
		if resp, body := send(t, a, r.method, recordURL, nil, nil); resp.StatusCode != r.want {
			t.Errorf("A: %s of its upload: %s %s; want %d", r.method, resp.Status, truncate(body), r.want)
		}
	}
}

// TestPageReplacesMalformedCookie checks that loading the page with a
// visitor cookie that is not exactly an ID replaces it with a new ID, and
// with a valid one renews that ID.
func TestPageReplacesMalformedCookie(t *testing.T) {
	t.Parallel()
	base := startServer(t)
	_, id := loadPage(t, base, nil)
	for _, bad := range []*http.Cookie{
		{Value: strings.ToUpper(id)},
		{Value: id + "0"},
		{Value: id, Quoted: true},
		{Value: "00000000-0000-0000-0000-000000000000"},
	} {
		bad.Name = visitorCookie
		if _, got := loadPage(t, base, bad); got == id || got == bad.Value {
			t.Errorf("loading the page with the cookie %s kept ID %q", bad, got)
		}
	}
	if _, got := loadPage(t, base, &http.Cookie{Name: visitorCookie, Value: id}); got != id {
		t.Errorf("loading the page with a valid cookie gave ID %q, want %q again", got, id)
	}
}

// loadPage loads the page at base, sending cookie when it is not nil, and
// returns a client that keeps the cookies set and the visitor ID of the
// page's visitor cookie, whose attributes it checks.
func loadPage(t *testing.T, base string, cookie *http.Cookie) (*http.Client, string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		u, _ := url.Parse(base)
		jar.SetCookies(u, []*http.Cookie{cookie})
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, body := send(t, c, http.MethodGet, base+"/", nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<!doctype html>")) {
		t.Fatalf("GET /: %s %s", resp.Status, truncate(body))
	}
	for _, set := range resp.Cookies() {
		if set.Name != visitorCookie {
			continue
		}
		if !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/" || set.Secure || set.MaxAge <= 0 {
			t.Errorf("the visitor cookie is %s; want HttpOnly, SameSite=Lax, Path=/, a Max-Age, and not Secure over HTTP", set)
		}
		if _, ok := parseVisitorID(set.Value); !ok {
			t.Errorf("the page set the visitor ID %q, which parseVisitorID refuses", set.Value)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("the page that sets the visitor cookie has Cache-Control %q, want no-store", cc)
		}
		return c, set.Value
	}
	t.Errorf("GET / set no %s cookie; Set-Cookie: %q", visitorCookie, resp.Header.Values("Set-Cookie"))
	return c, ""
}

// send makes a request with client, adding Tus-Resumable to tus requests,
// and returns the response with its body read.
func send(t *testing.T, client *http.Client, method, u string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, "/api/uploads/tus/") {
		req.Header.Set("Tus-Resumable", "1.0.0")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp, rb
}

// FuzzParseVisitorID feeds arbitrary text to the parser of visitor
// cookies: it must not panic, and whatever it accepts must be exactly what
// newVisitorID makes of some 128 bits. The seed corpus in
// testdata/fuzz/FuzzParseVisitorID holds IDs and near misses.
func FuzzParseVisitorID(f *testing.F) {
	f.Add(newVisitorID())
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseVisitorID(s)
		if !ok {
			if id != "" {
				t.Fatalf("parseVisitorID(%q) refused the text but gave ID %q", s, id)
			}
			return
		}
		if id != s {
			t.Fatalf("parseVisitorID(%q) accepted it as %q", s, id)
		}
		raw, err := hex.DecodeString(s)
		if err != nil || len(raw) != visitorIDBytes || hex.EncodeToString(raw) != s {
			t.Fatalf("parseVisitorID(%q) accepted text that is not %d bytes in lowercase hex (%v)", s, visitorIDBytes, err)
		}
	})
}
