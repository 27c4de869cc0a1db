//go:build race

package h1

// raceEnabled tells tests that count allocations that the race detector
// adds its own.
const raceEnabled = true
