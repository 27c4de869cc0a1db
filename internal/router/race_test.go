//go:build race

package router

// raceEnabled is set under -race, where sync.Pool (which regexp uses for
// its matchers) drops items at random, so allocation counts are not
// meaningful.
const raceEnabled = true
