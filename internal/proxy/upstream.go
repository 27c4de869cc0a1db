package proxy

import (
	"net/netip"
	"slices"
	"sync"
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
	// NoBackup is set for methods that, as in nginx, take neither
	// backup servers nor slow_start (ip_hash, hash, random); the API
	// refuses to add such servers.
	NoBackup bool

	newBalancers BalancerFactory
	state        atomic.Pointer[upstreamState]

	// outcomes counts persistence decisions by sticky.Labels index; an
	// array, so counting is one atomic add (see the init check below).
	outcomes [maxOutcomes]atomic.Int64

	// mu serialises changes of the server set (Update); the request path
	// never takes it: it reads the current snapshot atomically.
	mu     sync.Mutex
	nextID int // the next APIID to give a new server

	// mandatory is set when a mandatory health check covers the upstream:
	// servers added at run time then wait in "checking" for their first
	// check, as NGINX Plus holds them.
	mandatory atomic.Bool
}

// SetMandatoryChecks tells the upstream that a mandatory health check
// covers it.
func (u *Upstream) SetMandatoryChecks(on bool) { u.mandatory.Store(on) }

// maxOutcomes bounds the persistence vocabulary the counters can hold.
const maxOutcomes = 16

func init() {
	if len(sticky.Labels) > maxOutcomes {
		panic("proxy: raise maxOutcomes to hold every sticky label")
	}
}

// BalancerFactory builds the balancers of an upstream's method over its
// primary and backup servers; backup is nil when there are none.
type BalancerFactory func(primary, backup []*upstream.Server) (p, b balance.Balancer)

// upstreamState is an immutable snapshot of the servers and the balancers
// built over them; a change of servers swaps in a new snapshot, and
// requests in flight keep the one they started with.
type upstreamState struct {
	pool    *upstream.Pool
	primary balance.Balancer
	backup  balance.Balancer // nil when there are no backup servers
}

// NewUpstream returns the live upstream name over servers, numbering them
// for the API in order, with balancers built by f.
func NewUpstream(name string, servers []*upstream.Server, f BalancerFactory) *Upstream {
	u := &Upstream{Name: name, newBalancers: f}
	if err := u.Update(func([]*upstream.Server) ([]*upstream.Server, error) { return servers, nil }); err != nil {
		panic(err) // unreachable: the function returns no error
	}
	return u
}

// Update changes the upstream's servers: fn gets the current ones and
// returns the new list, in which it may keep, drop, add, or change the
// Weight and Backup of servers. New servers get the next API number, the
// IDs of dropped ones are remembered so their users' cookies read
// "server_removed", and the balancers are rebuilt. Requests in flight are
// not disturbed, and users of untouched servers stay where they are
// (their IDs do not change). If fn fails nothing changes.
func (u *Upstream) Update(fn func(current []*upstream.Server) ([]*upstream.Server, error)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var current []*upstream.Server
	removed := map[string]bool{}
	if st := u.state.Load(); st != nil {
		current = st.pool.All()
		for id := range st.pool.Removed {
			removed[id] = true
		}
	}
	next, err := fn(slices.Clone(current))
	if err != nil {
		return err
	}
	kept := make(map[*upstream.Server]bool, len(next))
	ids := make(map[string]bool, len(next))
	for _, s := range next {
		kept[s] = true
		ids[s.ID] = true
		if !slices.Contains(current, s) {
			s.APIID = u.nextID
			u.nextID++
			if u.mandatory.Load() && current != nil {
				s.SetHealth(upstream.HealthChecking, time.Now())
			}
		}
		delete(removed, s.ID)
	}
	for _, s := range current {
		if !kept[s] && !ids[s.ID] {
			removed[s.ID] = true
		}
	}
	pool := upstream.NewPool(u.Name, next)
	pool.Removed = removed
	p, b := u.newBalancers(pool.Primary, pool.Backup)
	u.state.Store(&upstreamState{pool: pool, primary: p, backup: b})
	return nil
}

// View calls fn with the current servers while no Update can run, so that
// fields Update may change (Weight, Backup) read consistently.
func (u *Upstream) View(fn func(servers []*upstream.Server)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fn(u.state.Load().pool.All())
}

// Pool returns the current servers.
func (u *Upstream) Pool() *upstream.Pool { return u.state.Load().pool }

// countOutcome counts one request's persistence decision.
func (u *Upstream) countOutcome(d *sticky.Decision) {
	if i := d.Index(); i >= 0 {
		u.outcomes[i].Add(1)
	}
}

// Outcomes returns how many requests had each persistence decision, by
// label ("hit", "new/no_cookie", ...), every label present.
func (u *Upstream) Outcomes() map[string]int64 {
	m := make(map[string]int64, len(sticky.Labels))
	for i, l := range sticky.Labels {
		m[l] = u.outcomes[i].Load()
	}
	return m
}

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

// skip reports whether the balancer must pass over s: not taking new
// users (down, failed, unhealthy, draining), or already tried by this
// request.
func (a *attempt) skip(s *upstream.Server) bool {
	if !s.AcceptsNew(a.now) {
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
