package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// tusClient uploads parts of one data file through tus 1.0. It is shared by
// every kind, so that they all get the same requests.
type tusClient struct {
	hc       *http.Client
	data     *os.File
	metadata string
}

// newTusClient returns a client reading from the data file at path, ready
// for conns uploads at once.
func newTusClient(path string, conns int) (*tusClient, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 8,
		MaxIdleConnsPerHost: conns + 8,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &tusClient{
		hc:   &http.Client{Transport: t},
		data: f,
		// Carcosa needs the route and a name; tusd keeps them as they are.
		metadata: "route " + base64.StdEncoding.EncodeToString([]byte(benchRoute)) +
			",filename " + base64.StdEncoding.EncodeToString([]byte("bench.bin")),
	}, nil
}

func (c *tusClient) Close() error {
	c.hc.CloseIdleConnections()
	return c.data.Close()
}

// target is where and how to upload.
type target struct {
	endpoint  string // URL of the tus creation endpoint
	wantState string // Upload-State the final response must carry, if set
}

// upload sends the first size bytes of the data file as one tus upload, in
// PATCHes of chunk bytes (0: a single PATCH), and returns the time from the
// creation request to the response of the last PATCH.
func (c *tusClient) upload(ctx context.Context, t target, size, chunk int64) (time.Duration, error) {
	start := time.Now()
	loc, err := c.create(ctx, t.endpoint, size)
	if err != nil {
		return 0, err
	}
	for off := int64(0); off < size; {
		n := size - off
		if chunk > 0 {
			n = min(n, chunk)
		}
		if err := c.patch(ctx, loc, off, n, size, t.wantState); err != nil {
			return 0, err
		}
		off += n
	}
	return time.Since(start), nil
}

func (c *tusClient) create(ctx context.Context, endpoint string, size int64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", c.metadata)
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return "", statusError(resp, http.StatusCreated)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("POST %s: the response has no usable Location: %w", endpoint, err)
	}
	return loc.String(), nil
}

// patch sends bytes [off, off+n) of the data file to the upload at loc, of
// total size size.
func (c *tusClient) patch(ctx context.Context, loc string, off, n, size int64, wantState string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc, io.NopCloser(io.NewSectionReader(c.data, off, n)))
	if err != nil {
		return err
	}
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("PATCH %s: %w", shortURL(loc), err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusNoContent {
		return statusError(resp, http.StatusNoContent)
	}
	if got, want := resp.Header.Get("Upload-Offset"), strconv.FormatInt(off+n, 10); got != want {
		return fmt.Errorf("PATCH %s: Upload-Offset %q, want %s", shortURL(loc), got, want)
	}
	if off+n == size && wantState != "" {
		if got := resp.Header.Get("Upload-State"); got != wantState {
			return fmt.Errorf("PATCH %s: the last response says Upload-State %q, want %q", shortURL(loc), got, wantState)
		}
	}
	return nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func statusError(resp *http.Response, want int) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("%s %s: %s (want %d): %s", resp.Request.Method, shortURL(resp.Request.URL.String()),
		resp.Status, want, strings.TrimSpace(string(b)))
}

func shortURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Path
	}
	return s
}

// writeDataFile writes size pseudo-random, incompressible bytes to path, a
// mebibyte at a time.
func writeDataFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var seed [32]byte
	copy(seed[:], "carcosa-bench")
	rng := rand.NewChaCha8(seed)
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		b := buf[:min(int64(len(buf)), left)]
		rng.Read(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		left -= int64(len(b))
	}
	return f.Close()
}
