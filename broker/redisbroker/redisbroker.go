// Package redisbroker is a broker.Broker on Redis pub/sub, for deployments
// whose instances share a Redis: a message published by one instance
// reaches the subscribers of every instance whose Broker uses the same
// Redis and prefix.
//
// Open takes a redis:// or rediss:// URL and closes its client on Close;
// New uses a client the caller already has (a *redis.Client, or a
// *redis.ClusterClient, whose pub/sub reaches every node) and leaves it
// open. A message on topic T is PUBLISHed on the channel Prefix+T, by
// default "carcosa:events:"+T, with the message's bytes as they are as its
// payload. Each Broker keeps one connection of its own that PSUBSCRIBEs
// to Prefix+"*": every instance receives every message under the prefix
// and hands it to its subscribers of the message's topic, if any.
//
// Delivery is best effort, at most once, and ordered per publisher: a
// Publish returns once Redis has passed the message on, so the messages
// of one goroutine publishing one after another arrive in that order.
// Messages are lost for a subscriber whose buffer is full (see
// broker.Subscription.Dropped) and, for every subscriber of an instance,
// while its subscribing connection is down. go-redis connects that
// connection again and subscribes again when a read on it fails, and pings
// it when it has been idle for 3 seconds, so that one that has silently
// gone is noticed; what was published in between is not seen.
//
// Messages are at most broker.MaxMessage bytes of any value; Redis itself
// would carry more, the limit is that of every Broker. Topics may be any
// string.
package redisbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/carcosa-dev/carcosa/broker"
)

// DefaultPrefix begins the channels of the messages when Options.Prefix is
// empty.
const DefaultPrefix = "carcosa:events:"

// received is how many messages go-redis holds for the Broker to hand on;
// handing on never waits, so it rarely holds more than one.
const received = 1024

// Options configures a Broker. The zero value, like a nil *Options, uses
// the prefix "carcosa:events:".
type Options struct {
	// Prefix begins the channel of every message: a message on topic T is
	// published on Prefix+T. Brokers on one Redis exchange messages when
	// their prefixes are the same. It must not hold the glob characters
	// * ? [ ] or \, which PSUBSCRIBE would read as a pattern.
	Prefix string
}

// Broker is a broker.Broker on Redis pub/sub. It is safe for concurrent
// use.
type Broker struct {
	client redis.UniversalClient
	owned  bool // Close closes client
	prefix string
	ps     *redis.PubSub
	local  *broker.Local

	closed    atomic.Bool
	done      chan struct{} // closed when the receiving goroutine returns
	closeOnce sync.Once
}

var _ broker.Broker = (*Broker)(nil)

// Open connects to the Redis of url, such as redis://127.0.0.1:6379/0 (see
// redis.ParseURL), and returns a Broker subscribed on it. Close closes the
// client Open makes. opts may be nil.
func Open(ctx context.Context, url string, opts *Options) (*Broker, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		// The error can quote the URL, and its password.
		return nil, errors.New("redisbroker: open: the URL is malformed")
	}
	client := redis.NewClient(o)
	b, err := start(ctx, client, true, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	return b, nil
}

// New returns a Broker that publishes with client and receives on a
// connection of its own, which client makes. It returns once Redis has
// confirmed the subscription, so messages published after New returns
// reach the Broker's subscribers. Close leaves client open. opts may be
// nil.
func New(ctx context.Context, client redis.UniversalClient, opts *Options) (*Broker, error) {
	if client == nil {
		return nil, errors.New("redisbroker: open: nil client")
	}
	return start(ctx, client, false, opts)
}

func start(ctx context.Context, client redis.UniversalClient, owned bool, opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Prefix = cmp.Or(o.Prefix, DefaultPrefix)
	if strings.ContainsAny(o.Prefix, `*?[]\`) {
		return nil, fmt.Errorf("redisbroker: open: the prefix %q holds a glob character", o.Prefix)
	}
	b := &Broker{
		client: client,
		owned:  owned,
		prefix: o.Prefix,
		local:  broker.New(),
		done:   make(chan struct{}),
	}
	b.ps = client.PSubscribe(ctx, o.Prefix+"*")
	// The first reply is the subscription's confirmation; after it,
	// Redis sends the Broker every message published.
	if _, err := b.ps.Receive(ctx); err != nil {
		b.ps.Close()
		return nil, fmt.Errorf("redisbroker: open: %w", err)
	}
	go b.receive(b.ps.Channel(redis.WithChannelSize(received)))
	return b, nil
}

// receive hands the messages of c on until c closes.
func (b *Broker) receive(c <-chan *redis.Message) {
	defer close(b.done)
	for m := range c {
		topic, ok := strings.CutPrefix(m.Channel, b.prefix)
		if !ok {
			continue
		}
		b.local.Deliver(topic, []byte(m.Payload))
	}
}

// Publish sends data to the subscribers of topic on every Broker of the
// Redis and prefix, this one included. It returns once Redis has taken
// the message, broker.ErrTooLarge for a message over broker.MaxMessage,
// and broker.ErrClosed after Close.
func (b *Broker) Publish(ctx context.Context, topic string, data []byte) error {
	if b.closed.Load() {
		return broker.ErrClosed
	}
	if len(data) > broker.MaxMessage {
		return broker.ErrTooLarge
	}
	if err := b.client.Publish(ctx, b.prefix+topic, data).Err(); err != nil {
		if b.closed.Load() {
			return broker.ErrClosed // and Close closed the client
		}
		return fmt.Errorf("redisbroker: publish: %w", err)
	}
	return nil
}

// Subscribe delivers topic's messages from every Broker of the Redis and
// prefix until ctx is done or the Subscription is closed. It returns
// broker.ErrClosed after Close.
func (b *Broker) Subscribe(ctx context.Context, topic string) (broker.Subscription, error) {
	return b.local.Subscribe(ctx, topic)
}

// Close unsubscribes, ends every subscription and, when the Broker was
// made by Open, closes its client. Later calls do nothing.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		err = b.ps.Close()
		<-b.done
		b.local.Close()
		if b.owned {
			err = errors.Join(err, b.client.Close())
		}
	})
	if err != nil {
		return fmt.Errorf("redisbroker: close: %w", err)
	}
	return nil
}
