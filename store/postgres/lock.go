package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/store"
)

var _ store.Locker = (*Store)(nil)

// Waiting for a lock: a waiter tries to take it again when its holder
// announces that it unlocked, and otherwise after a backoff growing from
// minLockBackoff to maxLockBackoff. It asks the holder to release the lock
// when it starts waiting, whenever the lock may have changed hands, and at
// least every lockRequestInterval.
const (
	minLockBackoff      = 5 * time.Millisecond
	maxLockBackoff      = 100 * time.Millisecond
	lockRequestInterval = time.Second
)

// The payloads of the notifications on a lock's channel.
const (
	releasePayload  = ""         // a waiter asks the holder to release the lock
	unlockedPayload = "unlocked" // the holder has unlocked
)

// lockChannelPrefix starts the name of every lock's notification channel.
const lockChannelPrefix = "carcosa_lock_"

// lockName returns the advisory lock key and the notification channel of
// the lock named key on s's table. Both are derived from the schema and
// table names as well as key, so that tables sharing a database do not
// share locks. The channel is a valid unquoted identifier of 45 bytes.
func (s *Store) lockName(key string) (id int64, channel string) {
	h := sha256.New()
	h.Write([]byte("github.com/carcosa-dev/carcosa/store/postgres.Lock"))
	// Schema and table names contain no NUL, so the encoding is unambiguous.
	for _, n := range []string{s.schema, s.name, key} {
		h.Write([]byte{0})
		h.Write([]byte(n))
	}
	sum := h.Sum(nil)
	return int64(binary.BigEndian.Uint64(sum)), lockChannelPrefix + hex.EncodeToString(sum[:16])
}

// Lock implements store.Locker with a session-level advisory lock of
// PostgreSQL, so that the lock is shared by every Store on the same table
// and database, in any process. Locks of different tables are apart. Stores
// must name the table the same way: a Store with Options.Schema set and one
// relying on the search_path do not see each other's locks.
//
// Lock takes a connection from a pool kept for locks (Options.MaxLocks)
// and keeps it, while waiting and then while the lock is held, until
// unlock returns it. When the connection breaks or its server
// session ends, the lock is freed: the lock of a process that dies is freed
// once PostgreSQL notices that its connection is gone.
//
// Waiting is bounded only by ctx; each statement sent is also bounded by
// Options.Timeout. A waiter asks the holder to release the lock through
// PostgreSQL's LISTEN and NOTIFY, on a channel derived from the lock's
// name. release is called, at most once and from another goroutine, when
// such a request arrives, or when the lock's connection breaks and the
// lock is therefore lost; release may call unlock. A nil release is
// allowed.
//
// unlock unlocks and returns the connection to the pool. If it cannot be
// sure that the connection no longer holds the lock, it closes the
// connection instead, which frees the lock, and returns an error. Calls
// after the first do nothing and return nil.
func (s *Store) Lock(ctx context.Context, key string, release func()) (unlock func() error, err error) {
	id, channel := s.lockName(key)
	actx, cancel := s.op(ctx)
	pool, err := s.lockPool()
	if err != nil {
		cancel()
		return nil, lockError(ctx, "open the lock pool", err)
	}
	conn, err := pool.Acquire(actx)
	cancel()
	if err != nil {
		return nil, lockError(ctx, "acquire connection", err)
	}
	c := conn.Conn()
	discardNotifications(c)
	clean, err := s.waitLock(ctx, c, id, channel)
	if err != nil {
		if clean {
			err = errors.Join(err, s.putConn(conn, id, channel, false))
		} else {
			destroy(conn)
		}
		return nil, err
	}

	watchCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		requested := watchLock(watchCtx, c, channel)
		// done is closed before release is called, so that release may
		// call unlock, which waits for done.
		close(done)
		if requested && release != nil {
			release()
		}
	}()
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			stop()
			<-done
			err = s.putConn(conn, id, channel, true)
		})
		return err
	}, nil
}

// waitLock listens on channel and tries to take lock id on c until it gets
// it or ctx is done. It returns whether c is known to be in its former
// state apart from listening on channel, which is the case when ctx ended
// between statements.
func (s *Store) waitLock(ctx context.Context, c *pgx.Conn, id int64, channel string) (clean bool, err error) {
	pid := c.PgConn().PID()
	if err := s.exec(ctx, c, `LISTEN `+channel); err != nil {
		return false, lockError(ctx, "listen", err)
	}
	backoff := minLockBackoff
	var requested time.Time // when this waiter last asked for a release
	ask := true
	for {
		ok, err := s.tryLock(ctx, c, id)
		if err != nil {
			// The lock may have been taken just before the statement
			// failed.
			return false, lockError(ctx, "try", err)
		}
		if ok {
			return true, nil
		}
		if ask || time.Since(requested) >= lockRequestInterval {
			if err := s.exec(ctx, c, `SELECT pg_notify($1, $2)`, channel, releasePayload); err != nil {
				return false, lockError(ctx, "request release", err)
			}
			requested, ask = time.Now(), false
		}
		unlocked, err := waitUnlocked(ctx, c, pid, channel, backoff)
		if err != nil {
			return ctx.Err() != nil && !c.IsClosed(), lockError(ctx, "wait", err)
		}
		if unlocked {
			// Ask again if someone else takes the lock first.
			ask, backoff = true, minLockBackoff
		} else {
			backoff = min(2*backoff, maxLockBackoff)
		}
	}
}

// tryLock tries to take lock id on c without waiting.
func (s *Store) tryLock(ctx context.Context, c *pgx.Conn, id int64) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var ok bool
	err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&ok)
	return ok, err
}

// exec runs sql on c, bounded by the store's timeout.
func (s *Store) exec(ctx context.Context, c *pgx.Conn, sql string, args ...any) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := c.Exec(ctx, sql, args...)
	return err
}

// waitUnlocked waits at most d for another session's announcement on
// channel that the lock was unlocked. It returns false, and no error, when
// d passes first.
func waitUnlocked(ctx context.Context, c *pgx.Conn, pid uint32, channel string, d time.Duration) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		n, err := c.WaitForNotification(wctx)
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil && !c.IsClosed() {
				return false, nil
			}
			return false, err
		}
		if n.Channel == channel && n.PID != pid && n.Payload == unlockedPayload {
			return true, nil
		}
	}
}

// watchLock waits on c, which holds a lock and listens on its channel,
// until ctx is cancelled, another session asks for a release, or c fails.
// It reports whether the holder should be asked to release the lock: for a
// request, or because the broken connection took the lock with it.
func watchLock(ctx context.Context, c *pgx.Conn, channel string) bool {
	pid := c.PgConn().PID()
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return ctx.Err() == nil
		}
		if n.Channel == channel && n.PID != pid && n.Payload == releasePayload {
			return true
		}
	}
}

// putConn stops listening on channel and, when held, unlocks lock id and
// announces it on channel; then it returns conn to the pool. If any of that
// fails, it closes conn instead, so that no connection in the pool holds a
// lock or listens, and returns the error.
func (s *Store) putConn(conn *pgxpool.Conn, id int64, channel string, held bool) error {
	// This runs after the caller's context has ended too.
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	c := conn.Conn()
	err := func() error {
		if _, err := c.Exec(ctx, `UNLISTEN `+channel); err != nil {
			return fmt.Errorf("unlisten: %w", err)
		}
		if !held {
			return nil
		}
		var ok bool
		if err := c.QueryRow(ctx, `SELECT pg_advisory_unlock($1), pg_notify($2, $3)`, id, channel, unlockedPayload).Scan(&ok, nil); err != nil {
			return err
		}
		if !ok {
			return errors.New("the lock was not held")
		}
		return nil
	}()
	if err != nil {
		destroy(conn)
		return fmt.Errorf("postgres: unlock: %w", err)
	}
	discardNotifications(c)
	conn.Release()
	return nil
}

// destroy closes conn and takes it out of its pool.
func destroy(conn *pgxpool.Conn) {
	c := conn.Hijack()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// Close closes the network connection even when it fails to say
	// goodbye to the server.
	_ = c.Close(ctx)
}

// discardNotifications drops the notifications c has received but not
// delivered, so that they cannot reach a later Lock on the same connection.
func discardNotifications(c *pgx.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// With ctx done, WaitForNotification only returns notifications
	// already received.
	for {
		if n, _ := c.WaitForNotification(ctx); n == nil {
			return
		}
	}
}

// lockError wraps err, or ctx's error when ctx is done.
func lockError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("postgres: lock: %w", ctx.Err())
	}
	return fmt.Errorf("postgres: lock: %s: %w", op, err)
}

// lockPool returns the pool of the locks' connections, made at the first
// call with the settings of the records' pool and MaxConns = maxLocks.
func (s *Store) lockPool() (*pgxpool.Pool, error) {
	s.locksOnce.Do(func() {
		cfg := s.pool.Config().Copy()
		cfg.MaxConns = s.maxLocks
		cfg.MinConns = 0
		s.locks, s.locksErr = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	if s.locks == nil && s.locksErr == nil {
		return nil, errors.New("the store is closed")
	}
	return s.locks, s.locksErr
}
