package upstream

import (
	"fmt"
	"testing"
)

// BenchmarkPoolLookup measures the cookie's server lookup (Lookup, a map
// by ID) beside a linear scan of the servers' IDs, the alternative for
// small pools: a returning user's request makes one. The key is a copy,
// as a Cookie header's value is another string than the server's ID.
func BenchmarkPoolLookup(b *testing.B) {
	for _, n := range []int{2, 4, 8, 32} {
		var servers []*Server
		for i := range n {
			addr := fmt.Sprintf("127.0.0.1:%d", 9000+i)
			servers = append(servers, &Server{ID: IDFor(addr, ""), Addr: addr})
		}
		p := NewPool("backend", servers)
		key := string([]byte(servers[n-1].ID)) // the last: the scan's worst case
		b.Run(fmt.Sprintf("servers=%d/map", n), func(b *testing.B) {
			for b.Loop() {
				if p.Lookup(key) == nil {
					b.Fatal("not found")
				}
			}
		})
		b.Run(fmt.Sprintf("servers=%d/scan", n), func(b *testing.B) {
			for b.Loop() {
				var found *Server
				for _, s := range p.Primary {
					if s.ID == key {
						found = s
						break
					}
				}
				if found == nil {
					b.Fatal("not found")
				}
			}
		})
	}
}
