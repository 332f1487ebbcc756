package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Clamd scans on clamd's INSTREAM command. It is safe for concurrent use;
// each scan has a connection of its own.
type Clamd struct {
	network, address string
	opts             ClamdOptions // with the defaults filled in
}

// ClamdOptions configure a Clamd. The zero value is valid: every field has
// a default.
type ClamdOptions struct {
	// MaxSize is the most bytes a scan sends; a longer stream fails with
	// ErrTooLarge and no more of it is sent. Keep it within clamd's
	// MaxFileSize, over which clamd answers OK unscanned, and its
	// StreamMaxLength, over which clamd refuses the stream (see the package
	// doc). Defaults to 100 MiB, clamd's default for both.
	MaxSize int64

	// Timeout bounds a whole scan, or a Ping or Version, from dialling to
	// the answer; a scan that takes longer fails with ErrUnavailable.
	// Defaults to 2 minutes.
	Timeout time.Duration

	// DialTimeout bounds connecting to clamd. Defaults to 5 seconds.
	DialTimeout time.Duration

	// ChunkSize is the size of the INSTREAM chunks, and of the one buffer a
	// scan holds; at most 16 MiB. Defaults to 64 KiB.
	ChunkSize int
}

const (
	defaultMaxSize     = 100 << 20
	defaultTimeout     = 2 * time.Minute
	defaultDialTimeout = 5 * time.Second
	defaultChunkSize   = 64 << 10
	maxChunkSize       = 16 << 20

	// maxReply bounds what is read of clamd's answer; a real one is a line.
	maxReply = 4 << 10

	// replyGrace bounds the wait for clamd's reason after a write fails.
	replyGrace = 2 * time.Second
)

// withDefaults returns a copy of o with its zero fields set to their
// defaults, or an error naming the first invalid field.
func (o ClamdOptions) withDefaults() (ClamdOptions, error) {
	switch {
	case o.MaxSize < 0:
		return o, fmt.Errorf("scan: ClamdOptions.MaxSize is negative (%d)", o.MaxSize)
	case o.Timeout < 0:
		return o, fmt.Errorf("scan: ClamdOptions.Timeout is negative (%v)", o.Timeout)
	case o.DialTimeout < 0:
		return o, fmt.Errorf("scan: ClamdOptions.DialTimeout is negative (%v)", o.DialTimeout)
	case o.ChunkSize < 0 || o.ChunkSize > maxChunkSize:
		return o, fmt.Errorf("scan: ClamdOptions.ChunkSize is %d; want 1 to %d bytes, or 0 for the default", o.ChunkSize, maxChunkSize)
	}
	if o.MaxSize == 0 {
		o.MaxSize = defaultMaxSize
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = defaultChunkSize
	}
	return o, nil
}

// NewClamd returns a Clamd for the daemon at addr: "tcp://host:port",
// "host:port" or "unix:///path/clamd.ctl". It does not dial; Ping checks
// that the daemon answers.
func NewClamd(addr string, opts ClamdOptions) (*Clamd, error) {
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Clamd{network: network, address: address, opts: opts}, nil
}

func parseAddr(addr string) (network, address string, err error) {
	bad := func(why string) error {
		return fmt.Errorf("scan: clamd address %q: %s; want tcp://host:port, host:port or unix:///path", addr, why)
	}
	hostport := addr
	switch {
	case strings.HasPrefix(addr, "unix://"):
		path := strings.TrimPrefix(addr, "unix://")
		if !strings.HasPrefix(path, "/") {
			return "", "", bad("the socket's path is not absolute")
		}
		return "unix", path, nil
	case strings.HasPrefix(addr, "tcp://"):
		hostport = strings.TrimPrefix(addr, "tcp://")
	case strings.Contains(addr, "://"):
		return "", "", bad("the scheme is neither tcp nor unix")
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", "", bad("no host:port")
	}
	if host == "" {
		return "", "", bad("no host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", "", bad("the port is not a number from 1 to 65535")
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

// MaxSize is ClamdOptions.MaxSize.
func (c *Clamd) MaxSize() int64 { return c.opts.MaxSize }

// Scan sends r to clamd and returns its verdict. It stops at MaxSize
// without sending more. It cannot interrupt a Read of r that blocks: the
// caller bounds its reader (for a request body, the server's read
// deadline); every Read that returns is followed by a check of ctx and
// Timeout.
func (c *Clamd) Scan(ctx context.Context, r io.Reader) (Verdict, error) {
	s, err := c.open(ctx)
	if err != nil {
		return Verdict{}, err
	}
	defer s.close()

	if _, err := s.conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return Verdict{}, s.fail("sending INSTREAM", err)
	}
	// Each chunk is its 4-byte length then its bytes; read into the buffer
	// behind the length so that one Write sends both.
	buf := make([]byte, 4+c.opts.ChunkSize)
	var sent int64
	for {
		n, rerr := r.Read(buf[4:])
		if n > 0 {
			if sent += int64(n); sent > c.opts.MaxSize {
				return Verdict{}, fmt.Errorf("%w of %d bytes", ErrTooLarge, c.opts.MaxSize)
			}
			binary.BigEndian.PutUint32(buf, uint32(n))
			if _, err := s.conn.Write(buf[:4+n]); err != nil {
				return Verdict{}, s.failWrite(err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return Verdict{}, fmt.Errorf("scan: reading the stream: %w", rerr)
		}
		if err := s.ctx.Err(); err != nil {
			return Verdict{}, s.fail("sending the stream", err)
		}
	}
	// A chunk of length 0 ends the stream.
	clear(buf[:4])
	if _, err := s.conn.Write(buf[:4]); err != nil {
		return Verdict{}, s.failWrite(err)
	}
	reply, err := s.readReply()
	if err != nil {
		return Verdict{}, s.fail("reading the verdict", err)
	}
	return parseReply(reply)
}

// Ping checks that clamd answers: PING, to which it says PONG.
func (c *Clamd) Ping(ctx context.Context) error {
	reply, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("%w: clamd answered PING with %q", ErrUnavailable, reply)
	}
	return nil
}

// Version returns clamd's version line, e.g.
// "ClamAV 1.4.6/27456/Sun Nov 22 09:36:41 2026": the engine's, then the
// signatures' version and date when clamd knows them.
func (c *Clamd) Version(ctx context.Context) (string, error) {
	reply, err := c.command(ctx, "VERSION")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, "ClamAV ") {
		return "", fmt.Errorf("%w: clamd answered VERSION with %q", ErrUnavailable, reply)
	}
	return reply, nil
}

// command sends clamd a command without arguments and returns its answer.
func (c *Clamd) command(ctx context.Context, name string) (string, error) {
	s, err := c.open(ctx)
	if err != nil {
		return "", err
	}
	defer s.close()
	if _, err := s.conn.Write([]byte("z" + name + "\x00")); err != nil {
		return "", s.fail("sending "+name, err)
	}
	reply, err := s.readReply()
	if err != nil {
		return "", s.fail("reading the answer to "+name, err)
	}
	return reply, nil
}

// A session is one connection to clamd, bound by the caller's context and
// by Timeout.
type session struct {
	conn    net.Conn
	parent  context.Context // the caller's
	ctx     context.Context // parent, ending after Timeout
	timeout time.Duration
	cancel  context.CancelFunc
	stop    func() bool // stops closing conn when ctx ends
}

func (c *Clamd) open(ctx context.Context) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	s := &session{parent: ctx, ctx: tctx, timeout: c.opts.Timeout, cancel: cancel}
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	conn, err := d.DialContext(tctx, c.network, c.address)
	if err != nil {
		err = s.fail("dialing "+c.address, err) // before cancel, which would pass for a timeout
		cancel()
		return nil, err
	}
	s.conn = conn
	// The deadline ends blocked reads and writes when time runs out; closing
	// the connection ends them when the caller cancels.
	deadline, _ := tctx.Deadline()
	conn.SetDeadline(deadline)
	s.stop = context.AfterFunc(tctx, func() { conn.Close() })
	return s, nil
}

func (s *session) close() {
	s.stop()
	s.conn.Close()
	s.cancel()
}

// fail returns the error of a session whose step doing failed with err: the
// caller's context error when it ended, else one matching ErrUnavailable.
func (s *session) fail(doing string, err error) error {
	if cerr := s.parent.Err(); cerr != nil {
		return fmt.Errorf("scan: clamd %s: %w", doing, cerr)
	}
	if s.ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline can pass a moment before the context
		// it was taken from says so.
		if d, ok := s.parent.Deadline(); ok && !time.Now().Before(d) {
			return fmt.Errorf("scan: clamd %s: %w", doing, context.DeadlineExceeded)
		}
		return fmt.Errorf("%w: clamd %s: the scan took longer than its %v timeout", ErrUnavailable, doing, s.timeout)
	}
	return fmt.Errorf("%w: clamd %s: %w", ErrUnavailable, doing, err)
}

// failWrite returns the error of a write that failed. clamd refuses a
// stream (one over StreamMaxLength, say) by answering why and closing the
// connection before the stream ends, so a failed write is the first sign,
// and the answer, when there is one, is the reason.
func (s *session) failWrite(err error) error {
	if s.ctx.Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		if d, _ := s.ctx.Deadline(); time.Until(d) > replyGrace {
			s.conn.SetReadDeadline(time.Now().Add(replyGrace))
		}
		if reply, rerr := s.readReply(); rerr == nil {
			if _, perr := parseReply(reply); perr != nil {
				return perr
			}
			return fmt.Errorf("%w: clamd answered %q before the stream ended", ErrUnavailable, reply)
		}
	}
	return s.fail("sending the stream", err)
}

// readReply reads clamd's answer, up to its terminating NUL.
func (s *session) readReply() (string, error) {
	buf := make([]byte, maxReply)
	n := 0
	for {
		m, err := s.conn.Read(buf[n:])
		n += m
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(buf[:i]), nil
		}
		switch {
		case err == io.EOF && n == 0:
			return "", fmt.Errorf("the connection closed without an answer: %w", io.ErrUnexpectedEOF)
		case err == io.EOF:
			return string(buf[:n]), nil // an answer without its NUL
		case err != nil:
			return "", err
		case n == len(buf):
			return "", fmt.Errorf("an answer longer than %d bytes", maxReply)
		}
	}
}
