package safefetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Client fetches URLs under one set of [Options]. It is safe for concurrent
// use and keeps idle connections for reuse, so make one and share it.
type Client struct {
	opts   Options // with defaults
	policy *policy
	http   *http.Client
}

// Response is a successful (2xx) answer. The caller must close Body.
type Response struct {
	// Body yields at most Options.MaxBytes bytes; reading past them fails
	// with ErrTooLarge. Reads fail once Options.Timeout has passed since
	// Get was called.
	Body          io.ReadCloser
	URL           *url.URL // the URL answered, after redirects
	Status        int
	ContentType   string // as sent, possibly empty
	ContentLength int64  // as announced; -1 when unknown
}

// New returns a Client. It panics if opts cannot be honoured: a port outside
// 1-65535, an invalid prefix, a scheme other than http and https, or a
// negative MaxBytes or Timeout (see Options.Validate).
func New(opts Options) *Client {
	o := opts.withDefaults()
	p := newPolicy(o)
	dialer := &net.Dialer{Control: p.control}
	var protocols http.Protocols
	protocols.SetHTTP1(true) // one code path to reason about; HTTP/2 gains nothing for one download
	c := &Client{opts: o, policy: p}
	c.http = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // a proxy would be dialed instead of the target, bypassing the check
			DialContext:            dialer.DialContext,
			Protocols:              &protocols,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxIdleConns:           32,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			DisableCompression:     true, // store the bytes as served; no decompression bombs
		},
		CheckRedirect: c.checkRedirect,
	}
	return c
}

// Get fetches u. It returns an error matching one of the package's
// sentinels when u or a redirect is refused, when the answer is not 2xx
// ([ErrStatus]) or when Content-Length exceeds Options.MaxBytes
// ([ErrTooLarge]); see [Code] for the rest.
func (c *Client) Get(ctx context.Context, u string) (*Response, error) {
	target, err := c.policy.parseURL(u)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	req := (&http.Request{Method: http.MethodGet, URL: target, Header: http.Header{}}).WithContext(ctx)
	if c.opts.UserAgent != "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, WithoutURL(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		cancel()
		return nil, &StatusError{Status: resp.StatusCode}
	}
	if resp.ContentLength > c.opts.MaxBytes {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d", ErrTooLarge, resp.ContentLength, c.opts.MaxBytes)
	}
	return &Response{
		Body:          &body{rc: resp.Body, ctx: ctx, cancel: cancel, max: c.opts.MaxBytes, left: c.opts.MaxBytes},
		URL:           resp.Request.URL,
		Status:        resp.StatusCode,
		ContentType:   resp.Header.Get("Content-Type"),
		ContentLength: resp.ContentLength,
	}, nil
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.opts.MaxRedirects {
		return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, c.opts.MaxRedirects)
	}
	return c.policy.checkURL(req.URL)
}

// body caps a response body and releases the fetch's context on Close.
type body struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelFunc
	max    int64
	left   int64
	err    error // sticky once the cap is passed
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// Ask for one byte more than is left, to learn whether there is more.
	if int64(len(p)) > b.left {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), 0
		b.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, b.max)
		return n, b.err
	}
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		if ctxErr := b.ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			// Name the cause: the transport's own error may not say it
			// was a deadline.
			err = fmt.Errorf("safefetch: reading body: %w: %w", ctxErr, err)
		}
	}
	return n, err
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// Post sends payload to u with header, under the same address, port and scheme
// checks as Get, and returns the answer if it is 2xx. It follows no
// redirect: a 3xx, like any answer not 2xx, is a [StatusError]. Webhook
// deliveries use it to reach addresses their senders chose.
func (c *Client) Post(ctx context.Context, u string, header http.Header, payload []byte) (*Response, error) {
	target, err := c.policy.parseURL(u)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(payload))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%w: %w", ErrBadURL, WithoutURL(err))
	}
	req.URL = target
	for k, v := range header {
		req.Header[k] = v
	}
	if c.opts.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	noRedirect := *c.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		cancel()
		return nil, WithoutURL(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		cancel()
		return nil, &StatusError{Status: resp.StatusCode}
	}
	return &Response{
		Body:          &body{rc: resp.Body, ctx: ctx, cancel: cancel, max: c.opts.MaxBytes, left: c.opts.MaxBytes},
		URL:           resp.Request.URL,
		Status:        resp.StatusCode,
		ContentType:   resp.Header.Get("Content-Type"),
		ContentLength: resp.ContentLength,
	}, nil
}
