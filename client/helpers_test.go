package client

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

const base = "/api/uploads"

// noteInput is the "notes" route's input.
type noteInput struct {
	Topic string `json:"topic" validate:"required,max=20"`
}

type meta struct {
	User  string
	Topic string
}

// testBundle is a Router on an in-memory Store and the file system, served
// by a test server, and what its callbacks saw.
type testBundle struct {
	router *carcosa.Router
	server *httptest.Server

	mu        sync.Mutex
	completed []completion
	requests  map[string]int // by method, for requests under B/tus/
	patched   atomic.Int64   // bytes of PATCH bodies that reached the Router

	// fail, when set, may answer a request in the Router's stead.
	fail atomic.Pointer[func(w http.ResponseWriter, req *http.Request) bool]
}

type completion struct {
	file carcosa.File
	meta meta
}

// owner is the test routes' middleware: the owner is the bearer token,
// else X-User.
func owner(req *http.Request) (string, error) {
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
		return tok, nil
	}
	if u := req.Header.Get("X-User"); u != "" {
		return u, nil
	}
	return "", carcosa.Unauthorized("send a token")
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	r, err := carcosa.New(carcosa.Config{BasePath: base, DataDir: t.TempDir(), Store: memstore.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBundle{router: r, requests: map[string]int{}}
	carcosa.Handle(r, "files", carcosa.Route[struct{}, meta]{
		Accept:      []string{"any"},
		MaxFileSize: 300 << 20,
		MaxFiles:    100,
		Public:      true,
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[meta], error) {
			u, err := owner(req.HTTP)
			return carcosa.Grant[meta]{Owner: u, Metadata: meta{User: u}}, err
		},
		OnComplete: func(ctx context.Context, m meta, f carcosa.File) (any, error) {
			tb.mu.Lock()
			tb.completed = append(tb.completed, completion{f, m})
			tb.mu.Unlock()
			return map[string]any{"user": m.User}, nil
		},
	})
	carcosa.Handle(r, "notes", carcosa.Route[noteInput, meta]{
		Accept: []string{"text"},
		Middleware: func(ctx context.Context, req *carcosa.Request[noteInput]) (carcosa.Grant[meta], error) {
			u, err := owner(req.HTTP)
			return carcosa.Grant[meta]{Owner: u, Metadata: meta{User: u, Topic: req.Input.Topic}}, err
		},
		OnComplete: func(ctx context.Context, m meta, f carcosa.File) (any, error) {
			tb.mu.Lock()
			tb.completed = append(tb.completed, completion{f, m})
			tb.mu.Unlock()
			return map[string]string{"topic": m.Topic}, nil
		},
	})
	carcosa.Handle(r, "images", carcosa.Route[struct{}, meta]{
		Accept: []string{"image"},
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[meta], error) {
			u, err := owner(req.HTTP)
			return carcosa.Grant[meta]{Owner: u}, err
		},
	})
	mux := http.NewServeMux()
	mux.Handle(base+"/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, base+"/tus/") {
			tb.mu.Lock()
			tb.requests[req.Method]++
			tb.mu.Unlock()
			if req.Method == http.MethodPatch {
				req.Body = &countingBody{ReadCloser: req.Body, n: &tb.patched}
			}
		}
		if f := tb.fail.Load(); f != nil && (*f)(w, req) {
			return
		}
		r.ServeHTTP(w, req)
	}))
	tb.server = httptest.NewServer(mux)
	t.Cleanup(func() {
		tb.server.Close()
		r.Close()
	})
	return tb
}

// client is a Client of tb as user, with fast retries.
func (tb *testBundle) client(t *testing.T, user string, o *Options) *Client {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if o.Header == nil && user != "" {
		o.Header = http.Header{"X-User": {user}}
	}
	if o.Retry == (Retry{}) {
		o.Retry = Retry{Attempts: 5, MinDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}
	}
	c, err := New(tb.server.URL+base, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (tb *testBundle) requestCounts() map[string]int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := map[string]int{}
	for k, v := range tb.requests {
		out[k] = v
	}
	return out
}

func (tb *testBundle) completions() []completion {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]completion(nil), tb.completed...)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// fetchSHA256 GETs url (as user) and returns the SHA-256 of its body, in
// hex, and its length.
func fetchSHA256(t *testing.T, url, user string) (string, int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// seededReader is size pseudo-random bytes from seed, readable and seekable
// without holding them: block k of the stream is ChaCha8's output for a key
// made of seed and k.
type seededReader struct {
	seed  uint64
	size  int64
	off   int64
	block int64 // the block in buf, -1 for none
	buf   []byte
}

const seededBlock = 64 << 10

func newSeededReader(seed uint64, size int64) *seededReader {
	return &seededReader{seed: seed, size: size, block: -1, buf: make([]byte, seededBlock)}
}

func (s *seededReader) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	k := s.off / seededBlock
	if k != s.block {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[0:], s.seed)
		binary.LittleEndian.PutUint64(key[8:], uint64(k))
		rand.NewChaCha8(key).Read(s.buf)
		s.block = k
	}
	n := copy(p, s.buf[s.off%seededBlock:min(int64(seededBlock), s.size-k*seededBlock)])
	s.off += int64(n)
	return n, nil
}

func (s *seededReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += s.size
	}
	if offset < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	s.off = offset
	return offset, nil
}

// cuttingProxy forwards TCP connections to target and cuts each after a
// random number of bytes each way, drawn from rng: up to maxUp bytes from
// the client, up to maxDown from the server.
type cuttingProxy struct {
	ln             net.Listener
	target         string
	maxUp, maxDown int64
	mu             sync.Mutex
	rng            *rand.Rand
	cuts           atomic.Int64
	wg             sync.WaitGroup
	conns          map[net.Conn]struct{}
	closed         bool
}

func newCuttingProxy(t *testing.T, target string, seed uint64, maxUp, maxDown int64) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, target: target, maxUp: maxUp, maxDown: maxDown, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cuttingProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cuttingProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up, down := 1+p.rng.Int64N(p.maxUp), 1+p.rng.Int64N(p.maxDown)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c, up, down)
		}()
	}
}

// pipe forwards c to the target until either side closes or a budget is
// spent, then closes both.
func (p *cuttingProxy) pipe(c net.Conn, up, down int64) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			c.Close()
			s.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, s)
			p.mu.Unlock()
		})
	}
	var wg sync.WaitGroup
	copyN := func(dst, src net.Conn, budget int64) {
		defer wg.Done()
		defer closeBoth()
		n, _ := io.CopyN(dst, src, budget)
		if n == budget {
			p.cuts.Add(1)
		}
	}
	wg.Add(2)
	go copyN(s, c, up)
	go copyN(c, s, down)
	wg.Wait()
}
