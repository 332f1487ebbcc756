//go:build race

package transform

// raceEnabled is whether the race detector is on: it makes the program
// allocate more, so tests that count allocations skip.
const raceEnabled = true
