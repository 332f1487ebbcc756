package pgbroker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/broker/brokertest"
	"github.com/carcosa-dev/carcosa/internal/testenv"
)

// dsn returns the test database's connection string (testenv.Postgres).
func dsn(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

// channel returns a channel of the test's own, so that test runs sharing
// the database do not hear each other.
func channel() string {
	var r [6]byte
	rand.Read(r[:])
	return "carcosa_test_" + hex.EncodeToString(r[:])
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func open(t *testing.T, dsn, channel string) *Broker {
	t.Helper()
	b, err := Open(t.Context(), dsn, &Options{Channel: channel, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	d := dsn(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker { return open(t, d, channel()) })
}

func TestShared(t *testing.T) {
	d := dsn(t)
	brokertest.RunShared(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		ch := channel()
		return open(t, d, ch), open(t, d, ch)
	})
}

// TestSharedPool runs the shared cases with two Brokers on one pool, which
// Close leaves open.
func TestSharedPool(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	brokertest.RunShared(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		ch := channel()
		a, err := New(t.Context(), pool, &Options{Channel: ch})
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(t.Context(), pool, &Options{Channel: ch})
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		return a, b
	})
	if err := pool.Ping(t.Context()); err != nil {
		t.Errorf("the pool after its Brokers closed: %v", err)
	}
}

// TestReconnect terminates the listening connection's backend and sees
// delivery resume on a new one.
func TestReconnect(t *testing.T) {
	d, ch := dsn(t), channel()
	pub, sub := open(t, d, ch), open(t, d, ch)
	s, err := sub.Subscribe(t.Context(), "upload:1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	old := sub.pid.Load()
	var ok bool
	if err := pub.pool.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", old).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v, %v", old, ok, err)
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
			if pid := sub.pid.Load(); pid == old || pid == 0 {
				t.Errorf("listening on backend %d, the terminated one was %d", pid, old)
			}
			t.Logf("delivery resumed %v after the backend was terminated, message %q", time.Since(start).Round(time.Millisecond), m)
			return
		case <-tick.C:
			i++
			if err := pub.Publish(t.Context(), "upload:1", []byte("after "+strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("no delivery within %v of terminating the listening backend", brokertest.Timeout)
		}
	}
}

// TestIdle lets the listening connection be pinged while idle and sees it
// kept, and delivering.
func TestIdle(t *testing.T) {
	d, ch := dsn(t), channel()
	defer func(d time.Duration) { pingAfter = d }(pingAfter)
	pingAfter = 20 * time.Millisecond
	pub, sub := open(t, d, ch), open(t, d, ch)
	pingAfter = 30 * time.Second
	s, err := sub.Subscribe(t.Context(), "upload:1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pid := sub.pid.Load()
	for i := range 3 {
		time.Sleep(10 * sub.ping)
		msg := []byte("after idling " + strconv.Itoa(i))
		if err := pub.Publish(t.Context(), "upload:1", msg); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-s.C():
			if string(m) != string(msg) {
				t.Fatalf("got %q, want %q", m, msg)
			}
		case <-time.After(brokertest.Timeout):
			t.Fatalf("no delivery after idling")
		}
	}
	if now := sub.pid.Load(); now != pid {
		t.Errorf("the listening connection changed from backend %d to %d while idle", pid, now)
	}
}

func TestTopicTooLong(t *testing.T) {
	b := open(t, dsn(t), channel())
	long := strings.Repeat("t", maxPayload)
	if err := b.Publish(t.Context(), long, []byte("x")); !errors.Is(err, broker.ErrTooLarge) {
		t.Fatalf("Publish with a topic of %d bytes: %v, want ErrTooLarge", len(long), err)
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []string{"Events", "1events", "carcosa-events", strings.Repeat("x", 64)} {
		if b, err := Open(t.Context(), "postgres://127.0.0.1:1/none", &Options{Channel: c}); err == nil {
			b.Close()
			t.Errorf("Open with channel %q succeeded", c)
		}
	}
	if _, err := New(t.Context(), nil, nil); err == nil {
		t.Error("New with a nil pool succeeded")
	}
}

func TestEncoding(t *testing.T) {
	for _, c := range []struct {
		topic string
		data  []byte
	}{
		{"upload:1", []byte("hello")},
		{"owner:t/o with spaces", []byte{0, 1, 255}},
		{"", nil},
		{"t", make([]byte, broker.MaxMessage)},
	} {
		p := encode(c.topic, c.data)
		topic, data, ok := decode(p)
		if !ok || topic != c.topic || string(data) != string(c.data) {
			t.Errorf("decode(encode(%q, %x)) = %q, %x, %v", c.topic, c.data, topic, data, ok)
		}
	}
	if p := encode(strings.Repeat("t", 2500), make([]byte, broker.MaxMessage)); len(p) > maxPayload {
		t.Errorf("a message of MaxMessage with a topic of 2500 bytes takes %d bytes, over %d", len(p), maxPayload)
	}
	for _, p := range []string{"", "nospace", "!!! topic"} {
		if _, _, ok := decode(p); ok {
			t.Errorf("decode(%q) succeeded", p)
		}
	}
}
