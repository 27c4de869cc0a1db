package balance

import (
	"math/rand/v2"
	"slices"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// Random is nginx's random method (ngx_http_upstream_random_module): a
// server is drawn with probability weight/total, and a draw that lands on
// a server skip excludes is drawn again, so among the usable servers each
// still wins in proportion to its weight. With two set it is
// `random two least_conn`: two distinct usable servers are drawn and the
// one with fewer active requests per unit of weight wins, which avoids the
// herd that plain least_conn sends to a just-started server when several
// balancers share the servers.
//
// After 21 fruitless draws (nginx's `++tries > 20`) it falls back to
// round-robin, so a mostly-down upstream still finds its live servers.
type Random struct {
	rr  *RoundRobin // servers, weights, and the fallback
	two bool
	rnd func(n int) int
	// ends[i] is the sum of the weights of servers 0..i, so a draw x in
	// [0, total) belongs to the first server whose end exceeds x.
	ends []int
}

var _ Balancer = (*Random)(nil)

// NewRandom returns a weighted random balancer over servers, which must
// not change for the balancer's lifetime. With two, it draws two servers
// and keeps the less loaded (nginx's `random two least_conn`). rnd returns
// a number in [0, n) and must be safe for concurrent use; nil means
// math/rand/v2's IntN. A weight below 1 counts as 1.
func NewRandom(servers []*upstream.Server, two bool, rnd func(n int) int) *Random {
	if rnd == nil {
		rnd = rand.IntN
	}
	r := &Random{rr: NewRoundRobin(servers), two: two, rnd: rnd, ends: make([]int, len(servers))}
	end := 0
	for i, w := range r.rr.weights {
		end += int(w)
		r.ends[i] = end
	}
	return r
}

// Pick returns a random server skip does not exclude, or nil when skip
// excludes them all. The request is not looked at. skip may be called
// with the fallback's lock held, so it must be cheap and must not call
// back into the balancer.
func (r *Random) Pick(_ *Request, skip func(*upstream.Server) bool) *upstream.Server {
	if skip == nil {
		skip = skipNone
	}
	servers := r.rr.servers
	// As nginx: with fewer than two servers there is nothing to draw.
	if len(servers) < 2 {
		return r.rr.Pick(nil, skip)
	}
	if r.two {
		return r.pickTwo(skip)
	}
	for tries := 0; ; {
		s := servers[r.draw()]
		if !skip(s) {
			return s
		}
		if tries++; tries > maxTries {
			return r.rr.Pick(nil, skip)
		}
	}
}

// pickTwo is ngx_http_upstream_get_random2_peer: draw until two distinct
// usable servers are found, then keep the second unless it has more
// active requests per unit of weight than the first. Every draw, the one
// that found the first server included, counts as a try.
func (r *Random) pickTwo(skip func(*upstream.Server) bool) *upstream.Server {
	servers, weights := r.rr.servers, r.rr.weights
	first := -1
	for tries := 0; ; {
		i := r.draw()
		if i != first && !skip(servers[i]) {
			if first >= 0 {
				// Compared by cross multiplication, as nginx does.
				if servers[i].Active()*weights[first] > servers[first].Active()*weights[i] {
					return servers[first]
				}
				return servers[i]
			}
			first = i
		}
		if tries++; tries > maxTries {
			return r.rr.Pick(nil, skip)
		}
	}
}

// draw returns the index of a server drawn with probability weight/total,
// as ngx_http_upstream_peek_random_peer does.
func (r *Random) draw() int {
	x := r.rnd(int(r.rr.total))
	// The first server whose end exceeds x: BinarySearch finds the first
	// end >= x+1.
	i, _ := slices.BinarySearch(r.ends, x+1)
	return min(i, len(r.ends)-1) // an out-of-range rnd must not index past the end
}
