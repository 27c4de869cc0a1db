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
	// Weight is the configured weight (at least 1).
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

	down     atomic.Bool  // marked down by configuration (or, later, the API)
	active   atomic.Int64 // requests in flight to this server
	requests atomic.Int64 // requests sent, all time
	failures atomic.Int64 // failed attempts, all time

	// unavailableUntil is the UnixNano time before which the server is
	// skipped after reaching MaxFails; 0 when available.
	unavailableUntil atomic.Int64

	// failMu guards the failure window below; it is taken only when an
	// attempt to this server has failed or when a server with failures
	// succeeds, never on the ordinary request path.
	failMu      sync.Mutex
	windowFails int       // failures counted in the current window
	windowStart time.Time // when the current window started
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

// Available reports whether the server may receive requests at now: it is
// not marked down and not within a failure timeout.
func (s *Server) Available(now time.Time) bool {
	if s.down.Load() {
		return false
	}
	until := s.unavailableUntil.Load()
	return until == 0 || now.UnixNano() >= until
}

// Failed reports whether the server is currently skipped because of
// failures (as opposed to being marked down).
func (s *Server) Failed(now time.Time) bool {
	until := s.unavailableUntil.Load()
	return until != 0 && now.UnixNano() < until
}

// Active returns the number of requests in flight to the server.
func (s *Server) Active() int64 { return s.active.Load() }

// Requests returns the number of requests sent to the server so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Failures returns the number of failed attempts to the server so far.
func (s *Server) Failures() int64 { return s.failures.Load() }

// Begin records the start of an attempt to the server. Every Begin is
// paired with exactly one End.
func (s *Server) Begin() {
	s.active.Add(1)
	s.requests.Add(1)
}

// End records the end of an attempt started with Begin.
func (s *Server) End() { s.active.Add(-1) }

// RecordFailure counts a failed attempt at now, with nginx's semantics: the
// failures of one fail_timeout window are counted, and reaching max_fails
// makes the server unavailable for fail_timeout. It reports whether this
// failure made the server unavailable, so the caller can log the
// transition once.
func (s *Server) RecordFailure(now time.Time) (becameUnavailable bool) {
	s.failures.Add(1)
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
	return wasAvailable
}

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
	if !s.Failed(now) {
		s.unavailableUntil.Store(0)
		s.windowFails = 0
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
}
