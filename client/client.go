package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Client talks to one Carcosa mount path. It is safe for concurrent use.
type Client struct {
	base   *url.URL // the mount path B, without a trailing slash
	hc     *http.Client
	header http.Header
	token  func(context.Context) (string, error)
	chunk  int64
	retry  Retry

	mu       sync.Mutex
	checksum *bool // whether the server takes Upload-Checksum: sha256, once known
}

// Options configure a Client. A nil *Options means all defaults.
type Options struct {
	// HTTPClient sends the requests. Defaults to http.DefaultClient. Its
	// Timeout, if any, bounds every request, each chunk of an upload and
	// Wait's event stream included.
	HTTPClient *http.Client

	// Header is sent with every request (an API key, a cookie, ...).
	Header http.Header

	// Token, when set, is called before every request for a bearer token,
	// sent as "Authorization: Bearer <token>". It may refresh the token.
	Token func(ctx context.Context) (string, error)

	// ChunkSize is the most bytes one tus PATCH sends. A dropped
	// connection costs at most one chunk. Defaults to 8 MiB; at least
	// 64 KiB.
	ChunkSize int64

	// Retry says how requests that may succeed later are retried.
	Retry Retry
}

// Retry is a retry policy: exponential backoff with jitter. The zero value
// means the defaults.
//
// What is retried: a request that failed on the way (a dropped connection,
// a reset, a timeout) and responses 5xx, 408 (the body stopped arriving), 409
// and 423 (the upload is busy or its offset moved) and 460 (a chunk
// damaged on the way). For an upload, each retry first asks the server
// (HEAD) how much it has and goes on from there. Other 4xx responses are
// refusals and are never retried.
type Retry struct {
	// Attempts is how many times one step (a request, or one chunk of an
	// upload) is tried before its error is returned; a chunk that the
	// server took, even in part, starts the count again. Defaults to 8;
	// 1 means no retry.
	Attempts int
	// MinDelay is the wait before the first retry; each further retry
	// waits twice as long, up to MaxDelay, less a random part of up to a
	// half. A Retry-After from the server is waited instead, up to
	// MaxDelay. Defaults to 250 ms.
	MinDelay time.Duration
	// MaxDelay bounds the wait between tries. Defaults to 15 s.
	MaxDelay time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 8
	}
	if r.MinDelay <= 0 {
		r.MinDelay = 250 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 15 * time.Second
	}
	if r.MaxDelay < r.MinDelay {
		r.MaxDelay = r.MinDelay
	}
	return r
}

// delay is the wait before retry n (1 for the first), at least hint.
func (r Retry) delay(n int, hint time.Duration) time.Duration {
	if hint > 0 {
		return min(hint, r.MaxDelay)
	}
	d := r.MinDelay
	for i := 1; i < n && d < r.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, r.MaxDelay)
	return d - rand.N(d/2+1)
}

// DefaultChunkSize is Options.ChunkSize's default.
const DefaultChunkSize = 8 << 20

const minChunkSize = 64 << 10

// New returns a Client of the Carcosa mount path at baseURL, such as
// "https://example.com/api/uploads".
func New(baseURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: the base URL %q is not an http or https URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: the base URL %q has a query or fragment", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Client{base: u, hc: o.HTTPClient, token: o.Token, chunk: o.ChunkSize, retry: o.Retry.withDefaults(), header: o.Header.Clone()}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	switch {
	case c.chunk == 0:
		c.chunk = DefaultChunkSize
	case c.chunk < minChunkSize:
		return nil, fmt.Errorf("client: Options.ChunkSize is %d; it must be at least %d", c.chunk, minChunkSize)
	}
	return c, nil
}

// URL is the absolute URL of path p under the mount path, such as
// c.URL("/uploads/abc").
func (c *Client) URL(p string) string { return c.base.String() + p }

// resolve makes ref, a URL the server sent (often a path), absolute.
func (c *Client) resolve(ref string) string {
	if ref == "" {
		return ""
	}
	u, err := c.base.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}

// newRequest makes a request with the Client's headers and token.
func (c *Client) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	for k, v := range c.header {
		req.Header[k] = append([]string(nil), v...)
	}
	if c.token != nil {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: getting a token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, nil
}

// retryable reports whether err, from sending a request or as a response's
// *Error, may go away if the request is sent again.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusRequestTimeout, http.StatusConflict, http.StatusLocked, statusChecksumMismatch:
			return true
		}
		return e.Status >= 500
	}
	var nr *noRetryError
	return !errors.As(err, &nr)
}

// statusChecksumMismatch is tus's 460 Checksum Mismatch.
const statusChecksumMismatch = 460

// noRetryError is an error of the client's own making that no retry mends
// (a token that could not be had, a request that could not be built).
type noRetryError struct{ err error }

func (e *noRetryError) Error() string { return e.err.Error() }
func (e *noRetryError) Unwrap() error { return e.err }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff waits before retry n of a step that failed with err, or returns
// err when it is not to be retried or n tries are spent.
func (c *Client) backoff(ctx context.Context, n int, err error) error {
	if !retryable(ctx, err) || n >= c.retry.Attempts {
		return err
	}
	var hint time.Duration
	var e *Error
	if errors.As(err, &e) {
		hint = e.RetryAfter
	}
	if serr := sleep(ctx, c.retry.delay(n, hint)); serr != nil {
		return err
	}
	return nil
}

// response is a response whose body was read (it is small: JSON).
type response struct {
	status int
	header http.Header
	body   []byte
}

// maxJSONBody bounds the JSON responses read.
const maxJSONBody = 8 << 20

// send sends a bodiless request (or one whose body is remade for each
// try) and retries it by the policy. A response of 400 or more is returned
// as an *Error.
func (c *Client) send(ctx context.Context, method, target string, hdr http.Header, body []byte) (*response, error) {
	for n := 1; ; n++ {
		resp, err := c.sendOnce(ctx, method, target, hdr, body)
		if err == nil {
			return resp, nil
		}
		if berr := c.backoff(ctx, n, err); berr != nil {
			return nil, berr
		}
	}
}

func (c *Client) sendOnce(ctx context.Context, method, target string, hdr http.Header, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, target, rd)
	if err != nil {
		return nil, &noRetryError{err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := int64(maxJSONBody)
	if resp.StatusCode >= 400 {
		limit = maxErrorBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, parseError(resp.StatusCode, resp.Header, b)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// getJSON GETs path under the mount path into v.
func (c *Client) getJSON(ctx context.Context, p string, v any) error {
	resp, err := c.send(ctx, http.MethodGet, c.URL(p), nil, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("client: GET %s: the response is not the JSON expected: %w", p, err)
	}
	return nil
}

// pathID escapes an upload ID for a path.
func pathID(id string) string { return url.PathEscape(id) }
