// Package brokertest is the conformance suite of broker.Broker: every
// implementation runs Run, and those whose instances share a backend also
// run RunShared.
//
// The cases hold an implementation to the contract of package broker:
// messages reach every current subscriber of their topic and no other, in
// the order each publisher published them; a message of broker.MaxMessage
// bytes is carried and a longer one refused; a subscriber that does not
// read loses messages (Dropped grows) without slowing the publisher; ended
// subscriptions close their channels; a closed Broker refuses Publish and
// Subscribe. Topics are made unique to each case, so instances of a backend
// that other tests share see nothing of each other's cases.
package brokertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/broker"
)

// Timeout bounds every wait of the suite: for a message, for a channel to
// close, for 10,000 Publishes next to a subscriber that never reads. It is
// generous so that a loaded machine running with -race still passes; a
// working Broker delivers within milliseconds.
const Timeout = 10 * time.Second

// inFlight is how many messages a case that counts on receiving all of
// them leaves published but not yet received, well under broker.Buffer so
// that a subscriber reading as fast as it can never has a message dropped.
const inFlight = broker.Buffer / 2

// Run runs the suite against the Brokers newBroker returns, a new one for
// each case. The suite closes each Broker when its case ends, so Close must
// accept being called more than once.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	open := func(t *testing.T) broker.Broker {
		b := newBroker(t)
		t.Cleanup(func() { b.Close() })
		return b
	}
	t.Run("Fanout", func(t *testing.T) {
		b := open(t)
		fanout(t, b, b)
	})
	t.Run("Order", func(t *testing.T) {
		b := open(t)
		order(t, b, b)
	})
	t.Run("ConcurrentPublishers", func(t *testing.T) {
		b := open(t)
		concurrent(t, []broker.Broker{b}, b)
	})
	t.Run("Binary", func(t *testing.T) {
		b := open(t)
		binaryData(t, b, b)
	})
	t.Run("MaxMessage", func(t *testing.T) { maxMessage(t, open(t)) })
	t.Run("CloseSubscription", func(t *testing.T) { closeSubscription(t, open(t)) })
	t.Run("CancelSubscription", func(t *testing.T) { cancelSubscription(t, open(t)) })
	t.Run("StuckSubscriber", func(t *testing.T) { stuckSubscriber(t, open(t)) })
	t.Run("Close", func(t *testing.T) { closeBroker(t, open(t)) })
}

// RunShared runs the cases that need two instances of a Broker on one
// backend, as two processes of a service would have; newPair returns them,
// new for each case. The suite closes both when the case ends.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b broker.Broker)) {
	open := func(t *testing.T) (broker.Broker, broker.Broker) {
		a, b := newPair(t)
		t.Cleanup(func() {
			a.Close()
			b.Close()
		})
		return a, b
	}
	t.Run("AcrossInstances", func(t *testing.T) {
		a, b := open(t)
		fanout(t, a, b)
		fanout(t, b, a)
	})
	t.Run("Order", func(t *testing.T) {
		a, b := open(t)
		order(t, a, b)
	})
	t.Run("Binary", func(t *testing.T) {
		a, b := open(t)
		binaryData(t, a, b)
	})
	t.Run("ConcurrentPublishers", func(t *testing.T) {
		a, b := open(t)
		concurrent(t, []broker.Broker{a, b}, b)
	})
	t.Run("CloseOne", func(t *testing.T) {
		a, b := open(t)
		closeOne(t, a, b)
	})
	t.Run("Latency", func(t *testing.T) {
		a, b := open(t)
		latency(t, a, b)
	})
}

// topic returns a topic no other case, run or process uses.
func topic(t *testing.T, name string) string {
	t.Helper()
	var r [8]byte
	rand.Read(r[:])
	return name + ":" + hex.EncodeToString(r[:])
}

func subscribe(t *testing.T, b broker.Broker, topic string) broker.Subscription {
	t.Helper()
	s, err := b.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	t.Cleanup(s.Close)
	return s
}

func publish(t *testing.T, b broker.Broker, topic string, data []byte) {
	t.Helper()
	if err := b.Publish(t.Context(), topic, data); err != nil {
		t.Fatalf("Publish(%q, %d bytes): %v", topic, len(data), err)
	}
}

// receive returns s's next message, failing the test if none comes within
// Timeout or the channel closes.
func receive(t *testing.T, s broker.Subscription, what string) []byte {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatalf("%s: the subscription ended", what)
		}
		return m
	case <-time.After(Timeout):
		t.Fatalf("%s: no message within %v", what, Timeout)
	}
	return nil
}

// expect fails the test unless s's next message is want.
func expect(t *testing.T, s broker.Subscription, what string, want []byte) {
	t.Helper()
	if got := receive(t, s, what); !bytes.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// ended fails the test unless s's channel closes within Timeout; messages
// still buffered are read and counted.
func ended(t *testing.T, s broker.Subscription, what string) int {
	t.Helper()
	deadline := time.After(Timeout)
	n := 0
	for {
		select {
		case _, ok := <-s.C():
			if !ok {
				return n
			}
			n++
		case <-deadline:
			t.Fatalf("%s: the channel is still open after %v", what, Timeout)
		}
	}
}

// fanout: a message published on pub reaches every subscriber of its topic
// on sub, and none of another topic's. Whether a subscriber saw a message
// it should not have is told by the next one it gets: it must be the one
// published on its own topic afterwards.
func fanout(t *testing.T, pub, sub broker.Broker) {
	ta, tb := topic(t, "a"), topic(t, "b")
	a1, a2 := subscribe(t, sub, ta), subscribe(t, sub, ta)
	b1 := subscribe(t, sub, tb)

	publish(t, pub, ta, []byte("to a"))
	expect(t, a1, "first subscriber of a", []byte("to a"))
	expect(t, a2, "second subscriber of a", []byte("to a"))

	publish(t, pub, tb, []byte("to b"))
	expect(t, b1, "subscriber of b", []byte("to b"))
	publish(t, pub, ta, []byte("to a again"))
	expect(t, a1, "first subscriber of a", []byte("to a again"))
	expect(t, a2, "second subscriber of a", []byte("to a again"))

	for _, s := range []broker.Subscription{a1, a2, b1} {
		if n := s.Dropped(); n != 0 {
			t.Errorf("Dropped = %d, want 0", n)
		}
	}
}

// order: 1000 messages from one publisher arrive in the order published.
// At most inFlight are unreceived at a time, so none is dropped.
func order(t *testing.T, pub, sub broker.Broker) {
	const n = 1000
	tp := topic(t, "order")
	s := subscribe(t, sub, tp)
	received := make(chan struct{}, inFlight)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for i := range n {
			select {
			case received <- struct{}{}:
			case <-time.After(Timeout):
				errc <- errors.New("the subscriber stopped receiving")
				return
			}
			if err := pub.Publish(context.Background(), tp, seq(0, i)); err != nil {
				errc <- err
				return
			}
		}
	}()
	for i := range n {
		got := receive(t, s, "ordered messages")
		if !bytes.Equal(got, seq(0, i)) {
			t.Fatalf("message %d is %x, want %x", i, got, seq(0, i))
		}
		<-received
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if d := s.Dropped(); d != 0 {
		t.Errorf("Dropped = %d, want 0", d)
	}
}

// seq is message i of publisher p.
func seq(p, i int) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(p)), uint32(i))
}

// concurrent: 8 goroutines publishing at once, taking turns among pubs,
// all have every message delivered, each goroutine's in its order.
func concurrent(t *testing.T, pubs []broker.Broker, sub broker.Broker) {
	const publishers, each = 8, 200
	tp := topic(t, "concurrent")
	s := subscribe(t, sub, tp)
	slots := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	errc := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			b := pubs[p%len(pubs)]
			for i := range each {
				select {
				case slots <- struct{}{}:
				case <-time.After(Timeout):
					errc <- errors.New("the subscriber stopped receiving")
					return
				}
				if err := b.Publish(context.Background(), tp, seq(p, i)); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	next := make([]int, publishers)
	for range publishers * each {
		m := receive(t, s, "concurrently published messages")
		if len(m) != 8 {
			t.Fatalf("unexpected message %x", m)
		}
		p, i := int(binary.BigEndian.Uint32(m)), int(binary.BigEndian.Uint32(m[4:]))
		if p >= publishers || i != next[p] {
			t.Fatalf("got message %d of publisher %d, want %d", i, p, next[p])
		}
		next[p]++
		<-slots
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if d := s.Dropped(); d != 0 {
		t.Errorf("Dropped = %d, want 0", d)
	}
}

// binaryData: messages of any bytes, including none, arrive unchanged.
func binaryData(t *testing.T, pub, sub broker.Broker) {
	tp := topic(t, "binary")
	s := subscribe(t, sub, tp)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	rev := slices.Clone(all)
	slices.Reverse(rev)
	msgs := [][]byte{all, {}, {0}, rev, []byte("\x00\n\r\"'\\ é\xff")}
	for _, m := range msgs {
		publish(t, pub, tp, m)
	}
	for _, m := range msgs {
		expect(t, s, "binary message", m)
	}
}

func maxMessage(t *testing.T, b broker.Broker) {
	tp := topic(t, "max")
	s := subscribe(t, b, tp)
	big := make([]byte, broker.MaxMessage)
	rand.Read(big)
	publish(t, b, tp, big)
	expect(t, s, "a message of MaxMessage bytes", big)

	err := b.Publish(t.Context(), tp, make([]byte, broker.MaxMessage+1))
	if !errors.Is(err, broker.ErrTooLarge) {
		t.Fatalf("Publish of MaxMessage+1 bytes: %v, want ErrTooLarge", err)
	}
	// The refused message went nowhere: the next one is the next received.
	publish(t, b, tp, []byte("after"))
	expect(t, s, "the message after the refused one", []byte("after"))
}

// closeSubscription: a closed Subscription's channel closes and gets
// nothing published afterwards, while the topic's other subscribers still
// do.
func closeSubscription(t *testing.T, b broker.Broker) {
	tp := topic(t, "close")
	gone, stays := subscribe(t, b, tp), subscribe(t, b, tp)
	publish(t, b, tp, []byte("before"))
	expect(t, gone, "the subscription to close", []byte("before"))
	gone.Close()
	if n := ended(t, gone, "a closed subscription"); n != 0 {
		t.Errorf("a closed subscription delivered %d more messages", n)
	}
	gone.Close() // a second Close does nothing
	publish(t, b, tp, []byte("after"))
	expect(t, stays, "the other subscriber", []byte("before"))
	expect(t, stays, "the other subscriber", []byte("after"))
	select {
	case m, ok := <-gone.C():
		if ok {
			t.Fatalf("a closed subscription delivered %q", m)
		}
	default:
		t.Fatal("a closed subscription's channel reopened")
	}
}

// cancelSubscription: a Subscription whose context is done ends like a
// closed one.
func cancelSubscription(t *testing.T, b broker.Broker) {
	tp := topic(t, "cancel")
	ctx, cancel := context.WithCancel(t.Context())
	gone, err := b.Subscribe(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	stays := subscribe(t, b, tp)
	publish(t, b, tp, []byte("before"))
	expect(t, gone, "the subscription to cancel", []byte("before"))
	cancel()
	if n := ended(t, gone, "a cancelled subscription"); n != 0 {
		t.Errorf("a cancelled subscription delivered %d more messages", n)
	}
	publish(t, b, tp, []byte("after"))
	expect(t, stays, "the other subscriber", []byte("before"))
	expect(t, stays, "the other subscriber", []byte("after"))
	gone.Close() // Close after the context ended it does nothing
}

// stuckSubscriber: a subscriber that never reads does not hold Publish
// up; what its buffer cannot take is counted in Dropped, and a subscriber
// of another topic is served meanwhile.
func stuckSubscriber(t *testing.T, b broker.Broker) {
	const n = 10_000
	tp, other := topic(t, "stuck"), topic(t, "other")
	stuck := subscribe(t, b, tp)
	reader := subscribe(t, b, other)
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := b.Publish(context.Background(), tp, seq(0, i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(Timeout):
		t.Fatalf("%d Publishes to a subscriber that does not read did not finish within %v", n, Timeout)
	}

	publish(t, b, other, []byte("meanwhile"))
	expect(t, reader, "a subscriber of another topic", []byte("meanwhile"))

	deadline := time.Now().Add(Timeout)
	for stuck.Dropped() == 0 || len(stuck.C()) < broker.Buffer {
		if time.Now().After(deadline) {
			t.Fatalf("after %d messages to a subscriber that does not read, %d are buffered and Dropped = %d", n, len(stuck.C()), stuck.Dropped())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The buffer holds the first messages, in order.
	for i := range broker.Buffer {
		expect(t, stuck, "the stuck subscriber's buffer", seq(0, i))
	}
	t.Logf("buffered %d, Dropped = %d", broker.Buffer, stuck.Dropped())
}

// closeBroker: Close ends every subscription and makes Publish and
// Subscribe return ErrClosed.
func closeBroker(t *testing.T, b broker.Broker) {
	ta, tb := topic(t, "a"), topic(t, "b")
	subs := []broker.Subscription{subscribe(t, b, ta), subscribe(t, b, ta), subscribe(t, b, tb)}
	publish(t, b, ta, []byte("before"))
	expect(t, subs[0], "a subscriber before Close", []byte("before"))
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, s := range subs {
		ended(t, s, "a subscription of a closed Broker")
		s.Close()
	}
	if err := b.Publish(t.Context(), ta, []byte("after")); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if s, err := b.Subscribe(t.Context(), ta); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
		if s != nil {
			s.Close()
		}
	}
	if err := b.Close(); err != nil && !errors.Is(err, broker.ErrClosed) {
		t.Errorf("a second Close: %v", err)
	}
}

// closeOne: closing one instance leaves the other publishing and
// receiving.
func closeOne(t *testing.T, a, b broker.Broker) {
	tp := topic(t, "closeone")
	sa, sb := subscribe(t, a, tp), subscribe(t, b, tp)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ended(t, sa, "a subscription of the closed instance")
	publish(t, b, tp, []byte("still here"))
	expect(t, sb, "the open instance's subscriber", []byte("still here"))
}

// latency: the time from Publish on pub to the message's arrival on sub,
// one message at a time, is logged as its median and 99th percentile over
// 1000 messages. The 99th percentile must be under a second, what a live
// progress bar can bear.
func latency(t *testing.T, pub, sub broker.Broker) {
	const n = 1000
	tp := topic(t, "latency")
	s := subscribe(t, sub, tp)
	d := make([]time.Duration, n)
	for i := range n {
		start := time.Now()
		publish(t, pub, tp, seq(0, i))
		expect(t, s, "timed messages", seq(0, i))
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	p50, p99 := d[n/2], d[n*99/100]
	t.Logf("publish → deliver across instances, %d messages: p50 %v, p99 %v, max %v", n, p50, p99, d[n-1])
	if p99 > time.Second {
		t.Errorf("p99 latency %v, want under 1s", p99)
	}
}
