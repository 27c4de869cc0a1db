package balance

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkPick measures one Pick of each method on the hot path: a
// request with a client address and a key, and a skip that is a plain
// function, as the proxy passes. Pick must not allocate.
func BenchmarkPick(b *testing.B) {
	req := &Request{
		ClientIP: netip.MustParseAddr("203.0.113.45"),
		Key:      "/catalog/item/1234567?session=0123456789abcdef0123456789abcdef",
	}
	for _, n := range []int{4, 100} {
		weights := make([]int, n)
		for i := range weights {
			weights[i] = 1 + i%3
		}
		for _, m := range methods(newServers(weights...)) {
			b.Run(fmt.Sprintf("%s/%d", m.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m.b.Pick(req, skipDown)
				}
			})
		}
	}
}

// BenchmarkPickParallel measures contention: every goroutine picks from
// the same balancer, as concurrent requests to one upstream do.
func BenchmarkPickParallel(b *testing.B) {
	req := &Request{ClientIP: netip.MustParseAddr("203.0.113.45"), Key: "/catalog/item/1234567"}
	for _, m := range methods(newServers(1, 2, 3, 1, 2, 3, 1, 2)) {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m.b.Pick(req, skipDown)
				}
			})
		})
	}
}

// BenchmarkNewHashConsistent measures building the ketama ring for 100
// servers, which happens once per configuration load.
func BenchmarkNewHashConsistent(b *testing.B) {
	ss := newServers(make([]int, 100)...)
	b.ReportAllocs()
	for b.Loop() {
		NewHash(ss, true)
	}
}
