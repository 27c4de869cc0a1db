package proxy

import (
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
)

// Upstream is the live form of an `upstream` block: its servers, how new
// users are balanced among them, and how users are kept on theirs.
type Upstream struct {
	// Name is the upstream's name, which is also $proxy_host.
	Name string
	// Sticky is the cookie persistence, or nil.
	Sticky *sticky.Cookie
	// HashKey is the evaluated key of the `hash` method, or nil.
	HashKey *vars.Template
	// Transport carries requests to the servers. It is the seam where
	// limpet's own HTTP/1.1 client will replace the standard one.
	Transport http.RoundTripper

	state atomic.Pointer[upstreamState]
}

// upstreamState is an immutable snapshot of the servers and the balancers
// built over them; a change of servers swaps in a new snapshot.
type upstreamState struct {
	pool    *upstream.Pool
	primary balance.Balancer
	backup  balance.Balancer // nil when there are no backup servers
}

// SetServers installs a new set of servers, with primary the balancer over
// pool.Primary and backup a balancer over pool.Backup (nil when there are
// none). Requests in flight keep the snapshot they started with.
func (u *Upstream) SetServers(pool *upstream.Pool, primary, backup balance.Balancer) {
	u.state.Store(&upstreamState{pool: pool, primary: primary, backup: backup})
}

// Pool returns the current servers.
func (u *Upstream) Pool() *upstream.Pool { return u.state.Load().pool }

// attempt tracks the servers one request has tried, so that a retry never
// picks a server twice.
type attempt struct {
	now   time.Time
	tried [4]*upstream.Server // most requests try one server; no allocation up to four
	more  []*upstream.Server
}

func (a *attempt) add(s *upstream.Server) {
	for i := range a.tried {
		if a.tried[i] == nil {
			a.tried[i] = s
			return
		}
	}
	a.more = append(a.more, s)
}

// skip reports whether the balancer must pass over s: unavailable, or
// already tried by this request.
func (a *attempt) skip(s *upstream.Server) bool {
	if !s.Available(a.now) {
		return true
	}
	for _, t := range a.tried {
		if t == s {
			return true
		}
	}
	for _, t := range a.more {
		if t == s {
			return true
		}
	}
	return false
}

// pick chooses a server for a request without (usable) persistence:
// primary servers first, backup servers only when no primary is available,
// as nginx does.
func (u *Upstream) pick(st *upstreamState, a *attempt, client netip.Addr, key string) *upstream.Server {
	req := balance.Request{ClientIP: client, Key: key}
	if s := st.primary.Pick(&req, a.skip); s != nil {
		return s
	}
	if st.backup != nil {
		return st.backup.Pick(&req, a.skip)
	}
	return nil
}
