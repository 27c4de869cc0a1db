// Package runtime is the only place that turns a *config.Config into live
// objects: upstreams with their servers, balancers and persistence,
// transports, access logs, and one HTTP server per listen address. The
// rest of limpet never reads the configuration tree itself.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/admin/metrics"
	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1srv"
	"github.com/limpet-lb/limpet/internal/health"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/proxy"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
)

// Options tune a Runtime; the zero value is ready for production.
type Options struct {
	// ErrorLog receives limpet's own messages; nil means slog.Default().
	ErrorLog *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand returns a random int in [0, n) for the random balancer; nil
	// means math/rand/v2.
	Rand func(n int) int
	// Stdout is where `access_log stdout` writes; nil means os.Stdout.
	// The demo and tests point it elsewhere.
	Stdout io.Writer
	// Inherited are listening sockets a previous limpet handed over (a
	// binary upgrade), by listen address as ListenerFiles names them.
	// Start listens on these instead of binding, and deletes from the
	// map each one it uses; the caller closes those left.
	Inherited map[string]net.Listener
}

// Runtime is a running configuration.
type Runtime struct {
	cfg  *config.Config
	opts Options
	log  *slog.Logger

	upstreams map[*config.Upstream]*live.Upstream
	implicit  map[string]*live.Upstream // proxy_pass to an address, by "host:port"
	// implicitOrder lists the implicit upstreams' names in creation order.
	implicitOrder []string
	transports    map[transportKey]proxy.Transport
	logs          map[string]*accesslog.Logger

	listeners []*listener
	// conns caps the client connections of every listener together
	// (worker_connections).
	conns   *h1srv.ConnLimit
	checker *health.Checker
	metrics *metrics.Metrics
	// apiBase maps each location to the runtime API's path in its
	// virtual server, for the dashboard.
	apiBase map[*config.Location]string
	// zones are the limit_req_zone and limit_conn_zone zones.
	zones limitZones
}

type transportKey struct {
	up *live.Upstream
	t  proxy.Timeouts
}

// listener is one socket with the virtual servers it serves: one
// handler, or several chosen by local address (see listen.go).
type listener struct {
	addr     string
	handlers []*proxy.Handler
	server   *h1srv.Server
	ln       net.Listener
}

// New builds every live object of cfg. It listens on nothing yet; Start
// does. Errors name the file and line of the directive at fault.
func New(cfg *config.Config, opts Options) (*Runtime, error) {
	rt := &Runtime{
		cfg:        cfg,
		opts:       opts,
		log:        opts.ErrorLog,
		upstreams:  make(map[*config.Upstream]*live.Upstream),
		implicit:   make(map[string]*live.Upstream),
		transports: make(map[transportKey]proxy.Transport),
		logs:       make(map[string]*accesslog.Logger),
		conns:      h1srv.NewConnLimit(cfg.WorkerConnections),
	}
	if rt.log == nil {
		rt.log = slog.Default()
	}
	for _, cu := range cfg.Upstreams {
		u, err := newUpstream(cu, opts.Rand)
		if err != nil {
			rt.closeLogs()
			return nil, err
		}
		rt.upstreams[cu] = u
	}
	if err := rt.newLimitZones(cfg); err != nil {
		rt.closeLogs()
		return nil, err
	}
	rt.apiBase = findAPIBases(cfg)
	checks := rt.healthChecks()
	for _, c := range checks {
		if c.Config.Mandatory {
			c.Upstream.SetMandatoryChecks(true)
		}
	}
	rt.checker = health.New(checks, rt.log)
	rt.metrics = metrics.New(allUpstreams{rt}, opts.Now)
	rt.metrics.ClientConnections(rt.conns.Active, rt.conns.Max)
	var observer proxy.Observer
	if hasMetrics(cfg) {
		observer = rt.metrics
	}
	env := &proxy.Env{
		Upstream:  rt.upstreamFor,
		Transport: rt.transportFor,
		AccessLog: rt.accessLog,
		ErrorLog:  rt.log,
		Access:    rt.guard,
		Limits:    rt.limits,
		Observer:  observer,
		Content:   rt.content,
		Now:       opts.Now,
	}
	if err := rt.buildListeners(env); err != nil {
		rt.closeLogs()
		return nil, err
	}
	return rt, nil
}

// newUpstream builds the live form of an upstream block.
func newUpstream(cu *config.Upstream, rnd func(int) int) (*live.Upstream, error) {
	servers := make([]*upstream.Server, 0, len(cu.Servers))
	for _, cs := range cu.Servers {
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
		}
		s.SetDown(cs.Down)
		s.SetDraining(cs.Drain)
		servers = append(servers, s)
	}
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
		p.Sticky = sticky.NewCookie(cu.Sticky.Cookie)
	}
	switch cu.Method.Kind {
	case config.IPHash, config.Hash, config.Random:
		p.NoBackup = true
	}
	if cu.Method.Kind == config.Hash {
		key, err := vars.Compile(cu.Method.HashKey)
		if err != nil {
			return nil, &config.Error{Pos: cu.Method.Pos, Msg: err.Error()}
		}
		p.HashKey = key
	}
	u := live.New(cu.Name, p, servers)
	return u, nil
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

// upstreamFor returns the upstream a proxy_pass sends to, creating the
// implicit single-server upstream of an address on first use.
func (rt *Runtime) upstreamFor(pp *config.ProxyPass) *live.Upstream {
	if pp.Upstream != nil {
		return rt.upstreams[pp.Upstream]
	}
	if u, ok := rt.implicit[pp.Host]; ok {
		return u
	}
	s := &upstream.Server{ID: upstream.IDFor(pp.Addr, ""), Name: pp.Host, Addr: pp.Addr, Weight: 1}
	u := live.New(pp.Host, live.Policy{}, []*upstream.Server{s})
	rt.implicit[pp.Host] = u
	rt.implicitOrder = append(rt.implicitOrder, pp.Host)
	return u
}

// transportFor returns one transport per upstream and set of timeouts, so
// locations that share both share idle connections too.
func (rt *Runtime) transportFor(u *live.Upstream, t proxy.Timeouts) http.RoundTripper {
	k := transportKey{u, t}
	if tr, ok := rt.transports[k]; ok {
		return tr
	}
	keepalive := 0
	for cu, lu := range rt.upstreams {
		if lu == u {
			keepalive = cu.Keepalive
		}
	}
	tr := proxy.NewTransport(t, keepalive)
	rt.transports[k] = tr
	return tr
}

// accessLog returns the logger of a path, opening each path once.
func (rt *Runtime) accessLog(al config.AccessLog) (*accesslog.Logger, error) {
	if l, ok := rt.logs[al.Path]; ok {
		return l, nil
	}
	if rt.opts.Stdout != nil && (al.Path == "stdout" || al.Path == "/dev/stdout") {
		l := accesslog.New(rt.opts.Stdout)
		rt.logs[al.Path] = l
		return l, nil
	}
	l, err := accesslog.Open(al.Path)
	if err != nil {
		return nil, err
	}
	rt.logs[al.Path] = l
	return l, nil
}

// Start listens on every address and serves in the background; health
// checks start first, so servers under a mandatory check take no traffic
// before it passes. A taken port is an error in nginx's words.
func (rt *Runtime) Start() error {
	if limit, ok := fileLimit(); ok && uint64(rt.conns.Max()) > limit {
		// ngx_event_module_init's warning: each connection needs a
		// descriptor, and accepting beyond the limit fails.
		rt.log.Warn(fmt.Sprintf("%d worker_connections exceed open file resource limit: %d", rt.conns.Max(), limit))
	}
	rt.checker.Start()
	for i, l := range rt.listeners {
		ln, err := rt.listen(l.addr)
		if err != nil {
			for _, prev := range rt.listeners[:i] {
				_ = prev.ln.Close()
			}
			rt.checker.Close()
			return fmt.Errorf("bind() to %s failed (%w)", l.addr, errors.Unwrap(err))
		}
		l.ln = ln
	}
	for _, l := range rt.listeners {
		go func() {
			if err := l.server.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				rt.log.Error("serving stopped", slog.String("listen", l.addr), slog.String("error", err.Error()))
			}
		}()
	}
	return nil
}

// Connections returns the number of client connections open now, over
// all listeners, and worker_connections, the most allowed.
func (rt *Runtime) Connections() (active, max int) {
	return rt.conns.Active(), rt.conns.Max()
}

// Addrs returns the addresses listened on, in configuration order; useful
// when a listen port is 0.
func (rt *Runtime) Addrs() []net.Addr {
	addrs := make([]net.Addr, 0, len(rt.listeners))
	for _, l := range rt.listeners {
		if l.ln != nil {
			addrs = append(addrs, l.ln.Addr())
		}
	}
	return addrs
}

// Shutdown stops accepting connections and waits for requests in flight
// to finish until ctx is done; then it closes whatever is left, upgraded
// (WebSocket) connections included, and flushes the access logs.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(rt.listeners))
	for i, l := range rt.listeners {
		wg.Go(func() {
			err := l.server.Shutdown(ctx)
			for _, h := range l.handlers {
				if uerr := h.CloseUpgrades(ctx); err == nil {
					err = uerr
				}
			}
			if err != nil {
				_ = l.server.Close()
				// Closed connections end their handlers at once;
				// give them a moment to write their log lines.
				wctx, cancel := context.WithTimeout(context.Background(), time.Second)
				for _, h := range l.handlers {
					_ = h.WaitIdle(wctx)
				}
				cancel()
				errs[i] = fmt.Errorf("%s: %w", l.addr, err)
			}
		})
	}
	wg.Wait()
	rt.checker.Close()
	for _, tr := range rt.transports {
		tr.CloseIdleConnections()
	}
	rt.closeLogs()
	return errors.Join(errs...)
}

func (rt *Runtime) closeLogs() {
	for _, l := range rt.logs {
		_ = l.Close()
	}
}
