package balance

import (
	"slices"
	"sync"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// RoundRobin is nginx's smooth weighted round-robin, the default method of
// an upstream. Over any run of total-weight picks every server is chosen
// exactly as often as its weight says, and the picks of a heavy server are
// spread out instead of bunched: weights 5, 1, 1 give a a b a c a a.
//
// The other methods fall back to a RoundRobin over the same servers, as
// nginx's fall back to ngx_http_upstream_get_round_robin_peer, and share
// its current weights the way nginx's share peer->current_weight.
type RoundRobin struct {
	servers []*upstream.Server
	weights []int64 // Server.Weight, at least 1, read once so a bad value cannot divide by zero
	total   int64   // sum of weights

	// mu guards current. It is per balancer, so per upstream: picks for
	// different upstreams never contend, and within one upstream the
	// critical section is a loop over its servers with no I/O. nginx
	// takes the same per-upstream lock (ngx_http_upstream_rr_peers_wlock)
	// around the same loop when workers share a zone.
	mu sync.Mutex
	// current holds nginx's peer->current_weight, one per server.
	current []int64
}

var _ Balancer = (*RoundRobin)(nil)

// NewRoundRobin returns a smooth weighted round-robin balancer over
// servers, which must not change for the balancer's lifetime. A weight
// below 1 counts as 1.
func NewRoundRobin(servers []*upstream.Server) *RoundRobin {
	rr := &RoundRobin{
		servers: slices.Clone(servers),
		weights: make([]int64, len(servers)),
		current: make([]int64, len(servers)),
	}
	for i, s := range servers {
		rr.weights[i] = int64(max(s.Weight, 1))
		rr.total += rr.weights[i]
	}
	return rr
}

// Pick returns the next server of the smooth weighted round-robin among
// those skip does not exclude, or nil when skip excludes them all. The
// request is not looked at. skip is called with the balancer's lock held,
// so it must be cheap and must not call back into the balancer.
func (rr *RoundRobin) Pick(_ *Request, skip func(*upstream.Server) bool) *upstream.Server {
	if skip == nil {
		skip = skipNone
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.pickLocked(skip)
}

// pickLocked is ngx_http_upstream_get_peer: every eligible server gains its
// weight, the one with the highest current weight (the first on a tie)
// wins and pays back the total gained in this pick. rr.mu must be held.
//
// nginx adds effective_weight, which drops after failures and recovers by
// one per pick; limpet has no such damping yet, so the configured weight
// is used, which is what effective_weight equals on a healthy upstream.
func (rr *RoundRobin) pickLocked(skip func(*upstream.Server) bool) *upstream.Server {
	best := -1
	var total int64
	for i, s := range rr.servers {
		if skip(s) {
			continue
		}
		w := rr.weight(i)
		rr.current[i] += w
		total += w
		if best < 0 || rr.current[i] > rr.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	rr.current[best] -= total
	return rr.servers[best]
}

// weight returns the weight of server i for this pick: its configured
// weight, or less while its slow start ramp runs (slow_start=).
func (rr *RoundRobin) weight(i int) int64 {
	if s := rr.servers[i]; s.SlowStart > 0 {
		return s.RampWeight(rr.weights[i])
	}
	return rr.weights[i]
}

// pickAmong runs the same smooth round-robin restricted to the servers at
// the given indexes: consistent hashing uses it to choose among servers
// sharing a name, as ngx_http_upstream_get_chash_peer does.
func (rr *RoundRobin) pickAmong(members []int32, skip func(*upstream.Server) bool) *upstream.Server {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	best := -1
	var total int64
	for _, m := range members {
		i := int(m)
		if skip(rr.servers[i]) {
			continue
		}
		rr.current[i] += rr.weights[i]
		total += rr.weights[i]
		if best < 0 || rr.current[i] > rr.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	rr.current[best] -= total
	return rr.servers[best]
}

// skipNone stands in for a nil skip. It is a package-level function, so
// using it allocates nothing.
func skipNone(*upstream.Server) bool { return false }

// maxTries is how many times nginx's hashing and random methods retry
// after landing on an unusable server before they fall back to
// round-robin. nginx counts with `if (++tries > 20)`, so 21 servers are
// looked at in all; limpet counts the same way so a request with many
// servers down ends where nginx's would.
const maxTries = 20
