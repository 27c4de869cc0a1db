// Package live holds the live form of an `upstream` block: its servers, the
// balancers built over them and the policy the configuration gave it
// (persistence, hash key, queue), as one immutable snapshot swapped
// atomically when the servers change (the runtime API, DNS, a reload), and
// the queue of requests waiting for a server at its max_conns (queue.go).
//
// It sits below the request path: the proxy reads a snapshot per request,
// and the health checks, the runtime API and the metrics read and change
// upstreams through this package without importing the proxy.
package live

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
)

// Upstream is the live form of an `upstream` block. It outlives
// reloads: a new configuration replaces its Policy and servers through
// Reconfigure, so the API, the metrics and the health checks that hold it
// see the change, and its counters never go backwards.
type Upstream struct {
	// Name is the upstream's name, which is also $proxy_host.
	Name string

	state atomic.Pointer[Snapshot]

	// outcomes counts persistence decisions by sticky.Labels index; an
	// array, so counting is one atomic add (see the init check below).
	outcomes [maxOutcomes]atomic.Int64

	// mu serialises changes of the server set (Update); the request path
	// never takes it: it reads the current snapshot atomically.
	mu     sync.Mutex
	nextID int // the next APIID to give a new server
	// onChange is told of every change Update makes (see OnChange).
	onChange func(servers []*upstream.Server)

	// mandatory is set when a mandatory health check covers the upstream:
	// servers added at run time then wait in "checking" for their first
	// check, as NGINX Plus holds them.
	mandatory atomic.Bool

	// queue holds the requests waiting for a server at its max_conns
	// (Policy.QueueSize); it outlives reloads, so its counters do too.
	queue Queue
}

// Policy is what an upstream's configuration says beyond its servers:
// how users are kept on their server and how new ones are balanced. It is
// immutable once given to an Upstream.
type Policy struct {
	// Sticky is the cookie persistence, or nil.
	Sticky *sticky.Cookie
	// HashKey is the evaluated key of the `hash` method, or nil.
	HashKey *vars.Template
	// NoBackup is set for methods that, as in nginx, take neither
	// backup servers nor slow_start (ip_hash, hash, random); the API
	// refuses to add such servers.
	NoBackup bool
	// Balancers builds the balancers of the upstream's method; nil means
	// round-robin over both lists.
	Balancers BalancerFactory
	// QueueSize is NGINX Plus's `queue N`: how many requests may wait
	// (in Upstream.Queue) for a server at its max_conns; 0 means no queue,
	// such a request gets 502 at once. QueueTimeout is how long one may
	// wait (timeout=, default 60s).
	QueueSize    int
	QueueTimeout time.Duration
}

// BalancerFactory builds the balancers of an upstream's method over its
// primary and backup servers; backup is nil when there are none.
type BalancerFactory func(primary, backup []*upstream.Server) (p, b balance.Balancer)

// RoundRobin is the BalancerFactory of nginx's default method.
func RoundRobin(primary, backup []*upstream.Server) (p, b balance.Balancer) {
	if len(backup) > 0 {
		b = balance.NewRoundRobin(backup)
	}
	return balance.NewRoundRobin(primary), b
}

// Snapshot is an immutable view of an upstream: its servers, the
// balancers built over them and its policy. A change swaps in a new
// snapshot; a request keeps the one it started with.
type Snapshot struct {
	Pool *upstream.Pool
	// Primary balances over the primary servers; Backup over the backup
	// ones, nil when there are none.
	Primary, Backup balance.Balancer
	*Policy
}

// Pick chooses a server for a request without (usable) persistence:
// primary servers first, backup servers only when no primary is
// available, as nginx does. skip tells which servers not to take.
func (s *Snapshot) Pick(req *balance.Request, skip func(*upstream.Server) bool) *upstream.Server {
	if srv := s.Primary.Pick(req, skip); srv != nil {
		return srv
	}
	if s.Backup != nil {
		return s.Backup.Pick(req, skip)
	}
	return nil
}

// maxOutcomes bounds the persistence vocabulary the counters can hold.
const maxOutcomes = 16

func init() {
	if len(sticky.Labels) > maxOutcomes {
		panic("live: raise maxOutcomes to hold every sticky label")
	}
}

// New returns the live upstream name over servers with the policy p,
// numbering the servers for the API in order.
func New(name string, p Policy, servers []*upstream.Server) *Upstream {
	u := &Upstream{Name: name}
	if err := u.Reconfigure(p, func([]*upstream.Server) ([]*upstream.Server, error) { return servers, nil }); err != nil {
		panic(err) // unreachable: the function returns no error
	}
	return u
}

// SetMandatoryChecks tells the upstream whether a mandatory health check
// covers it.
func (u *Upstream) SetMandatoryChecks(on bool) { u.mandatory.Store(on) }

// Update changes the upstream's servers: fn gets the current ones and
// returns the new list, in which it may keep, drop, add, or change the
// Weight and Backup of servers. New servers get the next API number, the
// IDs of dropped ones are remembered so their users' cookies read
// "server_removed", and the balancers are rebuilt. Requests in flight are
// not disturbed, and users of untouched servers stay where they are
// (their IDs do not change). If fn fails nothing changes; if it returns
// ErrKept, the snapshot is kept and Update returns nil. Either way the
// OnChange function is then called.
func (u *Upstream) Update(fn func(current []*upstream.Server) ([]*upstream.Server, error)) error {
	return u.change(nil, fn)
}

// ErrKept ends an Update function whose change needs no new snapshot: it
// changed only what a server holds in atomics (down, drain), so the
// balancers keep their state. The change is still one: OnChange is told.
var ErrKept = errors.New("live: snapshot kept")

// OnChange sets fn to be called after every change Update makes, with
// the upstream's servers as the change left them (the `state` file is
// rewritten from them). fn runs under the lock that orders Updates, so
// its calls come in the order of the changes and see each server's
// fields as that change set them; it must not call Update or View. nil
// removes it. Reconfigure (a reload) does not call it: the new
// configuration is where those servers came from.
func (u *Upstream) OnChange(fn func(servers []*upstream.Server)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.onChange = fn
}

// Reconfigure is Update with a new policy too, as a reload gives: the
// servers and the policy change in one swap.
func (u *Upstream) Reconfigure(p Policy, fn func(current []*upstream.Server) ([]*upstream.Server, error)) error {
	return u.change(&p, fn)
}

func (u *Upstream) change(p *Policy, fn func(current []*upstream.Server) ([]*upstream.Server, error)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	reconfigure := p != nil
	var current []*upstream.Server
	removed := map[string]bool{}
	old := u.state.Load()
	if old != nil {
		current = old.Pool.All()
		for id := range old.Pool.Removed {
			removed[id] = true
		}
		if p == nil {
			p = old.Policy
		}
	}
	if p.Balancers == nil {
		p.Balancers = RoundRobin
	}
	next, err := fn(slices.Clone(current))
	if errors.Is(err, ErrKept) && old != nil {
		if u.onChange != nil && !reconfigure {
			u.onChange(current)
		}
		return nil
	}
	if err != nil {
		return err
	}
	kept := make(map[*upstream.Server]bool, len(next))
	ids := make(map[string]bool, len(next))
	for _, s := range next {
		kept[s] = true
		ids[s.ID] = true
		switch {
		case slices.Contains(current, s):
		case s.Inherited():
			// A reloaded server keeps its number and its health.
			u.nextID = max(u.nextID, s.APIID+1)
		default:
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
	pb, bb := p.Balancers(pool.Primary, pool.Backup)
	u.state.Store(&Snapshot{Pool: pool, Primary: pb, Backup: bb, Policy: p})
	// Queued requests look again: a new server or a changed one may
	// take them.
	u.queue.Broadcast()
	if u.onChange != nil && !reconfigure {
		u.onChange(pool.All())
	}
	return nil
}

// Load returns the current snapshot.
func (u *Upstream) Load() *Snapshot { return u.state.Load() }

// View calls fn with the current servers while no Update can run, so that
// fields Update may change (Weight, Backup) read consistently.
func (u *Upstream) View(fn func(servers []*upstream.Server)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fn(u.state.Load().Pool.All())
}

// Queue returns the upstream's request queue, which is empty unless the
// policy has a QueueSize.
func (u *Upstream) Queue() *Queue { return &u.queue }

// Pool returns the current servers.
func (u *Upstream) Pool() *upstream.Pool { return u.state.Load().Pool }

// CountOutcome counts one request's persistence decision.
func (u *Upstream) CountOutcome(d *sticky.Decision) {
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
