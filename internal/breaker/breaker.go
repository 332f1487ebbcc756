// Package breaker puts circuit breakers (github.com/sony/gobreaker/v2) in
// front of Carcosa's dependencies: the malware scanner and each bucket.
//
// After Settings.Failures failures in a row a breaker opens: calls fail at
// once, without reaching the dependency, for Settings.OpenFor. Then it is
// half-open: Settings.HalfOpenProbes calls go through as probes (others
// still fail at once); if they succeed it closes, and if one fails it opens
// again. Only the dependency's own failures count: an answer such as "not
// found", a caller that gave up (its context done) and a caller whose own
// stream failed count neither way.
package breaker

import (
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Settings configure a breaker. Zero fields take the defaults.
type Settings struct {
	Failures       uint32        // failures in a row that open it; defaults to 5
	OpenFor        time.Duration // how long it stays open; defaults to 30s
	HalfOpenProbes uint32        // calls let through while half-open; defaults to 1
}

// State is a breaker's state, as carcosa_breaker_state shows it.
type State int

const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "closed"
}

// ErrOpen is matched by the error of a call refused because the breaker is
// open (or half-open, with its probes already under way).
var ErrOpen = errors.New("circuit breaker open")

// Result is how a call went, for the breaker.
type Result int

const (
	Success  Result = iota // the dependency answered
	Failure                // the dependency failed or timed out
	Excluded               // the call says nothing of the dependency
)

// errFailure and errExcluded carry a Result through gobreaker's done.
var (
	errFailure  = errors.New("failure")
	errExcluded = errors.New("excluded")
)

// Breaker guards one dependency. A nil *Breaker lets every call through
// and is always closed.
type Breaker struct {
	name string
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// New returns the breaker of dependency name; onChange, if not nil, is told
// of each change of state. It must return quickly and not call the breaker.
func New(name string, s Settings, onChange func(name string, from, to State)) *Breaker {
	if s.Failures == 0 {
		s.Failures = 5
	}
	if s.OpenFor == 0 {
		s.OpenFor = 30 * time.Second
	}
	failures := s.Failures
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: s.HalfOpenProbes, // 0 is gobreaker's 1
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return err == errExcluded },
	}
	if onChange != nil {
		st.OnStateChange = func(name string, from, to gobreaker.State) {
			onChange(name, state(from), state(to))
		}
	}
	return &Breaker{name: name, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st)}
}

func state(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}

// Name is the dependency's name.
func (b *Breaker) Name() string {
	if b == nil {
		return ""
	}
	return b.name
}

// State returns the breaker's state now: an open breaker whose OpenFor has
// passed is half-open.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	return state(b.cb.State())
}

// Allow asks to make one call. It returns an error matching ErrOpen when
// the call must not be made; otherwise the caller makes it and then calls
// done, once, with how it went.
func (b *Breaker) Allow() (done func(Result), err error) {
	if b == nil {
		return func(Result) {}, nil
	}
	d, err := b.cb.Allow()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name, ErrOpen)
	}
	return func(r Result) {
		switch r {
		case Success:
			d(nil)
		case Failure:
			d(errFailure)
		default:
			d(errExcluded)
		}
	}, nil
}
