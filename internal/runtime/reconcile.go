package runtime

import (
	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file turns upstream blocks into live upstreams, and on a reload
// reconciles a live upstream with its new block: servers are matched by
// identity (their ID, the cookie value: address or route), so a server
// in both configurations keeps its state and its users.

// addUpstream compiles an upstream block: a new live upstream, or, when
// prev has one of the same name, that one, to be reconfigured at commit.
func (p *plan) addUpstream(cu *config.Upstream, prev *plan) error {
	pol, err := policyOf(cu, p.rt.opts.Rand, p.vars)
	if err != nil {
		return err
	}
	var u *live.Upstream
	if prev != nil {
		u = prev.byName[cu.Name]
	}
	if u == nil {
		servers := make([]*upstream.Server, 0, len(cu.Servers))
		for _, cs := range cu.Servers {
			servers = append(servers, newServer(cs))
		}
		u = live.New(cu.Name, pol, servers)
	} else {
		was := prev.blocks()[cu.Name]
		p.pending = append(p.pending, func() {
			_ = u.Reconfigure(pol, func(current []*upstream.Server) ([]*upstream.Server, error) {
				if was != nil && cu.State != "" && was.State == cu.State && p.rt.states.own(cu.State, cu.StateDigest) {
					// The file is one limpet wrote: the running
					// servers are that version or later (an API
					// change made after the file was read for this
					// reload is in them). A file edited by hand is
					// applied below, as a restart would.
					return current, nil
				}
				return p.withResolved(reconcile(current, was, cu), cu), nil
			})
		})
	}
	p.upstreams[cu] = u
	p.byName[cu.Name] = u
	p.names = append(p.names, cu.Name)
	p.keepalive[u] = cu.Keepalive
	return nil
}

// blocks returns the plan's upstream blocks by name.
func (p *plan) blocks() map[string]*config.Upstream {
	m := make(map[string]*config.Upstream, len(p.cfg.Upstreams))
	for _, cu := range p.cfg.Upstreams {
		m[cu.Name] = cu
	}
	return m
}

// reconcile returns the servers of the upstream block cu, taking over
// from current the servers of the same identity. A server whose
// parameters read without a lock on the request path (max_fails,
// fail_timeout, slow_start, backup, max_conns) changed is a new Server that
// inherits the old one's state; otherwise the old Server itself is kept.
// `weight`, `down` and `drain` set at run time (the API) are kept, unless
// the configuration changed them for that server: was is the block the
// running configuration had, nil if none.
//
// Servers added through the API and absent from cu are dropped, as NGINX
// Plus drops them on a reload without a `state` file; their users'
// cookies then read "server_removed". With one, cu holds them: the file
// is read with the configuration (and rewritten on each change, state.go).
func reconcile(current []*upstream.Server, was, cu *config.Upstream) []*upstream.Server {
	byID := make(map[string]*upstream.Server, len(current))
	for _, s := range current {
		if _, dup := byID[s.ID]; !dup {
			byID[s.ID] = s
		}
	}
	before := make(map[string]config.UpstreamServer)
	if was != nil {
		for _, cs := range was.Servers {
			id := upstream.IDFor(cs.Addr, cs.Route)
			if _, dup := before[id]; !dup {
				before[id] = *cs
			}
		}
	}
	next := make([]*upstream.Server, 0, len(cu.Servers))
	for _, cs := range cu.Servers {
		id := upstream.IDFor(cs.Addr, cs.Route)
		old := byID[id]
		if old == nil || old.Addr != cs.Addr {
			next = append(next, newServer(cs))
			continue
		}
		delete(byID, id) // a second line of the same address is a new server
		s := old
		if !sameFixed(old, cs) {
			s = newServer(cs)
			s.Inherit(old)
		}
		// What the API set (weight, down, drain) stays, unless the
		// configuration changed it for this server.
		prev, known := before[id]
		if !known || prev.Weight != cs.Weight {
			s.Weight = cs.Weight
		} else {
			s.Weight = old.Weight
		}
		if !known || prev.Down != cs.Down {
			s.SetDown(cs.Down)
		}
		if !known || prev.Drain != cs.Drain {
			s.SetDraining(cs.Drain)
		}
		next = append(next, s)
	}
	return next
}

// sameFixed reports whether a live server has the parameters of cs that
// cannot change on a published Server.
func sameFixed(s *upstream.Server, cs *config.UpstreamServer) bool {
	return s.Name == cs.Name && s.MaxFails == cs.MaxFails && s.FailTimeout == cs.FailTimeout &&
		s.Backup == cs.Backup && s.Route == cs.Route && s.SlowStart == cs.SlowStart && s.MaxConns == cs.MaxConns
}

// newServer returns the live form of a server line.
func newServer(cs *config.UpstreamServer) *upstream.Server {
	s := &upstream.Server{
		ID:          upstream.IDFor(cs.Addr, cs.Route),
		Name:        cs.Name,
		Addr:        cs.Addr,
		Weight:      cs.Weight,
		MaxFails:    cs.MaxFails,
		FailTimeout: cs.FailTimeout,
		Backup:      cs.Backup,
		Route:       cs.Route,
		SlowStart:   cs.SlowStart,
		MaxConns:    cs.MaxConns,
	}
	s.SetDown(cs.Down)
	s.SetDraining(cs.Drain)
	return s
}

// implicitServer is the lone server of `proxy_pass http://host:port`.
func implicitServer(pp *config.ProxyPass) *upstream.Server {
	return &upstream.Server{ID: upstream.IDFor(pp.Addr, ""), Name: pp.Host, Addr: pp.Addr, Weight: 1}
}

// policyOf compiles what an upstream block says beyond its servers; the
// hash key and the sticky cookie's domain= and samesite= may use the
// variables of g. The policy is compiled anew on every reload, against
// that configuration's registry; a request still served by the previous
// configuration reads those variables by name (vars.Values).
func policyOf(cu *config.Upstream, rnd func(int) int, g *vars.Registry) (live.Policy, error) {
	p := live.Policy{
		Balancers: func(primary, backup []*upstream.Server) (balance.Balancer, balance.Balancer) {
			var b balance.Balancer
			if len(backup) > 0 {
				b = balance.NewRoundRobin(backup)
			}
			return newBalancer(cu.Method, primary, rnd), b
		},
	}
	if cu.Sticky != nil {
		c, err := sticky.CompileWith(cu.Sticky.Cookie, g)
		if err != nil {
			return p, &config.Error{Pos: cu.Sticky.Pos, Msg: err.Error()}
		}
		p.Sticky = c
	}
	setQueue(&p, cu)
	switch cu.Method.Kind {
	case config.IPHash, config.Hash, config.Random:
		p.NoBackup = true
	}
	if cu.Method.Kind == config.Hash {
		key, err := g.Compile(cu.Method.HashKey)
		if err != nil {
			return p, &config.Error{Pos: cu.Method.Pos, Msg: err.Error()}
		}
		p.HashKey = key
	}
	return p, nil
}

// newBalancer returns the balancer of a method over servers.
func newBalancer(m config.Balance, servers []*upstream.Server, rnd func(int) int) balance.Balancer {
	switch m.Kind {
	case config.LeastConn:
		return balance.NewLeastConn(servers)
	case config.Random:
		return balance.NewRandom(servers, m.Two, rnd)
	case config.IPHash:
		return balance.NewIPHash(servers)
	case config.Hash:
		return balance.NewHash(servers, m.Consistent)
	}
	return balance.NewRoundRobin(servers)
}
