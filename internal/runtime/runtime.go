// Package runtime runs a configuration. It is the one place a
// *config.Config becomes live objects, in one pass (plan.go): upstreams
// with their servers, balancers and persistence, transports, access logs,
// limit zones, health checks, and the handler and connection settings of
// every listen address. That plan is immutable once built; the Runtime
// swaps it in atomically, at Start and at every Reload, and retires the
// plan it replaces once its requests are done.
//
// What outlives a plan belongs to the Runtime: the listening sockets (an
// address in both configurations keeps its socket, so no connection is
// refused during a reload), the worker_connections limit, the metrics, and
// the live upstreams, which a reload reconfigures in place so their
// servers keep their state by identity (see reconcile.go).
//
// The request path reads configuration only through the compiled plan;
// the health checks, the API and the metrics read the live upstreams.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/admin/metrics"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1srv"
	"github.com/limpet-lb/limpet/internal/live"
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
	// Version is limpet's version, for the API's /nginx endpoint.
	Version string
	// Stdout is where `access_log stdout` writes; nil means os.Stdout.
	// The demo and tests point it elsewhere.
	Stdout io.Writer
	// Inherited are listening sockets a previous limpet handed over (a
	// binary upgrade), by listen address as ListenerFiles names them.
	// Start listens on these instead of binding, and deletes from the
	// map each one it uses; the caller closes those left.
	Inherited map[string]net.Listener
}

// Runtime is a running configuration, and the process-wide state that
// outlives each configuration it runs.
type Runtime struct {
	opts Options
	log  *slog.Logger

	// cur is the plan in effect; requests reach it through the sockets'
	// handlers, the API and the metrics through cur.
	cur atomic.Pointer[plan]

	// conns caps the client connections of every socket together
	// (worker_connections).
	conns   *h1srv.ConnLimit
	metrics *metrics.Metrics

	// mu serialises Start, Reload and Shutdown; the request path never
	// takes it.
	mu       sync.Mutex
	started  bool
	stopped  bool
	sockets  map[string]*socket // by normalised listen address
	order    []*socket          // in the order they were opened
	retiring sync.WaitGroup     // plans and sockets being retired
	old      map[*plan]bool     // the plans being retired
	// tlsFailures counts the failed TLS handshakes of every socket's
	// connections (h1srv.Server.SharedFailures), for the metrics.
	tlsFailures atomic.Int64
	// stopping is cancelled when Shutdown has waited what it could: the
	// plans still retiring then end their requests too.
	stopping context.Context
	stop     context.CancelFunc

	info processInfo
	// states are the versions of the state files limpet read or wrote.
	states stateVersions
}

// New builds every live object of cfg. It listens on nothing yet; Start
// does. Errors name the file and line of the directive at fault.
func New(cfg *config.Config, opts Options) (*Runtime, error) {
	rt := &Runtime{
		opts:    opts,
		log:     opts.ErrorLog,
		conns:   h1srv.NewConnLimit(cfg.WorkerConnections),
		sockets: make(map[string]*socket),
		old:     make(map[*plan]bool),
	}
	if rt.log == nil {
		rt.log = slog.Default()
	}
	rt.stopping, rt.stop = context.WithCancel(context.Background())
	rt.metrics = metrics.New(allUpstreams{rt}, opts.Now)
	rt.metrics.ClientConnections(rt.conns.Active, rt.conns.Max)
	rt.metrics.Reloads(rt.info.reloadCounts)
	rt.metrics.TLSHandshakeFailures(rt.tlsFailures.Load)
	p, err := rt.newPlan(cfg, nil)
	if err != nil {
		return nil, err
	}
	p.commit(nil)
	rt.cur.Store(p)
	rt.info.loaded(rt.clock()())
	return rt, nil
}

// Start listens on every address and serves in the background; health
// checks start first, so servers under a mandatory check take no traffic
// before it passes. A taken port is an error in nginx's words.
func (rt *Runtime) Start() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.started || rt.stopped {
		return errors.New("runtime: Start called twice or after Shutdown")
	}
	p := rt.cur.Load()
	rt.warnFileLimit()
	p.checker.Start()
	p.watchers.start()
	opened, err := rt.openSockets(p)
	if err != nil {
		p.checker.Close()
		p.watchers.close()
		return err
	}
	rt.serve(opened)
	rt.started = true
	// The inherited sockets not taken are the caller's to close; a
	// later reload binds its addresses afresh.
	rt.opts.Inherited = nil
	return nil
}

// Reload replaces the running configuration with cfg, as nginx's SIGHUP
// does but in one process. cfg is built completely first: if anything in
// it is wrong (a file, a key, an address that cannot be bound), Reload
// returns the error, nothing has changed and the old configuration goes
// on serving. Otherwise, atomically for new requests:
//
//   - addresses in both configurations keep their sockets and their
//     connections, which take up the new configuration at their next
//     request; new addresses are bound; removed ones stop accepting and
//     close once their connections are done;
//   - upstreams of the same name keep their servers of the same identity
//     (address, or route), with their health, failure windows, slow start,
//     drain and down set through the API, and counters (reconcile.go);
//   - requests and WebSockets in flight finish on the old configuration,
//     bounded by worker_shutdown_timeout, after which the old plan's
//     remaining upgraded connections are closed.
func (rt *Runtime) Reload(cfg *config.Config) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.stopped {
		return errors.New("reload: limpet is shutting down")
	}
	old := rt.cur.Load()
	p, err := rt.newPlan(cfg, old)
	if err == nil && rt.started {
		var opened []*socket
		if opened, err = rt.openSockets(p); err == nil {
			defer rt.serve(opened)
		}
	}
	if err != nil {
		p.discard(old)
		rt.info.reloadFailed()
		return err
	}
	old.checker.Close()
	old.watchers.close()
	p.commit(old)
	rt.cur.Store(p)
	if cfg.WorkerConnections != rt.conns.Max() {
		rt.conns.SetMax(cfg.WorkerConnections)
		rt.warnFileLimit()
	}
	for _, s := range rt.order {
		if lp := p.listen(s.addr); lp != nil {
			s.server.Reconfigure(lp.settings)
			rt.reconfigureSocket(s, lp.opts)
		}
	}
	if rt.started {
		p.checker.Start()
		p.watchers.start()
	}
	// Requests that took up the old configuration's settings just
	// before the swap, and have not reached its handlers yet, go to the
	// new handlers of their address (or, on a removed address, to the
	// old ones, which retire waits for).
	old.handOver(p)
	p.before = old.retired
	rt.old[old] = true
	removed := rt.closeRemovedSockets(p)
	rt.info.loaded(rt.clock()())
	rt.retiring.Go(func() { rt.retire(old, p, removed) })
	return nil
}

// ReloadFailed counts a reload whose configuration could not even be
// read (Reload was not called): the old configuration goes on serving.
func (rt *Runtime) ReloadFailed() { rt.info.reloadFailed() }

// retire waits for the requests old still serves, within old's
// worker_shutdown_timeout (nginx's old workers keep their own), then
// closes its upgraded connections and the resources next did not take
// over.
func (rt *Runtime) retire(old, next *plan, removed []*socket) {
	ctx, cancel := shutdownContext(rt.stopping, old.cfg)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range removed {
		wg.Go(func() { rt.stopSocket(ctx, s) })
	}
	wg.Go(func() { old.drain(ctx) })
	wg.Wait()
	// The configuration before old may still have requests on
	// resources old shares with it: old's go only after its own.
	if old.before != nil {
		<-old.before
	}
	old.release(next)
	rt.mu.Lock()
	delete(rt.old, old)
	rt.mu.Unlock()
	close(old.retired)
}

// shutdownContext bounds a graceful end by worker_shutdown_timeout; as
// in nginx, without one it waits as long as requests last.
func shutdownContext(parent context.Context, cfg *config.Config) (context.Context, context.CancelFunc) {
	if d := workerShutdownTimeout(cfg); d > 0 {
		return context.WithTimeout(parent, d)
	}
	return context.WithCancel(parent)
}

// Connections returns the number of client connections open now, over
// all listeners, and worker_connections, the most allowed.
func (rt *Runtime) Connections() (active, max int) {
	return rt.conns.Active(), rt.conns.Max()
}

// Addrs returns the addresses listened on, in the order they were
// opened; useful when a listen port is 0.
func (rt *Runtime) Addrs() []net.Addr {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	addrs := make([]net.Addr, 0, len(rt.order))
	for _, s := range rt.order {
		addrs = append(addrs, s.ln.Addr())
	}
	return addrs
}

// Shutdown stops accepting connections and waits for requests in flight
// to finish until ctx is done; then it closes whatever is left, upgraded
// (WebSocket) connections included, and flushes the access logs.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.mu.Lock()
	rt.stopped = true
	socks := rt.order
	rt.order, rt.sockets = nil, map[string]*socket{}
	old := rt.oldPlans()
	rt.mu.Unlock()
	p := rt.cur.Load()
	// The sockets stop accepting; their idle connections are closed and
	// the others, whichever configuration serves them, have until ctx.
	var wg sync.WaitGroup
	errs := make([]error, len(socks))
	for i, s := range socks {
		wg.Go(func() {
			// Closed here as well as by the server: its Serve may not
			// have started yet, and the socket must be gone when
			// Shutdown returns.
			_ = s.ln.Close()
			if err := s.server.Shutdown(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", s.addr, err)
			}
		})
	}
	wg.Wait()
	// Upgraded connections end now, those of configurations still
	// retiring too; a retiring one's removed sockets get what is left
	// of ctx for their requests.
	for _, o := range old {
		o.endUpgrades()
	}
	retired := make(chan struct{})
	go func() { rt.retiring.Wait(); close(retired) }()
	select {
	case <-retired:
	case <-ctx.Done():
	}
	cut := ctx.Err() != nil || errors.Join(errs...) != nil
	if err := p.closeUpgrades(ctx); err != nil {
		cut = true
		errs = append(errs, err)
	}
	rt.stop() // what a retiring configuration still has is cut now
	if cut {
		// Whatever ctx left no time for, on any socket and of any
		// configuration, is cut short; the closed connections end
		// their handlers at once: give them a moment to write their
		// log lines.
		for _, s := range socks {
			_ = s.server.Close()
		}
		wctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = p.waitIdle(wctx)
		cancel()
	}
	<-retired
	p.checker.Close()
	p.watchers.close()
	p.release(nil)
	return errors.Join(errs...)
}

// warnFileLimit is ngx_event_module_init's warning: each connection
// needs a descriptor, and accepting beyond the limit fails.
func (rt *Runtime) warnFileLimit() {
	if limit, ok := fileLimit(); ok && uint64(rt.conns.Max()) > limit {
		rt.log.Warn(fmt.Sprintf("%d worker_connections exceed open file resource limit: %d", rt.conns.Max(), limit))
	}
}

// oldPlans returns the plans being retired; rt.mu must be held.
func (rt *Runtime) oldPlans() []*plan {
	old := make([]*plan, 0, len(rt.old))
	for o := range rt.old {
		old = append(old, o)
	}
	return old
}

// clock returns the runtime's clock.
func (rt *Runtime) clock() func() time.Time {
	if rt.opts.Now != nil {
		return rt.opts.Now
	}
	return time.Now
}

// Upstream returns the live upstream of the given name in the current
// configuration, or nil.
func (rt *Runtime) Upstream(name string) *live.Upstream { return rt.cur.Load().byName[name] }

// Names returns the names of the configured upstreams, in configuration
// order.
func (rt *Runtime) Names() []string { return rt.cur.Load().names }
