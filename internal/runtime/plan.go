package runtime

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1srv"
	"github.com/limpet-lb/limpet/internal/health"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/proxy"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/uptls"
	"github.com/limpet-lb/limpet/internal/vars"
)

// plan is one configuration compiled: everything a request, a health
// check or the API needs from it, built in one pass by newPlan and not
// changed after commit. A reload builds a new plan beside the running
// one, taking over from it what can be kept (live upstreams, open log
// files, transports and their idle connections, limit zones), and the
// Runtime swaps it in.
type plan struct {
	rt  *Runtime
	cfg *config.Config

	upstreams map[*config.Upstream]*live.Upstream
	byName    map[string]*live.Upstream
	names     []string                  // of the upstream blocks, in configuration order
	implicit  map[string]*live.Upstream // proxy_pass to an address, by "host:port"
	// implicitOrder lists the implicit upstreams' names in creation order.
	implicitOrder []string
	// pending reconfigures the live upstreams taken over from the
	// previous plan; commit runs them, so a plan that fails to build
	// changes nothing.
	pending []func()
	// mandatory is set for the upstreams a mandatory health check
	// covers.
	mandatory map[*live.Upstream]bool
	// keepalive is the `keepalive` of each upstream block's upstream.
	keepalive map[*live.Upstream]int

	transports map[transportKey]proxy.Transport
	// dynamic are the targets of the proxy_pass lines with variables
	// (dynamic.go), whose transports the plan closes when it ends.
	dynamic  []*targets
	logs     map[string]*accesslog.Logger
	checker  *health.Checker
	watchers *watchers // DNS discovery of resolve lines (discovery.go)
	zones    limitZones
	// vars is the configuration's own variables (map, set, named
	// captures), compiled first: hash keys, sticky domains and zone keys
	// are compiled against it as the locations' templates are.
	vars *vars.Registry
	// statusZones are the status_zone zones the configuration names.
	statusZones statusZones
	// apiBase maps each location to the runtime API's path in its
	// virtual server, for the dashboard.
	apiBase map[*config.Location]string

	listens  []*listenPlan
	handlers []*proxy.Handler

	// before is closed once the plan this one replaced is retired (nil
	// for the first plan); retired is closed once this one is (its
	// resources released). A channel, not the plan: a retired plan is
	// not kept alive by its successor.
	before  <-chan struct{}
	retired chan struct{}
}

// listenPlan is what one listening socket serves under a plan: its
// connection settings and handler (h1srv.Settings) and the proxy
// handlers behind it, whose requests a retiring plan waits for.
type listenPlan struct {
	addr     string
	settings h1srv.Settings
	handlers []*proxy.Handler
	opts     config.Listen // the socket's options (sockopt.go)
}

// transportKey identifies a transport: one per upstream, keepalive and
// set of timeouts, so locations that share them share idle connections,
// and a reload that keeps them keeps those connections too.
type transportKey struct {
	implicit  bool
	upstream  string
	keepalive int
	t         proxy.Timeouts
	// tls is the uptls.Client's Key and name for an https upstream
	// (upstreamtls.go), "" for http.
	tls string
}

// newPlan compiles cfg. prev is the plan it is to replace (nil at
// start); what can be kept is taken from it, but nothing shared is
// changed before commit. On error every resource the plan opened is
// closed again.
func (rt *Runtime) newPlan(cfg *config.Config, prev *plan) (p *plan, err error) {
	p = &plan{
		rt:         rt,
		cfg:        cfg,
		upstreams:  make(map[*config.Upstream]*live.Upstream),
		byName:     make(map[string]*live.Upstream),
		implicit:   make(map[string]*live.Upstream),
		mandatory:  make(map[*live.Upstream]bool),
		keepalive:  make(map[*live.Upstream]int),
		transports: make(map[transportKey]proxy.Transport),
		logs:       make(map[string]*accesslog.Logger),
		retired:    make(chan struct{}),
	}
	defer func() {
		if err != nil {
			p.discard(prev)
			p = nil
		}
	}()
	// The configuration's own variables (map, set, named captures),
	// shared by every template of the plan.
	if p.vars, err = proxy.CompileVariables(cfg); err != nil {
		return p, err
	}
	for _, cu := range cfg.Upstreams {
		if err := p.addUpstream(cu, prev); err != nil {
			return p, err
		}
	}
	p.watchers = p.newWatchers(prev)
	if err := p.newLimitZones(prev); err != nil {
		return p, err
	}
	p.apiBase = findAPIBases(cfg)
	checks, err := p.healthChecks()
	if err != nil {
		return p, err
	}
	for _, c := range checks {
		if c.Config.Mandatory {
			p.mandatory[c.Upstream] = true
		}
	}
	p.checker = health.New(checks, rt.log)
	var observer proxy.Observer
	if hasMetrics(cfg) {
		observer = rt.metrics
	}
	env := &proxy.Env{
		Upstream:  func(pp *config.ProxyPass) *live.Upstream { return p.upstreamFor(pp, prev) },
		Transport: func(u *live.Upstream, t proxy.Timeouts) http.RoundTripper { return p.transportFor(u, t, prev) },
		TLSTransport: func(u *live.Upstream, t proxy.Timeouts, c *uptls.Client, name string) http.RoundTripper {
			return p.tlsTransportFor(u, t, c, name, prev)
		},
		Dynamic: func(l *config.Location, t proxy.Timeouts, c *uptls.Client, name string) (proxy.Targets, error) {
			return p.dynamicTargets(l, t, c, name, prev)
		},
		AccessLog: func(al config.AccessLog) (*accesslog.Logger, error) { return p.accessLog(al, prev) },
		ErrorLog:  rt.log,
		Access:    guard,
		Limits:    p.limits,
		Observer:  observer,
		Content:   p.content,
		Now:       rt.opts.Now,
		Vars:      p.vars,
	}
	env.StatusZone = p.statusZone
	if err := p.buildListens(env); err != nil {
		return p, err
	}
	return p, nil
}

// commit makes p the configuration of its live upstreams: the servers
// and policies of those taken over from prev change now, their `state`
// files are kept from now on (state.go), and the health checker takes
// over prev's counters (prev's checker is closed).
func (p *plan) commit(prev *plan) {
	for _, f := range p.pending {
		f()
	}
	p.pending = nil
	p.commitZones()
	p.keepState()
	for _, u := range p.byName {
		u.SetMandatoryChecks(p.mandatory[u])
	}
	if prev != nil {
		p.checker.Inherit(prev.checker)
	}
}

// discard closes what a plan that will not run opened: the log files
// and transports prev does not share.
func (p *plan) discard(prev *plan) {
	if p == nil {
		return
	}
	if p.checker != nil {
		p.checker.Close()
	}
	p.release(prev)
}

// release closes p's resources that next does not share (all of them
// when next is nil): transports' idle connections and access logs.
func (p *plan) release(next *plan) {
	for k, tr := range p.transports {
		if next == nil || next.transports[k] != tr {
			tr.CloseIdleConnections()
		}
	}
	for _, ts := range p.dynamic {
		ts.closeIdle()
	}
	for path, l := range p.logs {
		if next == nil || next.logs[path] != l {
			_ = l.Close()
		}
	}
}

// drain waits until p's requests are done or ctx is, then closes its
// upgraded (WebSocket) connections and waits, briefly, for their log
// lines.
func (p *plan) drain(ctx context.Context) {
	_ = p.waitIdle(ctx)
	cctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.closeUpgrades(cctx)
}

// handOver makes each of p's handlers on an address next also listens on
// pass the requests that still reach it to next's handler there.
func (p *plan) handOver(next *plan) {
	for _, lp := range p.listens {
		if np := next.listen(lp.addr); np != nil {
			for _, h := range lp.handlers {
				h.Retire(np.settings.Handler)
			}
		}
	}
}

// endUpgrades closes p's upgraded connections.
func (p *plan) endUpgrades() {
	for _, h := range p.handlers {
		h.EndUpgrades()
	}
}

// waitIdle waits until no handler of p serves a request, or ctx is done.
func (p *plan) waitIdle(ctx context.Context) error {
	var errs []error
	for _, h := range p.handlers {
		errs = append(errs, h.WaitIdle(ctx))
	}
	return errors.Join(errs...)
}

// closeUpgrades closes p's upgraded connections and waits for every
// request of p to end, or ctx.
func (p *plan) closeUpgrades(ctx context.Context) error {
	var errs []error
	for _, h := range p.handlers {
		errs = append(errs, h.CloseUpgrades(ctx))
	}
	return errors.Join(errs...)
}

// listen returns the plan of a listen address, or nil.
func (p *plan) listen(addr string) *listenPlan {
	for _, lp := range p.listens {
		if lp.addr == addr {
			return lp
		}
	}
	return nil
}

// upstreamFor returns the upstream a proxy_pass sends to, creating the
// implicit single-server upstream of an address on first use (or taking
// prev's over).
func (p *plan) upstreamFor(pp *config.ProxyPass, prev *plan) *live.Upstream {
	if pp.Upstream != nil {
		return p.upstreams[pp.Upstream]
	}
	key := pp.Host
	if u, ok := p.implicit[key]; ok {
		if u.Pool().All()[0].Addr == pp.Addr {
			return u
		}
		// http://h and https://h: one host, two ports, two upstreams,
		// as in nginx; the second is named by its address.
		key = pp.Addr
		if u, ok := p.implicit[key]; ok {
			return u
		}
	}
	var u *live.Upstream
	if prev != nil {
		if old := prev.implicit[key]; old != nil && old.Pool().All()[0].Addr == pp.Addr {
			u = old
		}
	}
	if u == nil {
		u = live.New(key, live.Policy{}, []*upstream.Server{implicitServer(pp)})
	}
	p.implicit[key] = u
	p.implicitOrder = append(p.implicitOrder, key)
	return u
}

// transportFor returns one transport per upstream, keepalive and set of
// timeouts, taking prev's over when it has the same.
func (p *plan) transportFor(u *live.Upstream, t proxy.Timeouts, prev *plan) http.RoundTripper {
	k := transportKey{upstream: u.Name, t: t}
	if ka, named := p.keepalive[u]; named {
		k.keepalive = ka
	} else {
		k.implicit = true
	}
	if tr, ok := p.transports[k]; ok {
		return tr
	}
	tr := proxy.Transport(nil)
	if prev != nil {
		tr = prev.transports[k]
	}
	if tr == nil {
		tr = proxy.NewTransport(t, k.keepalive)
	}
	p.transports[k] = tr
	return tr
}

// accessLog returns the logger of a path, opening each path once, or
// taking prev's open file over when it buffers as asked. The buffer of a
// path is that of its first line with buffer= (the configuration refuses
// lines that disagree), else limpet's default (32k, flushed every second).
func (p *plan) accessLog(al config.AccessLog, prev *plan) (*accesslog.Logger, error) {
	if l, ok := p.logs[al.Path]; ok {
		return l, nil
	}
	size, flush := logBuffering(p.cfg, al.Path)
	if prev != nil {
		if l, ok := prev.logs[al.Path]; ok {
			if s, f := l.Buffering(); s == size && f == flush {
				p.logs[al.Path] = l
				return l, nil
			}
		}
	}
	if p.rt.opts.Stdout != nil && (al.Path == "stdout" || al.Path == "/dev/stdout") {
		l := accesslog.NewBuffered(p.rt.opts.Stdout, size, flush)
		p.logs[al.Path] = l
		return l, nil
	}
	l, err := accesslog.OpenBuffered(al.Path, size, flush)
	if err != nil {
		return nil, err
	}
	p.logs[al.Path] = l
	return l, nil
}
