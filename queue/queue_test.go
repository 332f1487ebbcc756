package queue_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/queue"
)

func TestDefaultBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{5, 16 * time.Second},
		{12, 2048 * time.Second},
		{13, time.Hour},
		{1000, time.Hour},
	} {
		for range 50 {
			d := queue.DefaultBackoff(tc.attempt)
			lo := time.Duration(float64(tc.base) * 0.9)
			hi := min(time.Duration(float64(tc.base)*1.1), time.Hour)
			if d < lo || d > hi {
				t.Fatalf("DefaultBackoff(%d) = %v, want within [%v, %v]", tc.attempt, d, lo, hi)
			}
		}
	}
}

func TestCancel(t *testing.T) {
	cause := errors.New("bad input")
	err := fmt.Errorf("scanning: %w", queue.Cancel(cause))
	if !queue.IsCancel(err) || !errors.Is(err, cause) {
		t.Errorf("IsCancel %v, errors.Is %v; want both", queue.IsCancel(err), errors.Is(err, cause))
	}
	if queue.IsCancel(cause) {
		t.Error("IsCancel of a plain error")
	}
	if err.Error() != "scanning: bad input" {
		t.Errorf("text %q", err)
	}
}

func TestWithDefaults(t *testing.T) {
	j, err := queue.Job{Kind: "k"}.WithDefaults()
	if err != nil || j.Priority != queue.DefaultPriority || j.MaxAttempts != queue.DefaultMaxAttempts {
		t.Errorf("WithDefaults = %+v, %v", j, err)
	}
}
