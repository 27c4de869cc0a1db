package balance

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// methods returns one balancer of each method over ss, for the tests and
// benchmarks that treat them alike.
func methods(ss []*upstream.Server) []struct {
	name string
	b    Balancer
} {
	return []struct {
		name string
		b    Balancer
	}{
		{"round_robin", NewRoundRobin(ss)},
		{"least_conn", NewLeastConn(ss)},
		{"random", NewRandom(ss, false, nil)},
		{"random_two", NewRandom(ss, true, nil)},
		{"ip_hash", NewIPHash(ss)},
		{"hash", NewHash(ss, false)},
		{"hash_consistent", NewHash(ss, true)},
	}
}

// TestConcurrentPicks runs picks from many goroutines while servers go
// down and come back and requests begin and end, for the race detector
// (go test -race) to check, and checks that no pick breaks the contract.
func TestConcurrentPicks(t *testing.T) {
	ss := newServers(3, 1, 2, 1)
	for _, m := range methods(ss) {
		t.Run(m.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 500 {
						req := &Request{
							ClientIP: netip.AddrFrom4([4]byte{10, byte(g), byte(i), 1}),
							Key:      fmt.Sprint("key-", g, "-", i%37),
						}
						s := m.b.Pick(req, skipDown)
						if s == nil {
							continue // every server may be down for a moment
						}
						s.Begin()
						s.End()
						if g == 0 && i%50 == 0 {
							// One goroutine flips a server, as health checks do.
							ss[1].SetDown(!ss[1].Down())
						}
					}
				})
			}
			wg.Wait()
			ss[1].SetDown(false)
			for i, s := range ss {
				if a := s.Active(); a != 0 {
					t.Errorf("server %d: %d active after all requests ended", i, a)
				}
			}
		})
	}
}
