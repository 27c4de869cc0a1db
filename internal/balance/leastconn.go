package balance

import (
	"github.com/limpet-lb/limpet/internal/upstream"
)

// LeastConn is nginx's least_conn: the server with the fewest active
// requests per unit of weight wins, and servers tied on that ratio take
// turns by smooth weighted round-robin, as in
// ngx_http_upstream_get_least_conn_peer.
//
// The active counts are the servers' own atomics, shared by every request
// in this process (nginx's are per worker unless the upstream has a zone).
type LeastConn struct {
	// rr holds the servers, their weights and the current weights that
	// break ties; its lock is taken only when there is a tie.
	rr *RoundRobin
}

var _ Balancer = (*LeastConn)(nil)

// NewLeastConn returns a least-connections balancer over servers, which
// must not change for the balancer's lifetime. A weight below 1 counts
// as 1.
func NewLeastConn(servers []*upstream.Server) *LeastConn {
	return &LeastConn{rr: NewRoundRobin(servers)}
}

// Pick returns the server skip does not exclude with the lowest
// Active()/Weight, or nil when skip excludes them all. The request is not
// looked at. When several servers share the lowest ratio, skip is called
// again for them with the balancer's lock held, so it must be cheap and
// must not call back into the balancer.
func (lc *LeastConn) Pick(_ *Request, skip func(*upstream.Server) bool) *upstream.Server {
	if skip == nil {
		skip = skipNone
	}
	rr := lc.rr

	// First pass, without a lock: the lowest ratio, compared by cross
	// multiplication as nginx does so no division rounds. The first
	// server with that ratio is kept and ties are only noted.
	best := -1
	var bestActive int64
	many := false
	for i, s := range rr.servers {
		if skip(s) {
			continue
		}
		a := s.Active()
		switch {
		case best < 0 || a*rr.weight(best) < bestActive*rr.weight(i):
			best, bestActive, many = i, a, false
		case a*rr.weight(best) == bestActive*rr.weight(i):
			many = true
		}
	}
	if best < 0 {
		return nil
	}
	if !many {
		return rr.servers[best]
	}

	// Second pass: smooth round-robin among the tied servers, which all
	// come at or after best. The counts may have moved since the first
	// pass; a server is in the tie if it still has best's ratio as read
	// then, and if none has any more, best stands.
	rr.mu.Lock()
	defer rr.mu.Unlock()
	chosen := -1
	var total int64
	for i := best; i < len(rr.servers); i++ {
		s := rr.servers[i]
		if skip(s) || s.Active()*rr.weight(best) != bestActive*rr.weight(i) {
			continue
		}
		w := rr.weight(i)
		rr.current[i] += w
		total += w
		if chosen < 0 || rr.current[i] > rr.current[chosen] {
			chosen = i
		}
	}
	if chosen < 0 {
		return rr.servers[best]
	}
	rr.current[chosen] -= total
	return rr.servers[chosen]
}
