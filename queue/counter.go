package queue

import (
	"context"
	"slices"
)

// Counter is a Queue that counts its jobs by kind and state, for metrics
// and dashboards. It is optional: discover it by type assertion. Both
// Memory and package riverqueue's Queue implement it.
type Counter interface {
	// Counts returns how many jobs are in each state, by kind. It reports
	// every kind with a handler in every State, zeros included, so that a
	// series does not vanish when its jobs are done; kinds without a
	// handler appear only when they have jobs. Completed jobs are not
	// counted. It should be cheap enough to call at every scrape, and
	// returns ctx's error when ctx ends first.
	Counts(ctx context.Context) ([]KindCount, error)
}

// State is where a job stands in its queue.
type State string

// The states that Counts reports.
const (
	StateAvailable State = "available" // waiting for a free worker
	StateScheduled State = "scheduled" // held until its RunAt
	StateRunning   State = "running"   // a handler has it
	StateRetryable State = "retryable" // failed, waiting for its Backoff
	StateDead      State = "dead"      // will not run again (see Queue.Dead)
)

// States lists every State, in the order of a job's life.
var States = []State{StateAvailable, StateScheduled, StateRunning, StateRetryable, StateDead}

// KindCount is the number of jobs of one kind in one state.
type KindCount struct {
	Kind  string
	State State
	Jobs  int
}

// CountsOf returns n as KindCounts, with a zero for every state of every
// kind in kinds that n lacks, ordered by kind, then by state as in States.
// It is for implementations of Counter.
func CountsOf(kinds []string, n map[string]map[State]int) []KindCount {
	all := map[string]bool{}
	for _, k := range kinds {
		all[k] = true
	}
	for k := range n {
		all[k] = true
	}
	sorted := make([]string, 0, len(all))
	for k := range all {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	out := make([]KindCount, 0, len(sorted)*len(States))
	for _, k := range sorted {
		for _, s := range States {
			out = append(out, KindCount{Kind: k, State: s, Jobs: n[k][s]})
		}
	}
	return out
}

// add counts one more job of kind in state s.
func add(n map[string]map[State]int, kind string, s State, jobs int) {
	if n[kind] == nil {
		n[kind] = map[State]int{}
	}
	n[kind][s] += jobs
}
