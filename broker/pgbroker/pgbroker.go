// Package pgbroker is a broker.Broker on PostgreSQL's LISTEN/NOTIFY, for
// deployments whose instances share a database and nothing else: a message
// published by one instance reaches the subscribers of every instance
// whose Broker uses the same database and channel.
//
// Open takes a connection string in any form pgx accepts and closes its
// pool on Close; New uses a pool the caller already has and leaves it
// open. Either way each Broker keeps one connection of its own, outside
// the pool, that LISTENs on one channel, "carcosa_events" unless
// Options.Channel names another; a Publish is one pg_notify on the pool.
// Every instance receives every message of the channel and hands it to its
// subscribers of the message's topic, if any.
//
// Delivery is best effort, at most once, and ordered per publisher: a
// Publish returns once PostgreSQL has queued the notification, so the
// messages of one goroutine publishing one after another arrive in that
// order. Messages are lost for a subscriber whose buffer is full (see
// broker.Subscription.Dropped) and, for every subscriber of an instance,
// while its listening connection is down: when the connection drops, the
// Broker connects again, with a backoff from 50 ms to 5 s, and LISTENs
// again; what was published in between is not seen. An idle listening
// connection is pinged every 30 seconds, so that one that has silently
// gone is noticed.
//
// Messages are at most broker.MaxMessage bytes of any value. A NOTIFY
// payload is text shorter than 8000 bytes: the message travels in base64
// followed by a space and the topic, so a topic may be some 2500 bytes
// long with a message of MaxMessage; Publish returns broker.ErrTooLarge
// for a message or a topic that does not fit. A topic must be text
// PostgreSQL accepts (no NUL byte, valid in the database's encoding).
package pgbroker

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/broker"
)

// DefaultChannel is the channel LISTENed on when Options.Channel is empty.
const DefaultChannel = "carcosa_events"

// maxPayload is the longest NOTIFY payload PostgreSQL takes, in bytes.
const maxPayload = 7999

// The backoff between attempts to connect the listening connection again.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// pingAfter is how long the listening connection may be idle before it
// is pinged; tests shorten it.
var pingAfter = 30 * time.Second

// Options configures a Broker. The zero value, like a nil *Options, uses
// the channel "carcosa_events" and slog.Default().
type Options struct {
	// Channel is the channel of the NOTIFYs: lowercase letters, digits and
	// underscores, not starting with a digit, at most 63 characters.
	// Brokers on one database exchange messages when their channels are
	// the same.
	Channel string

	// Logger receives the losses of the listening connection and its
	// reconnections. Defaults to slog.Default().
	Logger *slog.Logger
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Broker is a broker.Broker on PostgreSQL's LISTEN/NOTIFY. It is safe for
// concurrent use.
type Broker struct {
	pool    *pgxpool.Pool
	owned   bool // Close closes pool
	channel string
	log     *slog.Logger
	local   *broker.Local
	ping    time.Duration // pingAfter when the Broker was made

	closed    atomic.Bool
	stop      context.CancelFunc
	done      chan struct{} // closed when the listening goroutine returns
	closeOnce sync.Once

	pid atomic.Uint32 // the listening connection's backend, 0 while down
}

var _ broker.Broker = (*Broker)(nil)

// Open connects to the database of dsn, a connection string in any form
// pgx accepts, and returns a Broker listening on it. Close closes the
// pool Open makes. opts may be nil.
func Open(ctx context.Context, dsn string, opts *Options) (*Broker, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the connection string.
		return nil, errors.New("pgbroker: open: the connection string is malformed")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgbroker: open: %w", err)
	}
	b, err := start(ctx, pool, true, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return b, nil
}

// New returns a Broker that publishes on pool and listens on a connection
// of its own, made with pool's connection settings. It returns once that
// connection LISTENs, so messages published after New returns reach the
// Broker's subscribers. Close leaves pool open. opts may be nil.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Broker, error) {
	if pool == nil {
		return nil, errors.New("pgbroker: open: nil pool")
	}
	return start(ctx, pool, false, opts)
}

func start(ctx context.Context, pool *pgxpool.Pool, owned bool, opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Channel = cmp.Or(o.Channel, DefaultChannel)
	if !identifier.MatchString(o.Channel) {
		return nil, fmt.Errorf("pgbroker: open: invalid channel name %q", o.Channel)
	}
	b := &Broker{
		pool:    pool,
		owned:   owned,
		channel: o.Channel,
		log:     cmp.Or(o.Logger, slog.Default()),
		local:   broker.New(),
		ping:    pingAfter,
		done:    make(chan struct{}),
	}
	conn, err := b.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgbroker: open: %w", err)
	}
	lctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	go b.listen(lctx, conn)
	return b, nil
}

// connect makes the listening connection and LISTENs on it.
func (b *Broker) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	b.pid.Store(conn.PgConn().PID())
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// listen delivers the notifications conn receives until ctx is done,
// connecting again whenever the connection is lost.
func (b *Broker) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(b.done)
	backoff := minBackoff
	for {
		if conn == nil {
			// Up to a quarter less than backoff, so that instances that
			// lost the database together do not all come back at once.
			wait := backoff - rand.N(backoff/4)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			c, err := b.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				b.log.Warn("pgbroker: connecting the listening connection", "err", err, "retry_in", backoff)
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			b.log.Info("pgbroker: listening again", "channel", b.channel)
			conn, backoff = c, minBackoff
		}
		if err := b.receive(ctx, conn); err != nil {
			b.pid.Store(0)
			closeConn(conn)
			conn = nil
			if ctx.Err() != nil {
				return
			}
			b.log.Warn("pgbroker: lost the listening connection; messages are lost until it is back", "err", err)
		}
	}
}

// receive delivers conn's notifications until ctx is done or conn fails.
// It pings conn when it has been idle for b.ping.
func (b *Broker) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, b.ping)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil || !pgconn.Timeout(err) {
				return err
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		topic, data, ok := decode(n.Payload)
		if !ok {
			b.log.Warn("pgbroker: a notification that is not a message", "channel", b.channel)
			continue
		}
		b.local.Deliver(topic, data)
	}
}

// encode is the NOTIFY payload of a message: data in standard base64,
// which holds no space, a space, and the topic.
func encode(topic string, data []byte) string {
	buf := make([]byte, 0, base64.StdEncoding.EncodedLen(len(data))+1+len(topic))
	buf = base64.StdEncoding.AppendEncode(buf, data)
	buf = append(buf, ' ')
	buf = append(buf, topic...)
	return string(buf)
}

// decode undoes encode.
func decode(payload string) (topic string, data []byte, ok bool) {
	enc, topic, ok := strings.Cut(payload, " ")
	if !ok {
		return "", nil, false
	}
	data, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", nil, false
	}
	return topic, data, true
}

// Publish sends data to the subscribers of topic on every Broker of the
// database and channel, this one included. It returns once PostgreSQL has
// taken the notification, broker.ErrTooLarge for a message over
// broker.MaxMessage or a topic too long to go with it, and
// broker.ErrClosed after Close.
func (b *Broker) Publish(ctx context.Context, topic string, data []byte) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if len(data) > broker.MaxMessage {
		return broker.ErrTooLarge
	}
	payload := encode(topic, data)
	if len(payload) > maxPayload {
		return fmt.Errorf("%w: a topic of %d bytes leaves no room for the message", broker.ErrTooLarge, len(topic))
	}
	if _, err := b.pool.Exec(ctx, "SELECT pg_notify($1, $2)", b.channel, payload); err != nil {
		if b.closed.Load() {
			return broker.ErrClosed // and Close closed the pool
		}
		return fmt.Errorf("pgbroker: publish: %w", err)
	}
	return nil
}

// Subscribe delivers topic's messages from every Broker of the database
// and channel until ctx is done or the Subscription is closed. It returns
// broker.ErrClosed after Close.
func (b *Broker) Subscribe(ctx context.Context, topic string) (broker.Subscription, error) {
	return b.local.Subscribe(ctx, topic)
}

// Close stops listening, ends every subscription and, when the Broker was
// made by Open, closes its pool. Later calls do nothing.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.stop()
		<-b.done
		b.local.Close()
		if b.owned {
			b.pool.Close()
		}
	})
	return nil
}
