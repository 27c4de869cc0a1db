package upstream

import (
	"sync/atomic"
	"time"
)

// Stats are a server's counters, written by the proxy and the health
// checks with atomics and read by the API, the metrics and the dashboard:
// one source for all three, so they never disagree.
type Stats struct {
	responses [5]atomic.Int64 // responses by class, 1xx to 5xx
	unavail   atomic.Int64    // times the server became unavailable after max_fails

	checks          atomic.Int64 // active health checks made
	checkFails      atomic.Int64 // of which failed
	unhealthy       atomic.Int64 // times the server became unhealthy
	lastCheckResult atomic.Int32 // 0 none yet, 1 passed, 2 failed

	downStart atomic.Int64 // UnixNano when the current downtime began; 0 while up
	downtime  atomic.Int64 // nanoseconds of downtime in finished periods

	selected   atomic.Int64 // UnixNano of the last time the server was chosen
	pinned     atomic.Int64 // requests of users pinned to the server (sticky hits)
	pinnedLast atomic.Int64 // UnixNano of the last such request
}

// markDown starts a downtime period at now unless one is running.
func (st *Stats) markDown(now time.Time) {
	st.downStart.CompareAndSwap(0, now.UnixNano())
}

// markUp ends the running downtime period, at until when that is a real
// time before now (a failure timeout that ran out unobserved), else at
// now.
func (st *Stats) markUp(until int64, now time.Time) {
	start := st.downStart.Load()
	if start == 0 {
		return
	}
	end := now.UnixNano()
	if until > start && until < end {
		end = until
	}
	if st.downStart.CompareAndSwap(start, 0) && end > start {
		st.downtime.Add(end - start)
	}
}

// RecordResponse counts an upstream response by its status class.
func (s *Server) RecordResponse(status int) {
	st := s.st()
	if c := status/100 - 1; c >= 0 && c < len(st.responses) {
		st.responses[c].Add(1)
	}
}

// RecordSelected notes that the server was chosen for a request at now.
func (s *Server) RecordSelected(now time.Time) { s.st().selected.Store(now.UnixNano()) }

// RecordPinned counts a request of a user pinned to the server, so an
// operator draining it sees whether its users are still around.
func (s *Server) RecordPinned(now time.Time) {
	s.st().pinned.Add(1)
	s.st().pinnedLast.Store(now.UnixNano())
}

// RecordCheck counts an active health check and its result.
func (s *Server) RecordCheck(passed bool) {
	s.st().checks.Add(1)
	if passed {
		s.st().lastCheckResult.Store(1)
		return
	}
	s.st().checkFails.Add(1)
	s.st().lastCheckResult.Store(2)
}

// Snapshot is a copy of a server's counters at one moment.
type Snapshot struct {
	// Responses by class: [0] is 1xx ... [4] is 5xx.
	Responses [5]int64
	Requests  int64 // attempts sent
	Fails     int64 // failed attempts
	Unavail   int64 // times skipped after max_fails
	Active    int64 // requests in flight

	Checks     int64 // active health checks made
	CheckFails int64 // of which failed
	Unhealthy  int64 // times the server became unhealthy
	// LastCheckPassed is nil before the first check.
	LastCheckPassed *bool

	// Downtime is the total time spent unavailable, unhealthy or
	// checking, the running period included.
	Downtime time.Duration
	// DownStart is when the running downtime began; zero while up.
	DownStart time.Time
	// Selected is when the server was last chosen; zero if never.
	Selected time.Time

	// Pinned counts requests of users pinned to the server; PinnedLast is
	// the time of the last one (zero if none).
	Pinned     int64
	PinnedLast time.Time
}

// Snapshot returns the server's counters at now.
func (s *Server) Snapshot(now time.Time) Snapshot {
	// Closing a downtime period that ended unobserved (a fail_timeout
	// that ran out) is State's job; do it first so downtime never counts
	// past the end of the period.
	_ = s.State(now)
	st := s.st()
	snap := Snapshot{
		Requests:   s.c().requests.Load(),
		Fails:      s.c().failures.Load(),
		Unavail:    st.unavail.Load(),
		Active:     s.c().active.Load(),
		Checks:     st.checks.Load(),
		CheckFails: st.checkFails.Load(),
		Unhealthy:  st.unhealthy.Load(),
		Downtime:   time.Duration(st.downtime.Load()),
		Selected:   unixNano(st.selected.Load()),
		Pinned:     st.pinned.Load(),
		PinnedLast: unixNano(st.pinnedLast.Load()),
	}
	for i := range st.responses {
		snap.Responses[i] = st.responses[i].Load()
	}
	switch st.lastCheckResult.Load() {
	case 1:
		snap.LastCheckPassed = new(true)
	case 2:
		snap.LastCheckPassed = new(false)
	}
	if start := st.downStart.Load(); start != 0 {
		snap.DownStart = time.Unix(0, start)
		snap.Downtime += now.Sub(snap.DownStart)
	}
	return snap
}

func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
