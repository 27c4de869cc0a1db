package runtime

import (
	"log/slog"
	"slices"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/discovery"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// discoveryMinRefresh is the shortest time between two lookups of one
// name (nginx's: its timers count whole seconds). Tests lower it.
var discoveryMinRefresh = time.Second

// watchers are a plan's DNS watchers: one per upstream with `server ...
// resolve` lines. A plan's watchers run while it is the current plan:
// started with it (Start, Reload), closed when a reload replaces it or at
// Shutdown. A reload's new watchers take over what the old ones found
// (discovery.Options.Previous), so resolved servers serve on without a
// gap and keep their state.
type watchers struct {
	list []*discovery.Watcher
	// byUpstream indexes list by upstream block.
	byUpstream map[*config.Upstream]*discovery.Watcher
	// byName indexes list by upstream name, for the next plan.
	byName map[string]*discovery.Watcher
}

// newWatchers builds the watchers of p's upstreams (p.upstreams is
// complete), each taking over from prev's watcher of the same upstream
// name, if any. Nothing runs before start.
func (p *plan) newWatchers(prev *plan) *watchers {
	ws := &watchers{byUpstream: make(map[*config.Upstream]*discovery.Watcher), byName: make(map[string]*discovery.Watcher)}
	for _, cu := range p.cfg.Upstreams {
		if len(cu.Resolve) == 0 {
			continue
		}
		var previous *discovery.Watcher
		if prev != nil && prev.watchers != nil {
			previous = prev.watchers.byName[cu.Name]
		}
		w := discovery.New(watcherOptions(cu, p.upstreams[cu], p.rt.log, previous))
		ws.list = append(ws.list, w)
		ws.byUpstream[cu] = w
		ws.byName[cu.Name] = w
	}
	return ws
}

// watcherOptions are the discovery options of an upstream block.
func watcherOptions(cu *config.Upstream, u *live.Upstream, log *slog.Logger, previous *discovery.Watcher) discovery.Options {
	r := cu.Resolver
	res := discovery.NewResolver(discovery.Config{
		Servers: r.Addrs,
		Timeout: cu.ResolverTimeout,
		Valid:   r.Valid,
		IPv4:    r.IPv4,
		IPv6:    r.IPv6,
	})
	sources := make([]discovery.Source, 0, len(cu.Resolve))
	for _, cs := range cu.Resolve {
		sources = append(sources, discovery.Source{
			Written:     cs.Name,
			Host:        cs.Host,
			Port:        cs.Port,
			Service:     cs.Service,
			Weight:      cs.Weight,
			MaxFails:    cs.MaxFails,
			FailTimeout: cs.FailTimeout,
			SlowStart:   cs.SlowStart,
			MaxConns:    cs.MaxConns,
			Route:       cs.Route,
			Backup:      cs.Backup,
			Down:        cs.Down,
			Drain:       cs.Drain,
		})
	}
	var noBackup bool
	switch cu.Method.Kind {
	case config.IPHash, config.Hash, config.Random:
		noBackup = true
	}
	return discovery.Options{
		Upstream:   u,
		Lookup:     res,
		Sources:    sources,
		Timeout:    cu.ResolverTimeout,
		NoBackup:   noBackup,
		Previous:   previous,
		Log:        log,
		MinRefresh: discoveryMinRefresh,
	}
}

// withResolved returns next, the servers a reload gives upstream block
// cu, with the resolved servers its watcher takes over from the previous
// plan's. It runs inside the live upstream's Reconfigure, once the
// previous plan's watchers are closed.
func (p *plan) withResolved(next []*upstream.Server, cu *config.Upstream) []*upstream.Server {
	w := p.watchers.byUpstream[cu]
	if w == nil {
		return next
	}
	for _, s := range w.TakeOver() {
		if !slices.Contains(next, s) {
			next = append(next, s)
		}
	}
	return next
}

// start starts every watcher: each resolves its names at once, and again
// as the answers expire. Until a name has resolved, it has no servers.
func (ws *watchers) start() {
	for _, w := range ws.list {
		w.Start()
	}
}

// close stops every watcher and waits for their goroutines. The servers
// they added stay in their upstreams.
func (ws *watchers) close() {
	for _, w := range ws.list {
		w.Close()
	}
}
