package redisbroker

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/broker/brokertest"
	"github.com/carcosa-dev/carcosa/internal/testenv"
)

// redisURL returns the test Redis's URL (testenv.Redis).
func redisURL(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, testenv.Redis, "a Redis URL, e.g. redis://127.0.0.1:6379/0")
}

// prefix returns a prefix of the test's own, so that test runs sharing the
// Redis do not hear each other.
func prefix() string {
	var r [6]byte
	rand.Read(r[:])
	return "carcosa:test:" + hex.EncodeToString(r[:]) + ":"
}

func open(t *testing.T, url, prefix string) *Broker {
	t.Helper()
	b, err := Open(t.Context(), url, &Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	u := redisURL(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker { return open(t, u, prefix()) })
}

func TestShared(t *testing.T) {
	u := redisURL(t)
	brokertest.RunShared(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		p := prefix()
		return open(t, u, p), open(t, u, p)
	})
}

// TestSharedClient runs the shared cases with two Brokers on one client,
// which Close leaves open.
func TestSharedClient(t *testing.T) {
	o, err := redis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(o)
	defer client.Close()
	brokertest.RunShared(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		p := prefix()
		a, err := New(t.Context(), client, &Options{Prefix: p})
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(t.Context(), client, &Options{Prefix: p})
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		return a, b
	})
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Errorf("the client after its Brokers closed: %v", err)
	}
}

// TestReconnect kills the subscribing connections and sees delivery
// resume on new ones.
func TestReconnect(t *testing.T) {
	u, p := redisURL(t), prefix()
	pub, sub := open(t, u, p), open(t, u, p)
	s, err := sub.Subscribe(t.Context(), "upload:1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	killed, err := pub.client.Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Int()
	if err != nil || killed == 0 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d killed, %v", killed, err)
	}
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(brokertest.Timeout)
	for i := 0; ; {
		select {
		case m := <-s.C():
			if !strings.HasPrefix(string(m), "after ") {
				t.Fatalf("unexpected message %q", m)
			}
			t.Logf("delivery resumed %v after the connections were killed, message %q", time.Since(start).Round(time.Millisecond), m)
			return
		case <-tick.C:
			i++
			if err := pub.Publish(t.Context(), "upload:1", []byte("after "+strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("no delivery within %v of killing the subscribing connections", brokertest.Timeout)
		}
	}
}

func TestOptions(t *testing.T) {
	u := redisURL(t)
	for _, p := range []string{"a*", "a?", "[a]", `a\`} {
		if b, err := Open(t.Context(), u, &Options{Prefix: p}); err == nil {
			b.Close()
			t.Errorf("Open with prefix %q succeeded", p)
		}
	}
	if _, err := New(t.Context(), nil, nil); err == nil {
		t.Error("New with a nil client succeeded")
	}
	_, err := Open(t.Context(), "redis://user:secret@host:bad/0", nil)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open with a malformed URL: %v", err)
	}
}
