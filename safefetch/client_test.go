package safefetch

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var loopback4 = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// testServer is a real server on a loopback address that counts requests,
// so tests can assert that a refused fetch never reached it.
type testServer struct {
	*httptest.Server
	port int
	hits atomic.Int64
}

// newServer starts a server on 127.0.0.1, or on ::1 when ipv6 is set
// (skipping the test if the host has no IPv6 loopback).
func newServer(t *testing.T, ipv6 bool, h http.HandlerFunc) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	if ipv6 {
		l, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		s.Listener.Close()
		s.Listener = l
	}
	s.Start()
	t.Cleanup(s.Close)
	s.port = s.Listener.Addr().(*net.TCPAddr).Port
	return s
}

func serveBytes(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}
}

func redirectTo(target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	}
}

// fetchAll gets u and reads the whole body, returning the first error.
func fetchAll(c *Client, u string) ([]byte, *Response, error) {
	resp, err := c.Get(context.Background(), u)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return data, resp, err
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v (code %q), want %v", err, Code(err), target)
	}
}

// TestRefusedByDefault fetches from real loopback servers with the default
// address policy. Ports are allowed so that the address is what is refused.
func TestRefusedByDefault(t *testing.T) {
	t.Parallel()
	srv4 := newServer(t, false, serveBytes([]byte("secret")))
	ports := []int{80, 443, srv4.port}
	urls := []string{
		fmt.Sprintf("http://127.0.0.1:%d/", srv4.port),
		fmt.Sprintf("http://localhost:%d/", srv4.port), // a name; refused at the dial
		fmt.Sprintf("http://LOCALHOST:%d/", srv4.port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", srv4.port),
		fmt.Sprintf("http://[::ffff:7f00:1]:%d/", srv4.port),
		fmt.Sprintf("http://2130706433:%d/", srv4.port),
		fmt.Sprintf("http://0177.0.0.1:%d/", srv4.port),
		fmt.Sprintf("http://0x7f.0.0.1:%d/", srv4.port),
		fmt.Sprintf("http://0x7f000001:%d/", srv4.port),
		fmt.Sprintf("http://127.1:%d/", srv4.port),
		fmt.Sprintf("http://127.0.0.1.:%d/", srv4.port),
		"http://localhost/", // port 80, allowed: refused at the dial
	}
	var srv6 *testServer
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		srv6 = newServer(t, true, serveBytes([]byte("secret")))
		ports = append(ports, srv6.port)
		urls = append(urls, fmt.Sprintf("http://[::1]:%d/", srv6.port))
	}
	c := New(Options{AllowedPorts: ports})
	for _, u := range urls {
		_, _, err := fetchAll(c, u)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Get(%q) error = %v, want ErrForbiddenAddress", u, err)
		}
	}
	if n := srv4.hits.Load(); n != 0 {
		t.Errorf("IPv4 server got %d requests", n)
	}
	if srv6 != nil && srv6.hits.Load() != 0 {
		t.Errorf("IPv6 server got %d requests", srv6.hits.Load())
	}
}

// TestRefusedWithoutNetwork covers addresses that must be refused before
// any packet is sent; none of them is reachable from a test machine, so a
// fetch that got as far as connecting would hang until the timeout.
func TestRefusedWithoutNetwork(t *testing.T) {
	t.Parallel()
	c := New(Options{Timeout: 30 * time.Second})
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"http://169.254.169.254/latest/meta-data", ErrForbiddenAddress},
		{"http://[fd00:ec2::254]/latest/meta-data", ErrForbiddenAddress},
		{"http://[::ffff:169.254.169.254]/", ErrForbiddenAddress},
		{"http://[64:ff9b::a9fe:a9fe]/", ErrForbiddenAddress}, // NAT64 of 169.254.169.254
		{"http://10.0.0.1/", ErrForbiddenAddress},
		{"http://172.16.5.4/", ErrForbiddenAddress},
		{"http://192.168.1.1/", ErrForbiddenAddress},
		{"http://100.100.100.200/", ErrForbiddenAddress},
		{"http://0.0.0.0/", ErrForbiddenAddress},
		{"http://224.0.0.1/", ErrForbiddenAddress},
		{"http://255.255.255.255/", ErrForbiddenAddress},
		{"http://[::]/", ErrForbiddenAddress},
		{"http://[fe80::1]/", ErrForbiddenAddress},
		{"http://[fe80::1%25eth0]/", ErrForbiddenAddress},
		{"http://[fc00::1]/", ErrForbiddenAddress},
		{"http://[ff02::1]/", ErrForbiddenAddress},
		{"http://[::127.0.0.1]/", ErrForbiddenAddress},
		{"http://[2002:7f00:1::1]/", ErrForbiddenAddress},
		{"http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", ErrForbiddenAddress}, // Teredo
		{"http://0251.0376.0251.0376/", ErrForbiddenAddress},                    // octal 169.254.169.254
		{"http://0xa9fea9fe/", ErrForbiddenAddress},
		{"http://2852039166/", ErrForbiddenAddress},
		{"http://0x08.0x08.0x08.0x08/", ErrForbiddenAddress}, // public, but not written plainly
		{"file:///etc/passwd", ErrForbiddenScheme},
		{"gopher://127.0.0.1:70/_GET", ErrForbiddenScheme},
		{"ftp://example.com/", ErrForbiddenScheme},
		{"http://example.com:22/", ErrForbiddenPort},
		{"http://user:pass@example.com/", ErrBadURL},
		{"http://example.com@169.254.169.254/", ErrBadURL},
		{"http://[127.0.0.1]/", ErrBadURL},
		{"http://1.2.3.4.5/", ErrBadURL},
		{"http://example.999/", ErrBadURL},
		{"http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/", ErrBadURL}, // full-width 127.0.0.1
		{"http:///path", ErrBadURL},
		{"//example.com/", ErrBadURL},
		{"http://example.com:99999/", ErrBadURL},
		{"http://exa mple.com/", ErrBadURL},
		{"http://%31%32%37.0.0.1/", ErrBadURL},                   // net/url refuses escaped ASCII in hosts
		{"http://%E2%91%A0%E2%91%A1%E2%91%A6.0.0.1/", ErrBadURL}, // circled digits, which IDNA maps to ASCII
		{"::", ErrBadURL},
	} {
		start := time.Now()
		_, err := c.Get(context.Background(), tc.url)
		if !errors.Is(err, tc.want) {
			t.Errorf("Get(%q) error = %v, want %v", tc.url, err, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Get(%q) took %v; it should be refused without network", tc.url, d)
		}
	}
}

// TestDialCheck sends requests straight to the transport, past the URL
// check, to show that the dial-time check alone refuses every form.
func TestDialCheck(t *testing.T) {
	t.Parallel()
	srv := newServer(t, false, serveBytes([]byte("secret")))
	c := New(Options{AllowedPorts: []int{80, srv.port}, Timeout: 10 * time.Second})
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data",
		"http://[fd00:ec2::254]/",
		"http://[::ffff:169.254.169.254]/",
		"http://10.0.0.1/",
		"http://[fe80::1%25lo]/",
		fmt.Sprintf("http://127.0.0.1:%d/", srv.port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", srv.port),
		fmt.Sprintf("http://localhost:%d/", srv.port),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.http.Transport.RoundTrip(req)
		cancel()
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("RoundTrip(%q) error = %v, want ErrForbiddenAddress", u, err)
		}
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("server got %d requests", n)
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	srv := newServer(t, false, serveBytes(data))
	c := New(Options{AllowedNets: loopback4, AllowedPorts: []int{srv.port}, UserAgent: "carcosa-test"})

	got, resp, err := fetchAll(c, srv.URL+"/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Errorf("body differs: got %d bytes, want %d", len(got), len(data))
	}
	if resp.Status != http.StatusOK || resp.ContentType != "application/octet-stream" ||
		resp.ContentLength != int64(len(data)) || resp.URL.String() != srv.URL+"/file.bin" {
		t.Errorf("response = %+v", resp)
	}

	// A name resolving to an allowed address works too.
	named := fmt.Sprintf("http://localhost:%d/", srv.port)
	if got, _, err := fetchAll(c, named); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Get(%q): %d bytes, error %v", named, len(got), err)
	}
}

func TestUserAgent(t *testing.T) {
	t.Parallel()
	var ua atomic.Value
	srv := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/next", http.StatusFound)
			return
		}
		ua.Store(r.UserAgent())
	})
	c := New(Options{AllowedNets: loopback4, AllowedPorts: []int{srv.port}, UserAgent: "carcosa-test/1"})
	if _, _, err := fetchAll(c, srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := ua.Load(); got != "carcosa-test/1" {
		t.Errorf("User-Agent after redirect = %v", got)
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	other := newServer(t, false, serveBytes([]byte("other")))
	ipv6URL := "http://[::1]:1/"
	var other6 *testServer
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		other6 = newServer(t, true, serveBytes([]byte("other")))
		ipv6URL = fmt.Sprintf("http://[::1]:%d/", other6.port)
	}

	for _, tc := range []struct {
		name, target string
		want         error
	}{
		{"ipv6 loopback", ipv6URL, ErrForbiddenAddress},
		{"metadata", "http://169.254.169.254/latest/meta-data", ErrForbiddenAddress},
		{"metadata decimal", "http://2852039166/", ErrForbiddenAddress},
		{"port not allowed", fmt.Sprintf("http://localhost:%d/", other.port), ErrForbiddenPort},
		{"scheme", "file:///etc/passwd", ErrForbiddenScheme},
		{"userinfo", "http://a:b@example.com/", ErrBadURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, false, redirectTo(tc.target))
			ports := []int{srv.port}
			if other6 != nil {
				ports = append(ports, other6.port)
			}
			c := New(Options{AllowedNets: loopback4, AllowedPorts: ports})
			_, _, err := fetchAll(c, srv.URL)
			wantErr(t, err, tc.want)
		})
	}
	if other.hits.Load() != 0 || other6 != nil && other6.hits.Load() != 0 {
		t.Errorf("a redirect target was reached")
	}
}

func TestRedirectLimit(t *testing.T) {
	t.Parallel()
	loop := newServer(t, false, redirectTo("/again"))
	c := New(Options{AllowedNets: loopback4, AllowedPorts: []int{loop.port}})
	_, _, err := fetchAll(c, loop.URL)
	wantErr(t, err, ErrTooManyRedirects)
	if n := loop.hits.Load(); n != defaultMaxRedirects+1 {
		t.Errorf("server got %d requests, want %d", n, defaultMaxRedirects+1)
	}

	// Exactly MaxRedirects hops are followed.
	chain := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n < 3 {
			http.Redirect(w, r, fmt.Sprintf("/?n=%d", n+1), http.StatusMovedPermanently)
			return
		}
		io.WriteString(w, "end")
	})
	c = New(Options{AllowedNets: loopback4, AllowedPorts: []int{chain.port}, MaxRedirects: 3})
	if got, resp, err := fetchAll(c, chain.URL); err != nil || string(got) != "end" || resp.URL.RawQuery != "n=3" {
		t.Errorf("3 redirects with MaxRedirects 3: %q, %v", got, err)
	}
	c = New(Options{AllowedNets: loopback4, AllowedPorts: []int{chain.port}, MaxRedirects: -1})
	_, _, err = fetchAll(c, chain.URL)
	wantErr(t, err, ErrTooManyRedirects)
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	const max = 1000
	withLength := newServer(t, false, serveBytes(make([]byte, max+1)))
	chunked := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		for range 5 {
			w.Write(make([]byte, 300))
			w.(http.Flusher).Flush()
		}
	})
	exact := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 600))
		w.(http.Flusher).Flush()
		w.Write(make([]byte, 400))
	})
	c := New(Options{
		AllowedNets:  loopback4,
		AllowedPorts: []int{withLength.port, chunked.port, exact.port},
		MaxBytes:     max,
	})

	// Announced: refused before the body.
	_, err := c.Get(context.Background(), withLength.URL)
	wantErr(t, err, ErrTooLarge)

	// Not announced: the read fails, after at most max bytes.
	resp, err := c.Get(context.Background(), chunked.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != -1 {
		t.Fatalf("ContentLength = %d; the test needs a body of unknown length", resp.ContentLength)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantErr(t, err, ErrTooLarge)
	if len(got) > max {
		t.Errorf("read %d bytes, more than MaxBytes", len(got))
	}

	got, _, err = fetchAll(c, exact.URL)
	if err != nil || len(got) != max {
		t.Errorf("body of exactly MaxBytes: %d bytes, error %v", len(got), err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	stall := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}
	slowHeaders := newServer(t, false, func(w http.ResponseWriter, r *http.Request) { stall(r) })
	slowBody := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		stall(r)
	})
	t.Cleanup(func() { close(stop) }) // runs before the servers' Close
	c := New(Options{
		AllowedNets:  loopback4,
		AllowedPorts: []int{slowHeaders.port, slowBody.port},
		Timeout:      300 * time.Millisecond,
	})

	_, err := c.Get(context.Background(), slowHeaders.URL)
	if Code(err) != "url_timeout" {
		t.Errorf("slow headers: error = %v, code %q", err, Code(err))
	}

	resp, err := c.Get(context.Background(), slowBody.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if Code(err) != "url_timeout" {
		t.Errorf("slow body: error = %v, code %q", err, Code(err))
	}

	// The caller's deadline counts as well.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = New(Options{AllowedNets: loopback4, AllowedPorts: []int{slowHeaders.port}}).Get(ctx, slowHeaders.URL)
	if Code(err) != "url_timeout" {
		t.Errorf("caller deadline: error = %v, code %q", err, Code(err))
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	srv := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	})
	c := New(Options{AllowedNets: loopback4, AllowedPorts: []int{srv.port}})
	for _, code := range []int{204, 304, 404, 500} {
		_, _, err := fetchAll(c, fmt.Sprintf("%s/?code=%d", srv.URL, code))
		if code == 204 {
			if err != nil {
				t.Errorf("204: %v", err)
			}
			continue
		}
		wantErr(t, err, ErrStatus)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != code || Code(err) != "url_bad_status" {
			t.Errorf("status %d: error = %v", code, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := New(Options{AllowedNets: loopback4, AllowedPorts: []int{port}})
	_, err = c.Get(context.Background(), fmt.Sprintf("http://127.0.0.1:%d/", port))
	if Code(err) != "url_unreachable" {
		t.Errorf("closed port: error = %v, code %q", err, Code(err))
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", ErrForbiddenAddress), "url_forbidden_address"},
		{ErrForbiddenScheme, "url_forbidden_scheme"},
		{ErrForbiddenPort, "url_forbidden_port"},
		{ErrTooManyRedirects, "url_too_many_redirects"},
		{ErrTooLarge, "url_too_large"},
		{&StatusError{Status: 418}, "url_bad_status"},
		{ErrBadURL, "url_invalid"},
		{context.DeadlineExceeded, "url_timeout"},
		{context.Canceled, "url_unreachable"},
		{errors.New("connection refused"), "url_unreachable"},
	} {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestOptionsNotMutated(t *testing.T) {
	t.Parallel()
	nets := []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.1/128")}
	opts := Options{AllowedNets: nets, Schemes: []string{"HTTP"}}
	c := New(opts)
	if nets[0].String() != "::ffff:127.0.0.1/128" || opts.Schemes[0] != "HTTP" || opts.AllowedPorts != nil {
		t.Errorf("caller's Options changed: %+v", opts)
	}
	if !c.policy.addrAllowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an IPv4-mapped allowed prefix does not allow its IPv4 address")
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{AllowedPorts: []int{0}},
		{AllowedPorts: []int{65536}},
		{Schemes: []string{"file"}},
		{AllowedNets: []netip.Prefix{{}}},
		{MaxBytes: -1},
		{Timeout: -time.Second},
	} {
		if opts.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", opts)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", opts)
				}
			}()
			New(opts)
		}()
	}
}

func TestPost(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.Header.Get("X-Test") + " " + string(b))
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	u := "http://127.0.0.1:" + strconv.Itoa(srv.port)
	ctx := context.Background()

	// Refused by address, though the port is allowed: never reached.
	refused := New(Options{AllowedPorts: []int{srv.port}})
	if _, err := refused.Post(ctx, u+"/", nil, []byte("x")); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("Post to loopback = %v, want ErrForbiddenAddress", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("the refused Post reached the server (%d hits)", n)
	}

	c := New(Options{AllowedNets: loopback4, AllowedPorts: []int{srv.port}})
	resp, err := c.Post(ctx, u+"/", http.Header{"X-Test": {"yes"}}, []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Status != http.StatusAccepted || got.Load() != "POST yes body" {
		t.Errorf("status %d, server saw %q; want 202 and POST yes body", resp.Status, got.Load())
	}
	// A redirect is not followed: it is the answer, and not a 2xx.
	var se *StatusError
	if _, err := c.Post(ctx, u+"/moved", nil, []byte("x")); !errors.As(err, &se) || se.Status != http.StatusTemporaryRedirect {
		t.Errorf("Post answered by a redirect = %v, want StatusError 307", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d requests reached the server, want 2 (the redirect not followed)", n)
	}
}

// Errors name the cause of a failed request but never its URL, whose path
// and query may hold a signature.
func TestErrorsHideTheURL(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // the connection is refused
	c := New(Options{AllowedNets: loopback4, AllowedPorts: []int{port}})
	u := fmt.Sprintf("http://127.0.0.1:%d/files/T0KEN-PATH?sig=S3CRET-QUERY", port)
	_, gerr := c.Get(context.Background(), u)
	_, perr := c.Post(context.Background(), u, http.Header{}, []byte("{}"))
	for _, err := range []error{gerr, perr} {
		if err == nil || strings.Contains(err.Error(), "S3CRET") || strings.Contains(err.Error(), "T0KEN") {
			t.Errorf("error %v: want the cause without the URL", err)
		}
		var op *net.OpError
		if !errors.As(err, &op) || Code(err) == "" {
			t.Errorf("error %v: the cause (*net.OpError) is lost, or has no code", err)
		}
	}
	if _, err := c.Get(context.Background(), "http://127.0.0.1:%zz/?sig=S3CRET"); err == nil || strings.Contains(err.Error(), "S3CRET") {
		t.Errorf("a malformed URL's error %v: want it without the URL", err)
	}
}
