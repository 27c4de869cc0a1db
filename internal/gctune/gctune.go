// Package gctune sets the garbage collector's target from the live heap,
// so that a proxy with a small heap collects rarely and one whose heap
// grew (many connections open) does not keep several times its live
// memory in garbage.
//
// Go's GOGC is a ratio: the heap may grow by GOGC% of the live heap before
// the next collection. A proxy's garbage is per request and its live heap
// is small, so Go's default 100 makes it collect often for little memory;
// a larger ratio saves that CPU, but multiplies whatever the live heap
// becomes: 10,000 idle connections, a few KiB each, would then hold five
// times their memory. Tune fixes the headroom instead: after each
// collection the ratio is set so that the heap may grow by Headroom, and
// kept between MinPercent and MaxPercent.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

const (
	// Headroom is how much garbage the heap may gather between two
	// collections, when the ratio bounds allow.
	Headroom = 16 << 20
	// MinPercent is the lowest ratio: Go's default, for large heaps.
	MinPercent = 100
	// MaxPercent is the highest ratio, for small heaps.
	MaxPercent = 400
)

// Percent is the ratio that gives live bytes of live heap Headroom bytes
// of growth, within [MinPercent, MaxPercent].
func Percent(live uint64) int {
	if live == 0 {
		return MaxPercent
	}
	p := uint64(Headroom) * 100 / live
	return int(min(max(p, MinPercent), MaxPercent))
}

// Start sets the ratio now and after every collection from then on. It
// costs nothing between collections: it runs as a cleanup of an object
// that each collection frees.
func Start() {
	tune()
	arm()
}

// arm allocates the sentinel whose cleanup, run after the next collection
// finds it unreachable, tunes the ratio and arms the next one.
func arm() {
	s := new(sentinel)
	runtime.AddCleanup(s, func(struct{}) {
		tune()
		arm()
	}, struct{}{})
}

// sentinel is a heap object of its own: AddCleanup needs one that is not
// a tiny allocation shared with others.
type sentinel struct{ _ [16]byte }

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// tune sets the ratio from the live heap the last collection found.
func tune() {
	s := make([]metrics.Sample, 1)
	copy(s, liveSample)
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	debug.SetGCPercent(Percent(s[0].Value.Uint64()))
}
