// Package health runs active health checks with the semantics of NGINX Plus's
// `health_check` directive (ngx_http_upstream_hc_module): every server of an
// upstream gets a GET of the check's URI every interval, and the answers
// decide whether the server takes traffic.
//
// The design has three small parts:
//
//   - A check (one `health_check` directive on one upstream) runs one
//     scheduler goroutine. Every interval it reads the upstream's current
//     Pool, starts probing the servers it has not seen yet, forgets the
//     servers that were removed, and starts one probe goroutine per server
//     whose previous probe has finished: a probe still running (or still
//     waiting its jitter) when the next round is due is not started twice.
//   - A target is one (check, server) pair: the consecutive passes and
//     failures of that check against that server, and the check's verdict.
//   - A member is one server as every check sees it. The server's health is
//     the combination of its targets' verdicts: unhealthy if any check says
//     so, checking while a mandatory check has not completed, healthy when
//     every check says so. It is recomputed only when a verdict changes, and
//     Server.SetHealth reports whether it changed, so logs fire on
//     transitions only.
//
// Thresholds follow the NGINX Plus reference
// (https://nginx.org/en/docs/http/ngx_http_upstream_hc_module.html):
// `fails` consecutive failures make a server unhealthy, `passes`
// consecutive passes make an unhealthy server healthy again. A `mandatory`
// check puts the server in the "checking" state "until the first health
// check is completed": the first result decides alone (pass → healthy,
// fail → unhealthy), whatever `passes` and `fails` say; afterwards the
// thresholds apply. Without `mandatory` a server is "initially considered
// healthy", so a pass before any failure simply confirms it.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/uptls"
)

// Defaults applied when a Check leaves a value at zero; config fills in
// the same ones, they are repeated here so that a Check built by hand works.
const (
	defaultInterval = 5 * time.Second  // health_check interval=
	defaultTimeout  = 60 * time.Second // proxy_connect_timeout and proxy_read_timeout
)

// Check is one health_check directive applied to one upstream.
type Check struct {
	// Upstream is the upstream whose servers are probed. Its server set
	// may change at run time; every round reads the current Pool.
	Upstream *live.Upstream
	// Config is the parsed directive. Zero values get nginx's defaults:
	// interval 5s, no jitter, fails 1, passes 1, uri "/".
	Config *config.HealthCheck
	// Host is the Host header to send (the location's static Host, or
	// the upstream's name); "" means the upstream's name.
	Host string
	// ConnectTimeout bounds connecting to the server and ReadTimeout
	// receiving its answer (the location's proxy_connect_timeout and
	// proxy_read_timeout, as NGINX Plus uses them); a whole probe takes at
	// most their sum. Zero means nginx's default, 60s.
	ConnectTimeout, ReadTimeout time.Duration
	// TLS, when set, makes the probes go over TLS with the location's
	// proxy_ssl_* settings, for the name TLSName, as NGINX Plus probes
	// an https upstream; nil probes in plain HTTP.
	TLS     *uptls.Client
	TLSName string
}

// Checker runs a set of health checks in the background, from Start to
// Close.
type Checker struct {
	log    *slog.Logger
	checks []*check

	// now is the clock given to Server.SetHealth, and jitter returns a
	// random delay in [0, max); tests replace them before Start.
	now    func() time.Time
	jitter func(max time.Duration) time.Duration

	ctx    context.Context // cancelled by Close; parent of every probe
	cancel context.CancelFunc
	wg     sync.WaitGroup // the schedulers and the probes in flight

	started   atomic.Bool
	closeOnce sync.Once

	// mu guards members. It is taken only when a check starts or stops
	// probing a server (at Start and when an upstream's servers change),
	// never for a probe's result. Lock order: mu, then a member's mu.
	mu      sync.Mutex
	members map[*upstream.Server]*member

	// seeds are the targets' states a reloaded configuration's checker
	// takes over from the one it replaces (Inherit); read-only after
	// Start.
	seeds map[seedKey]seed
}

// seedKey names a target across reloads: its check's key and its
// server's ID.
type seedKey struct{ check, server string }

// seed is what a target carries over a reload.
type seed struct {
	verdict       upstream.Health
	passes, fails int
	reason        string
}

// member is one server as all the checks probing it see it.
type member struct {
	s *upstream.Server
	// mu guards targets and the state fields of every target in it, and
	// serialises the SetHealth calls for the server, so that the verdicts
	// of several checks combine consistently.
	mu      sync.Mutex
	targets map[*target]struct{}
}

// target is one check probing one server.
type target struct {
	k *check
	m *member

	// busy is set while a probe runs (or waits its jitter), so a slow
	// server is never probed twice at once by the same check.
	busy atomic.Bool

	// Guarded by m.mu:
	verdict upstream.Health // what this check says of the server
	passes  int             // consecutive passed probes
	fails   int             // consecutive failed probes
	reason  string          // why the last failed probe failed
	gone    bool            // no longer probed: late results are dropped
}

// New returns a Checker for checks; it probes nothing until Start. log
// receives the transitions (nil discards them).
func New(checks []Check, log *slog.Logger) *Checker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Checker{
		log:     log,
		now:     time.Now,
		jitter:  func(max time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(max))) },
		ctx:     ctx,
		cancel:  cancel,
		members: make(map[*upstream.Server]*member),
	}
	rank := make(map[*live.Upstream]int)
	for _, ch := range checks {
		k := newCheck(c, ch)
		k.key = fmt.Sprintf("%s#%d", ch.Upstream.Name, rank[ch.Upstream])
		rank[ch.Upstream]++
		c.checks = append(c.checks, k)
	}
	return c
}

// Inherit takes over, before Start, the consecutive passes and failures
// and the verdicts of old, the checker of the configuration a reload
// replaces, for the checks and servers both have: a server two failures
// from unhealthy stays two failures from it. A check is the same when it
// is the same rank among its upstream's checks. As NGINX Plus does, a
// `mandatory` check without `persistent` starts over (its servers are
// "checking" until their first check). Call Inherit after old is closed.
func (c *Checker) Inherit(old *Checker) {
	if old == nil {
		return
	}
	c.seeds = make(map[seedKey]seed)
	old.mu.Lock()
	defer old.mu.Unlock()
	for _, m := range old.members {
		m.mu.Lock()
		for t := range m.targets {
			c.seeds[seedKey{t.k.key, m.s.ID}] = seed{verdict: t.verdict, passes: t.passes, fails: t.fails, reason: t.reason}
		}
		m.mu.Unlock()
	}
}

// Start begins probing. Before it returns, every server of a mandatory
// check is put in the "checking" state, so it takes no traffic until its
// first check completes. The first round starts at once. Start does
// nothing after the first call or after Close; it must not run
// concurrently with Close.
func (c *Checker) Start() {
	if c.ctx.Err() != nil || !c.started.CompareAndSwap(false, true) {
		return
	}
	for _, k := range c.checks {
		for _, s := range k.up.Pool().All() {
			if k.targets[s] == nil {
				k.targets[s] = c.attach(k, s)
			}
		}
	}
	for _, k := range c.checks {
		c.wg.Add(1)
		go k.run(c.ctx)
	}
}

// Close stops every check and waits for the probes in flight, which it
// cancels, so it returns promptly. Servers keep the health they have.
func (c *Checker) Close() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
		for _, k := range c.checks {
			k.transport.CloseIdleConnections()
		}
	})
}

// Mandatory reports whether a mandatory check probes up. Whoever adds a
// server to up at run time (the API) can then put it in "checking" before
// publishing it, so it takes no traffic before its first check even in
// the moments before the check's next round notices it.
func (c *Checker) Mandatory(up *live.Upstream) bool {
	for _, k := range c.checks {
		if k.up == up && k.mandatory {
			return true
		}
	}
	return false
}

// run is a check's scheduler: one round at once, then one per interval.
func (k *check) run(ctx context.Context) {
	defer k.c.wg.Done()
	tick := time.NewTicker(k.interval)
	defer tick.Stop()
	for {
		k.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// round reconciles the check's targets with the upstream's current
// servers and starts a probe of every server not being probed already.
func (k *check) round(ctx context.Context) {
	servers := k.up.Pool().All()
	seen := make(map[*upstream.Server]bool, len(servers))
	for _, s := range servers {
		seen[s] = true
		t := k.targets[s]
		if t == nil {
			t = k.c.attach(k, s)
			k.targets[s] = t
		}
		if !t.busy.CompareAndSwap(false, true) {
			continue // the previous probe is still running
		}
		k.c.wg.Add(1)
		go k.probeOnce(ctx, t)
	}
	for s, t := range k.targets {
		if !seen[s] {
			delete(k.targets, s)
			k.c.detach(t)
		}
	}
}

// probeOnce waits the jitter, probes t's server and records the result.
func (k *check) probeOnce(ctx context.Context, t *target) {
	defer k.c.wg.Done()
	defer t.busy.Store(false)
	if k.jitterMax > 0 {
		if d := k.c.jitter(k.jitterMax); d > 0 {
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
	}
	passed, reason := k.probe(ctx, t.m.s)
	if ctx.Err() != nil {
		return // closing: a cancelled probe says nothing about the server
	}
	k.c.observe(t, passed, reason)
}

// attach starts k's accounting of s. A mandatory check puts the server in
// "checking" at once (unless `persistent` and the server is healthy, as
// NGINX Plus keeps it "up" across a reload); a non-mandatory one keeps
// what the server's health already says.
func (c *Checker) attach(k *check, s *upstream.Server) *target {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[s]
	if m == nil {
		m = &member{s: s, targets: make(map[*target]struct{})}
		c.members[s] = m
	}
	t := &target{k: k, m: m}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sd, ok := c.seeds[seedKey{k.key, s.ID}]; ok && (!k.mandatory || k.persistent) {
		t.verdict, t.passes, t.fails, t.reason = sd.verdict, sd.passes, sd.fails, sd.reason
		m.targets[t] = struct{}{}
		c.apply(m, t)
		return t
	}
	current := s.Health()
	switch {
	case k.mandatory && k.persistent && current == upstream.HealthHealthy:
		t.verdict = upstream.HealthHealthy
	case k.mandatory:
		t.verdict = upstream.HealthChecking
	case current == upstream.HealthHealthy || current == upstream.HealthUnhealthy:
		t.verdict = current
	default:
		t.verdict = upstream.HealthUnknown
	}
	m.targets[t] = struct{}{}
	if k.mandatory {
		c.apply(m, t)
	}
	return t
}

// detach ends the accounting of a target whose server left the upstream.
// The server keeps its health; a probe still in flight is ignored.
func (c *Checker) detach(t *target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := t.m
	m.mu.Lock()
	t.gone = true
	delete(m.targets, t)
	empty := len(m.targets) == 0
	m.mu.Unlock()
	if empty {
		delete(c.members, m.s)
	}
}

// observe records one probe's result: the server's check counters, the
// target's consecutive counts and verdict and, if the verdict changed, the
// server's combined health.
func (c *Checker) observe(t *target, passed bool, reason string) {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.gone {
		return
	}
	m.s.RecordCheck(passed)
	if passed {
		t.passes++
		t.fails = 0
	} else {
		t.fails++
		t.passes = 0
		t.reason = reason
	}
	v := nextVerdict(t.verdict, passed, t.passes, t.fails, t.k.passes, t.k.fails)
	if v == t.verdict {
		return
	}
	t.verdict = v
	c.apply(m, t)
}

// nextVerdict is one check's state machine. needPasses and needFails are
// the directive's passes= and fails=.
func nextVerdict(v upstream.Health, passed bool, passes, fails, needPasses, needFails int) upstream.Health {
	switch v {
	case upstream.HealthChecking:
		// Mandatory: "checking" lasts until the first check completes.
		if passed {
			return upstream.HealthHealthy
		}
		return upstream.HealthUnhealthy
	case upstream.HealthUnhealthy:
		if passed && passes >= needPasses {
			return upstream.HealthHealthy
		}
	default: // unknown (initially considered healthy) or healthy
		if !passed && fails >= needFails {
			return upstream.HealthUnhealthy
		}
		if passed {
			return upstream.HealthHealthy
		}
	}
	return v
}

// combine is the server's health from all its checks' verdicts, as NGINX
// Plus says: "a single failure of any check will make the corresponding
// server be considered unhealthy". Called with m.mu held.
func combine(m *member) upstream.Health {
	checking, all := false, true
	for t := range m.targets {
		switch t.verdict {
		case upstream.HealthUnhealthy:
			return upstream.HealthUnhealthy
		case upstream.HealthChecking:
			checking = true
		case upstream.HealthUnknown:
			all = false
		}
	}
	switch {
	case checking:
		return upstream.HealthChecking
	case all:
		return upstream.HealthHealthy
	}
	return upstream.HealthUnknown
}

// apply sets the server's combined health and logs a transition between
// serving and not serving; cause is the target whose verdict changed.
// Called with m.mu held.
func (c *Checker) apply(m *member, cause *target) {
	old := m.s.Health()
	h := combine(m)
	if !m.s.SetHealth(h, c.now()) {
		return
	}
	attrs := []any{
		slog.String("upstream", cause.k.up.Name),
		slog.String("server", m.s.Addr),
	}
	if cause.k.pos.File != "" {
		attrs = append(attrs, slog.String("health_check", cause.k.pos.String()))
	}
	switch {
	case h == upstream.HealthUnhealthy:
		attrs = append(attrs, slog.String("reason", cause.reason))
		c.log.Warn("upstream server is unhealthy", attrs...)
	case h == upstream.HealthChecking:
		// The initial state of a mandatory check: nothing happened yet.
	case old == upstream.HealthUnhealthy:
		c.log.Info("upstream server is healthy again", attrs...)
		cause.k.up.Queue().Broadcast() // it may take queued requests
	case old == upstream.HealthChecking:
		c.log.Info("upstream server passed its first health check", attrs...)
		cause.k.up.Queue().Broadcast()
	}
}
