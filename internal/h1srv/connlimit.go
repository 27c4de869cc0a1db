package h1srv

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimit caps the client connections of the Servers that share it:
// limpet's worker_connections, one for the whole process, across all its
// listeners.
//
// A connection holds a slot from its accept to its close, idle or parked
// included; a hijacked one until its handler returns (limpet's upgrade
// proxy returns when the upgraded connection ends). Taking and freeing a
// slot is an atomic operation, once per connection; nothing is counted
// per request.
//
// When no slot is free, the accept loop that holds a new connection
// waits, without reading it, until one is; until then it accepts nothing
// more, so further connections wait in the kernel's listen backlog, their
// handshake done (nginx, at its worker_connections, accepts and closes
// them; it stops accepting only when out of descriptors). Established
// connections keep being served. Each accept loop so waiting holds one
// connection beyond the limit, accepted and not yet counted.
//
// Idle connections are reused as nginx's ngx_drain_connections reuses
// them: when at most a sixteenth of the slots are free, accepting a
// connection first closes max(min(32, idle/8), 1) idle connections, the
// longest idle first, and an accept loop waiting for a slot does the
// same as connections become idle enough. Unlike nginx, which reuses a
// keep-alive connection as soon as its response is sent, a connection is
// reused only once parked (idle between two requests, or before the
// first) for reuseIdle, a second: a keep-alive client whose requests
// follow each other closer than that, or that a loaded machine delays
// for a moment, keeps its connection however short of slots limpet is.
// A connection that has sent part of a request is never closed for this.
// Without parking (NoParking, or not Linux) no connection is reused.
type ConnLimit struct {
	max     atomic.Int64 // set by NewConnLimit and SetMax
	n       atomic.Int64 // slots held
	waiting atomic.Int32 // accept loops waiting for a slot
	// strained is set while an episode of shortage lasts: from the
	// first accept that found no slot until one finds more than the
	// reserve free. It keeps the warning to one line per episode.
	strained atomic.Bool
	reusing  atomic.Bool // the same, for the reuse of idle connections

	// mu guards the fields below. It is taken when a slot is freed
	// while an accept loop waits, and by the accept loops near or at
	// the cap; never per request.
	mu      sync.Mutex
	changed chan struct{} // closed when a slot is freed, for the waiting loops
	servers map[*Server]struct{}

	// hook, when set (by tests), is told of "wait" (an accept loop
	// starts waiting for a slot) and "take" (a connection got one).
	hook func(event string)
}

// NewConnLimit returns a limit of n connections (at least 1), to share
// between Servers through their Limit field.
func NewConnLimit(n int) *ConnLimit {
	l := &ConnLimit{servers: make(map[*Server]struct{})}
	l.max.Store(int64(max(n, 1)))
	return l
}

// Max returns the number of connections allowed.
func (l *ConnLimit) Max() int { return int(l.max.Load()) }

// SetMax changes the number of connections allowed (at least 1), as a
// reload's worker_connections does. A larger limit lets the accept loops
// waiting for a slot take one at once; under a smaller one, the
// connections open are not closed, and new ones wait until enough of
// them have (the idle ones are reused first, as at the limit).
func (l *ConnLimit) SetMax(n int) {
	l.max.Store(int64(max(n, 1)))
	l.notify()
}

// Active returns the number of connections open now, those waiting in an
// accept loop not included.
func (l *ConnLimit) Active() int { return int(l.n.Load()) }

// reserve is how few free slots make accepting reuse idle connections:
// nginx's connection_n/16.
func (l *ConnLimit) reserve() int64 { return l.max.Load() / 16 }

// register makes s's idle connections candidates for reuse.
func (l *ConnLimit) register(s *Server, add bool) {
	l.mu.Lock()
	if add {
		l.servers[s] = struct{}{}
	} else {
		delete(l.servers, s)
	}
	l.mu.Unlock()
}

// tryTake takes a slot if one is free.
func (l *ConnLimit) tryTake() bool {
	for {
		n := l.n.Load()
		if n >= l.max.Load() {
			return false
		}
		if l.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release frees a slot, waking the accept loops that wait for one.
func (l *ConnLimit) release() {
	l.n.Add(-1)
	// The waiting loop counts itself before it looks at n, so either it
	// sees this slot free or this sees it waiting.
	if l.waiting.Load() > 0 {
		l.notify()
	}
}

// notify wakes the waiting accept loops.
func (l *ConnLimit) notify() {
	l.mu.Lock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	l.mu.Unlock()
}

// acquire takes a slot for a connection s has just accepted, waiting for
// one when none is free. It returns false when s shuts down meanwhile.
func (l *ConnLimit) acquire(s *Server) bool {
	if l.max.Load()-l.n.Load() > l.reserve() && l.tryTake() {
		// Plenty of room: an episode of shortage, if any, is over.
		if l.strained.Load() {
			l.strained.Store(false)
		}
		if l.reusing.Load() {
			l.reusing.Store(false)
		}
		l.took()
		return true
	}
	// Short of slots: reuse idle connections first, as nginx does.
	if closed, _ := l.drain(s); closed > 0 && l.tryTake() {
		l.took()
		return true
	}
	if l.tryTake() {
		l.took()
		return true
	}
	return l.wait(s)
}

func (l *ConnLimit) took() {
	if l.hook != nil {
		l.hook("take")
	}
}

// reuseIdle is how long a connection must have been parked before it is
// closed to make room for a new one.
const reuseIdle = time.Second

// wait waits for a free slot, reusing connections as they have been idle
// for long enough.
func (l *ConnLimit) wait(s *Server) bool {
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	if l.strained.CompareAndSwap(false, true) {
		s.logf("%d worker_connections are not enough", l.max.Load())
	}
	if l.hook != nil {
		l.hook("wait")
	}
	done := s.doneChan()
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		l.mu.Lock()
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		if l.tryTake() {
			l.took()
			return true
		}
		// Closing a parked connection frees its slot at once; another
		// accept loop may have taken it, and there may be more.
		closed, next := l.drain(s)
		if closed > 0 {
			continue
		}
		// Look again when the next parked connection has been idle
		// for long enough, or in a while for those parking meanwhile.
		again := reuseIdle
		if !next.IsZero() {
			again = max(time.Until(next.Add(reuseIdle)), time.Millisecond)
		}
		if retry == nil {
			retry = time.NewTimer(again)
		} else {
			retry.Reset(again)
		}
		select {
		case <-changed:
		case <-retry.C:
		case <-done:
			return false
		}
	}
}

// maxReuse is the most idle connections one drain closes, nginx's 32.
const maxReuse = 32

// drain closes connections of the Servers sharing l that have been parked
// for reuseIdle, to make room: max(min(32, idle/8), 1) of them as nginx
// does, the longest idle first. It returns how many it closed, and when
// the next of the others parked (zero if none).
func (l *ConnLimit) drain(s *Server) (closed int, next time.Time) {
	l.mu.Lock()
	servers := make([]*Server, 0, len(l.servers))
	for srv := range l.servers {
		servers = append(servers, srv)
	}
	l.mu.Unlock()

	// nginx closes max(min(32, n/8), 1) of its n reusable connections,
	// the longest idle first: here of those parked, taken from the front
	// of each poller's list, so the work is that of the few closed, not
	// of all that are parked.
	var pollers []*idlePoller
	parked := 0
	for _, srv := range servers {
		if p := srv.idle.Load(); p != nil {
			pollers = append(pollers, p)
			parked += p.parkedCount()
		}
	}
	k := max(min(maxReuse, parked/8), 1)
	since := time.Now().Add(-reuseIdle)
	var buf [maxReuse]idleConn
	cands := buf[:0]
	for _, p := range pollers {
		var n time.Time
		cands, n = p.reusable(cands, since, k)
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	if len(cands) == 0 {
		return 0, next
	}
	slices.SortFunc(cands, func(a, b idleConn) int { return a.parkedAt.Compare(b.parkedAt) })
	for _, ic := range cands {
		if closed == k {
			break
		}
		if ic.p.evict(ic.c, ic.gen) {
			closed++
		}
	}
	if closed > 0 && l.reusing.CompareAndSwap(false, true) {
		s.logf("%d worker_connections are not enough, reusing connections", l.max.Load())
	}
	return closed, next
}

// idleConn is a parked connection that may be reused, with the poller
// that holds it.
type idleConn struct {
	p        *idlePoller
	c        *conn
	gen      int32 // c's parking generation when it was found
	parkedAt time.Time
}

// freeSlot gives back the connection's slot, once, when it ends.
func (c *conn) freeSlot() {
	if l := c.limit; l != nil {
		c.limit = nil
		l.release()
	}
}

// doneChan returns a channel closed when s shuts down or closes.
func (s *Server) doneChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.inShutdown.Load() {
			close(s.done)
		}
	}
	return s.done
}

// markDone closes the channel of doneChan, once, for Shutdown and Close,
// and withdraws s's idle connections from reuse by other Servers: they
// are closed by s itself from now on.
func (s *Server) markDone() {
	if s.Limit != nil {
		s.Limit.register(s, false)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}
