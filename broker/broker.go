// Package broker carries live events between the instances of a service:
// an upload's progress and state changes, published by the instance that
// holds the upload, reach a browser subscribed on any other.
//
// Delivery is best effort and at most once: a message published while a
// subscriber is not listening, or while its buffer is full, is not seen by
// it. Subscribers that must not miss a change (a final state) read the
// record again from the Store; see Subscription.Dropped.
//
// Implementations: New (in-process, the default), package broker/pgbroker
// (PostgreSQL LISTEN/NOTIFY) and broker/redisbroker (Redis pub/sub); all
// run the conformance suite in broker/brokertest.
package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// MaxMessage is the largest message a Broker must carry, in bytes.
// PostgreSQL's NOTIFY takes a text payload shorter than 8000 bytes, which
// must hold the topic and the message in base64 (4 bytes for every 3):
// 4096 bytes take 5464, leaving room for a topic of over 2000.
const MaxMessage = 4096

// ErrTooLarge is returned by Publish for a message over MaxMessage.
var ErrTooLarge = errors.New("broker: message larger than MaxMessage")

// ErrClosed is returned by a closed Broker.
var ErrClosed = errors.New("broker: closed")

// Broker publishes messages on topics and delivers them to every current
// subscriber of the topic, on every instance connected to the same
// backend, in the order each publisher published them.
type Broker interface {
	// Publish sends data to the subscribers of topic. It does not wait for
	// them: a slow subscriber never slows a publisher. Topics are short
	// ASCII names such as "upload:<id>".
	Publish(ctx context.Context, topic string, data []byte) error

	// Subscribe starts delivering topic's messages to the Subscription,
	// until ctx is done or the Subscription is closed. Messages published
	// after Subscribe returns are delivered.
	Subscribe(ctx context.Context, topic string) (Subscription, error)

	// Close stops the Broker and ends its subscriptions.
	Close() error
}

// Subscription receives one topic's messages.
type Subscription interface {
	// C delivers the messages; it is closed when the subscription ends.
	C() <-chan []byte

	// Dropped counts the messages not delivered because the buffer was
	// full. A subscriber that sees it grow has missed messages.
	Dropped() uint64

	// Close ends the subscription.
	Close()
}

// Buffer is how many messages a Subscription holds for a subscriber that
// has not taken them yet; further ones are dropped.
const Buffer = 64

// Local is the fan-out every Broker implementation can build on: it
// delivers messages to the subscriptions of this process. New returns one
// as the in-process Broker.
type Local struct {
	mu     sync.Mutex
	subs   map[string]map[*sub]struct{}
	closed bool
}

// New returns the in-process Broker: messages reach the subscribers of
// this process only.
func New() *Local {
	return &Local{subs: make(map[string]map[*sub]struct{})}
}

// Publish delivers data to this process's subscribers of topic. It
// returns ErrClosed once the Broker is closed.
func (l *Local) Publish(_ context.Context, topic string, data []byte) error {
	if len(data) > MaxMessage {
		return ErrTooLarge
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.deliver(topic, data)
	return nil
}

// Deliver hands data to this process's subscribers of topic, dropping it
// for those whose buffer is full. Networked Brokers call it for what they
// receive. After Close it delivers nothing.
func (l *Local) Deliver(topic string, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deliver(topic, data)
}

// deliver is Deliver with l.mu held.
func (l *Local) deliver(topic string, data []byte) {
	for s := range l.subs[topic] {
		select {
		case s.c <- data:
		default:
			s.dropped.Add(1)
		}
	}
}

// Subscribe subscribes to topic in this process.
func (l *Local) Subscribe(ctx context.Context, topic string) (Subscription, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	s := &sub{l: l, topic: topic, c: make(chan []byte, Buffer), done: make(chan struct{})}
	if l.subs[topic] == nil {
		l.subs[topic] = make(map[*sub]struct{})
	}
	l.subs[topic][s] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Topics lists the topics with at least one subscriber in this process.
func (l *Local) Topics() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.subs))
	for t := range l.subs {
		out = append(out, t)
	}
	return out
}

// Close ends every subscription; later Publishes and Subscribes return
// ErrClosed.
func (l *Local) Close() error {
	l.mu.Lock()
	subs := l.subs
	l.subs = map[string]map[*sub]struct{}{}
	l.closed = true
	l.mu.Unlock()
	for _, m := range subs {
		for s := range m {
			s.end()
		}
	}
	return nil
}

type sub struct {
	l       *Local
	topic   string
	c       chan []byte
	dropped atomic.Uint64
	once    sync.Once
	done    chan struct{}
}

func (s *sub) C() <-chan []byte { return s.c }

func (s *sub) Dropped() uint64 { return s.dropped.Load() }

func (s *sub) Close() {
	s.l.mu.Lock()
	if m := s.l.subs[s.topic]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(s.l.subs, s.topic)
		}
	}
	s.l.mu.Unlock()
	s.end()
}

// end closes the channel once; the caller has removed s from l.
func (s *sub) end() {
	s.once.Do(func() {
		close(s.done)
		s.l.mu.Lock()
		close(s.c)
		s.l.mu.Unlock()
	})
}
