package balance

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// newServers returns servers with the given weights, named like nginx
// `server` arguments ("10.0.0.1:80", ...) so the ketama ring has
// realistic input.
func newServers(weights ...int) []*upstream.Server {
	ss := make([]*upstream.Server, len(weights))
	for i, w := range weights {
		addr := fmt.Sprintf("10.0.0.%d:80", i+1)
		ss[i] = &upstream.Server{ID: upstream.IDFor(addr, ""), Name: addr, Addr: addr, Weight: w}
	}
	return ss
}

// skipDown excludes the servers marked down, the way the proxy's skip
// excludes unavailable ones.
func skipDown(s *upstream.Server) bool { return s.Down() }

// skipAll excludes every server.
func skipAll(*upstream.Server) bool { return true }

// indexOf returns s's position in ss, or -1 (also for nil), so tests can
// compare picks as small integers.
func indexOf(ss []*upstream.Server, s *upstream.Server) int {
	for i := range ss {
		if ss[i] == s {
			return i
		}
	}
	return -1
}

// letters renders a sequence of picks as "aabacaa", the notation nginx's
// documentation and commit messages use for round-robin sequences.
func letters(ss []*upstream.Server, picks []*upstream.Server) string {
	var b strings.Builder
	for _, s := range picks {
		if i := indexOf(ss, s); i >= 0 {
			b.WriteByte(byte('a' + i))
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// pickN returns n successive picks.
func pickN(b Balancer, r *Request, skip func(*upstream.Server) bool, n int) []*upstream.Server {
	picks := make([]*upstream.Server, n)
	for i := range picks {
		picks[i] = b.Pick(r, skip)
	}
	return picks
}

// counts returns how often each server was picked, by index; nil picks
// are counted at index len(ss).
func counts(ss []*upstream.Server, picks []*upstream.Server) []int {
	c := make([]int, len(ss)+1)
	for _, s := range picks {
		if i := indexOf(ss, s); i >= 0 {
			c[i]++
		} else {
			c[len(ss)]++
		}
	}
	return c
}

// TestNoServers checks that every method copes with an empty upstream and
// with a skip that excludes everything, returning nil rather than
// panicking, since the caller then moves on to the backup servers.
func TestNoServers(t *testing.T) {
	req := &Request{Key: "k"}
	for _, tc := range []struct {
		name string
		new  func([]*upstream.Server) Balancer
	}{
		{"round_robin", func(ss []*upstream.Server) Balancer { return NewRoundRobin(ss) }},
		{"least_conn", func(ss []*upstream.Server) Balancer { return NewLeastConn(ss) }},
		{"random", func(ss []*upstream.Server) Balancer { return NewRandom(ss, false, nil) }},
		{"random_two", func(ss []*upstream.Server) Balancer { return NewRandom(ss, true, nil) }},
		{"ip_hash", func(ss []*upstream.Server) Balancer { return NewIPHash(ss) }},
		{"hash", func(ss []*upstream.Server) Balancer { return NewHash(ss, false) }},
		{"hash_consistent", func(ss []*upstream.Server) Balancer { return NewHash(ss, true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := tc.new(nil).Pick(req, nil); s != nil {
				t.Errorf("empty upstream: Pick = %s, want nil", s.Name)
			}
			for _, n := range []int{1, 2, 5} {
				ss := newServers(make([]int, n)...) // weight 0 counts as 1
				if s := tc.new(ss).Pick(req, skipAll); s != nil {
					t.Errorf("%d servers all skipped: Pick = %s, want nil", n, s.Name)
				}
				if s := tc.new(ss).Pick(req, nil); s == nil {
					t.Errorf("%d servers, nil skip: Pick = nil, want a server", n)
				}
			}
		})
	}
}

// TestPickDoesNotAllocate keeps the hot path free of garbage: Pick runs
// for every request, and for every retry.
func TestPickDoesNotAllocate(t *testing.T) {
	req := &Request{ClientIP: netip.MustParseAddr("2001:db8::7"), Key: strings.Repeat("long-key/", 20)}
	ss := newServers(1, 2, 3, 1, 2)
	ss[2].SetDown(true) // exercise the retry paths too
	for _, m := range methods(ss) {
		if n := testing.AllocsPerRun(100, func() { m.b.Pick(req, skipDown) }); n != 0 {
			t.Errorf("%s: %v allocations per Pick, want 0", m.name, n)
		}
	}
}
