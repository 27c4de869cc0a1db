// Package upstream holds the live backend servers of limpet: their stable
// identity, their configuration and the counters and state the proxy updates
// on every request.
//
// A Server is shared by every request that may reach it, so everything that
// changes at run time is an atomic: the request path takes no lock here.
// Only failure accounting, which runs when a request to the server failed,
// takes the server's own small mutex.
package upstream

import (
	"crypto/md5"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// Server is one backend server of an upstream.
type Server struct {
	// ID identifies the server stably: the hex MD5 of its "ip:port" (what
	// nginx writes in its sticky cookie) or its route= string. It does not
	// depend on the server's position in the list, so cookies survive
	// reloads and edits of the configuration.
	ID string
	// Name is the address as written in the configuration.
	Name string
	// Addr is the resolved "ip:port" limpet connects to.
	Addr string
	// Weight is the weight (at least 1). It is read when balancers are
	// built and changed only by the owner of the server's upstream while
	// it rebuilds them (see live.Upstream.Update), never on the request
	// path.
	Weight int
	// MaxFails is the number of failures within FailTimeout that make the
	// server unavailable for FailTimeout; 0 disables the accounting.
	MaxFails int
	// FailTimeout is both the window in which failures are counted and the
	// time the server then stays unavailable.
	FailTimeout time.Duration
	// Backup servers are used only when no primary server is available.
	Backup bool
	// Route is the configured route= string, or "".
	Route string
	// SlowStart is the time over which the weight ramps up from nearly
	// zero after the server recovers (slow_start=); 0 disables it.
	SlowStart time.Duration
	// APIID is the server's number in the runtime API, unique within its
	// upstream and never reused, as NGINX Plus numbers its peers.
	APIID int
	// MaxConns is max_conns=: the most requests in flight to the server
	// at once; a server at the bound takes no new request (Acquire). 0,
	// the default, means no bound. Like MaxFails it is read on the
	// request path without a lock, so it is set before the server is
	// published and never changed after.
	MaxConns int

	// inherited is set by Inherit, before the server is published.
	inherited bool

	down     atomic.Bool  // marked down by configuration or the API
	draining atomic.Bool  // keeps pinned users, takes no new ones
	health   atomic.Int32 // a Health, written by active health checks
	own      counts
	// shared is the counts and stats of the server this one inherited
	// from (Inherit), nil otherwise.
	shared *shared

	// unavailableUntil is the UnixNano time before which the server is
	// skipped after reaching MaxFails; 0 when available.
	unavailableUntil atomic.Int64

	// recoveredAt is the UnixNano time the server last recovered, while
	// its slow start ramp runs; 0 otherwise.
	recoveredAt atomic.Int64

	stats Stats // own; see shared

	// failMu guards the failure window below; it is taken only when an
	// attempt to this server has failed or when a server with failures
	// succeeds, never on the ordinary request path.
	failMu      sync.Mutex
	windowFails int       // failures counted in the current window
	windowStart time.Time // when the current window started
}

// counts are a server's attempts: in flight, sent, failed.
type counts struct {
	active   atomic.Int64 // requests in flight to this server
	requests atomic.Int64 // requests sent, all time
	failures atomic.Int64 // failed attempts, all time
}

// shared is what a Server that replaces another on a reload shares with
// it: the requests still in flight on the old one end on the counter the
// new one's max_conns and least_conn read, and their responses count
// where the API and the metrics look.
type shared struct {
	counts *counts
	stats  *Stats
}

// c returns the server's counts, its own or those it shares.
func (s *Server) c() *counts {
	if s.shared != nil {
		return s.shared.counts
	}
	return &s.own
}

// st returns the server's stats, its own or those it shares.
func (s *Server) st() *Stats {
	if s.shared != nil {
		return s.shared.stats
	}
	return &s.stats
}

// IDFor returns the stable identity of a server: its route if it has one,
// otherwise the lower-case hex MD5 of its "ip:port" address, exactly as
// NGINX Plus computes its sticky cookie value.
func IDFor(addr, route string) string {
	if route != "" {
		return route
	}
	sum := md5.Sum([]byte(addr))
	return hex.EncodeToString(sum[:])
}

// SetDown marks the server down (true) or up (false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Down reports whether the server is marked down.
func (s *Server) Down() bool { return s.down.Load() }

// SetDraining puts the server in draining (true) or takes it out (false).
// A draining server keeps serving the users pinned to it and gets no new
// ones, so it can be stopped once they are gone.
func (s *Server) SetDraining(draining bool) { s.draining.Store(draining) }

// Draining reports whether the server is draining.
func (s *Server) Draining() bool { return s.draining.Load() }

// Available reports whether the server may serve requests at now: not
// marked down, not within a failure timeout, not failing its health
// checks. Users pinned to it may go on using it even while it drains.
func (s *Server) Available(now time.Time) bool {
	if s.down.Load() {
		return false
	}
	if h := Health(s.health.Load()); h == HealthUnhealthy || h == HealthChecking {
		return false
	}
	until := s.unavailableUntil.Load()
	return until == 0 || now.UnixNano() >= until
}

// AcceptsNew reports whether the server may be given new users at now:
// it is available and not draining.
func (s *Server) AcceptsNew(now time.Time) bool {
	return !s.draining.Load() && s.Available(now)
}

// Failed reports whether the server is currently skipped because of
// failures (as opposed to being marked down).
func (s *Server) Failed(now time.Time) bool {
	until := s.unavailableUntil.Load()
	return until != 0 && now.UnixNano() < until
}

// The states of the NGINX Plus API, which limpet's API, metrics and
// dashboard report.
const (
	StateUp        = "up"
	StateDraining  = "draining"
	StateDown      = "down"
	StateUnavail   = "unavail"
	StateChecking  = "checking"
	StateUnhealthy = "unhealthy"
)

// State returns the server's state at now in the NGINX Plus API's words:
// "down" (marked down), "unhealthy" (failing active health checks),
// "checking" (a mandatory check has not passed yet), "unavail" (skipped
// after max_fails), "draining", or "up".
func (s *Server) State(now time.Time) string {
	switch {
	case s.down.Load():
		return StateDown
	case Health(s.health.Load()) == HealthUnhealthy:
		return StateUnhealthy
	case Health(s.health.Load()) == HealthChecking:
		return StateChecking
	case s.Failed(now):
		return StateUnavail
	}
	s.st().markUp(s.unavailableUntil.Load(), now)
	if s.draining.Load() {
		return StateDraining
	}
	return StateUp
}

// Health is what active health checks say of a server.
type Health int32

// The health states.
const (
	// HealthUnknown: no active check runs, or none has finished and the
	// check is not mandatory; the server is used.
	HealthUnknown Health = iota
	// HealthChecking: a mandatory check has not passed yet; the server
	// is not used.
	HealthChecking
	// HealthHealthy: the checks pass.
	HealthHealthy
	// HealthUnhealthy: the checks fail; the server is not used.
	HealthUnhealthy
)

// Health returns what active health checks say of the server.
func (s *Server) Health() Health { return Health(s.health.Load()) }

// SetHealth records the health checks' verdict at now and reports
// whether it changed, so the caller logs transitions only. A server that
// comes back from unhealthy or checking starts its slow start ramp.
func (s *Server) SetHealth(h Health, now time.Time) (changed bool) {
	old := Health(s.health.Swap(int32(h)))
	if old == h {
		return false
	}
	switch {
	case h == HealthUnhealthy || h == HealthChecking:
		s.st().markDown(now)
		if h == HealthUnhealthy {
			s.st().unhealthy.Add(1)
		}
	case old == HealthUnhealthy || old == HealthChecking:
		s.st().markUp(0, now)
		s.startSlowStart(now)
	}
	return true
}

// startSlowStart begins the weight ramp of a server that just recovered.
func (s *Server) startSlowStart(now time.Time) {
	if s.SlowStart > 0 {
		s.recoveredAt.Store(now.UnixNano())
	}
}

// RampWeight returns weight as slow start allows it now: it grows
// linearly from a tenth (at least 1) to the full weight over SlowStart
// after a recovery, as nginx's slow_start does. Without a ramp running it
// returns weight at the cost of one atomic load.
func (s *Server) RampWeight(weight int64) int64 {
	since := s.recoveredAt.Load()
	if since == 0 {
		return weight
	}
	elapsed := time.Now().UnixNano() - since
	if elapsed >= int64(s.SlowStart) || elapsed < 0 {
		s.recoveredAt.CompareAndSwap(since, 0)
		return weight
	}
	return max(1, weight/10, weight*elapsed/int64(s.SlowStart))
}

// Active returns the number of requests in flight to the server.
func (s *Server) Active() int64 { return s.c().active.Load() }

// Requests returns the number of requests sent to the server so far.
func (s *Server) Requests() int64 { return s.c().requests.Load() }

// Failures returns the number of failed attempts to the server so far.
func (s *Server) Failures() int64 { return s.c().failures.Load() }

// Begin records the start of an attempt to the server, whatever its
// max_conns. Every Begin is paired with exactly one End.
func (s *Server) Begin() {
	s.c().active.Add(1)
	s.c().requests.Add(1)
}

// Full reports whether the server is at its max_conns: as many requests
// in flight as it may take. Without max_conns it is one branch on an int.
func (s *Server) Full() bool {
	return s.MaxConns > 0 && s.c().active.Load() >= int64(s.MaxConns)
}

// Acquire takes one of the server's request slots, reporting false when
// the server is Full. The check and the count are one compare-and-swap,
// so concurrent requests never take more than MaxConns slots between
// them; without max_conns it is the atomic add of Begin. An acquired slot
// is given back by End, and the attempt sent on it is counted by
// BeginAcquired.
func (s *Server) Acquire() bool {
	if s.MaxConns == 0 {
		s.c().active.Add(1)
		return true
	}
	for {
		n := s.c().active.Load()
		if n >= int64(s.MaxConns) {
			return false
		}
		if s.c().active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// BeginAcquired records the start of an attempt on a slot Acquire took.
func (s *Server) BeginAcquired() { s.c().requests.Add(1) }

// End records the end of an attempt started with Begin, or gives back a
// slot taken by Acquire.
func (s *Server) End() { s.c().active.Add(-1) }

// RecordFailure counts a failed attempt at now, with nginx's semantics: the
// failures of one fail_timeout window are counted, and reaching max_fails
// makes the server unavailable for fail_timeout. It reports whether this
// failure made the server unavailable, so the caller can log the
// transition once.
func (s *Server) RecordFailure(now time.Time) (becameUnavailable bool) {
	s.c().failures.Add(1)
	if s.MaxFails == 0 {
		return false
	}
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.windowFails == 0 || now.Sub(s.windowStart) > s.FailTimeout {
		s.windowFails = 0
		s.windowStart = now
	}
	s.windowFails++
	if s.windowFails < s.MaxFails {
		return false
	}
	wasAvailable := !s.Failed(now)
	s.unavailableUntil.Store(now.Add(s.FailTimeout).UnixNano())
	if wasAvailable {
		s.st().unavail.Add(1)
		s.st().markDown(now)
	}
	return wasAvailable
}

// CountFailure counts a failed attempt without failure accounting, for a
// server that is never skipped (the lone server of an upstream).
func (s *Server) CountFailure() { s.c().failures.Add(1) }

// RecordSuccess notes a successful attempt at now. A success after the
// failure timeout has passed makes the server fully available again and
// forgets its failures, as nginx does.
func (s *Server) RecordSuccess(now time.Time) {
	if s.unavailableUntil.Load() == 0 {
		// Common case: nothing to forget. Reading windowFails needs
		// the lock, so a stale window is reset by the next failure
		// instead (its start is older than FailTimeout by then).
		return
	}
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if until := s.unavailableUntil.Load(); until != 0 && !s.Failed(now) {
		s.unavailableUntil.Store(0)
		s.windowFails = 0
		s.st().markUp(until, now)
		s.startSlowStart(now)
	}
}

// ResetFailures makes a server that was skipped after failures available
// again at once. nginx does this to every server of an upstream when all of
// them have failed ("no live upstreams"), so that one bad moment does not
// keep a whole upstream away for fail_timeout.
func (s *Server) ResetFailures() {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.unavailableUntil.Store(0)
	s.windowFails = 0
	s.st().markUp(0, time.Now())
}

// Inherit gives s, a new Server built from a reloaded configuration, the
// run-time state of old, the server of the same identity that it
// replaces because a parameter limpet reads without a lock (max_fails,
// fail_timeout, slow_start, max_conns, backup) changed: its API number, down and
// drain, health, failure window, slow start ramp and every counter, so a
// reload is invisible to its users and a counter never goes backwards.
// Requests in flight to old finish on old and are counted there. Call it
// before s is published.
func (s *Server) Inherit(old *Server) {
	s.APIID = old.APIID
	s.inherited = true
	s.down.Store(old.down.Load())
	s.draining.Store(old.draining.Load())
	s.health.Store(old.health.Load())
	s.shared = &shared{counts: old.c(), stats: old.st()}
	s.unavailableUntil.Store(old.unavailableUntil.Load())
	s.recoveredAt.Store(old.recoveredAt.Load())
	old.failMu.Lock()
	s.windowFails, s.windowStart = old.windowFails, old.windowStart
	old.failMu.Unlock()
}

// Inherited reports whether s took over the state of a server it
// replaced (Inherit), and so keeps its API number and health.
func (s *Server) Inherited() bool { return s.inherited }
