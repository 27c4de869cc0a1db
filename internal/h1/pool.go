package h1

import (
	"slices"
	"sync"
	"time"
)

// surplusGrace is how long an idle connection beyond a pool's limit is
// kept before it is closed. Closing it at once, as nginx does, makes a load
// whose concurrency wavers around the limit open and close connections all
// the time (about 1% of requests paid a connect and a close, and 11% more
// CPU, with bench/run's 50 clients on two servers and the limit of 32);
// kept a moment, they serve the next peak. HAProxy purges its surplus
// idle connections gradually too (pool-purge-delay).
const surplusGrace = time.Second

// hostPool holds the idle connections to one address.
//
// It is a stack: the connection idle for the shortest time is taken first,
// so under load a few connections stay busy and the rest age out. Because
// connections are pushed in the order they became idle, the slice is sorted
// by idle time, oldest first, and expired connections are always a prefix.
// Beyond max, the oldest are closed once idle for grace (surplusGrace);
// beyond twice max, at once.
type hostPool struct {
	addr    string
	tls     bool          // its connections are TLS ones (Options.TLS)
	name    string        // the name they were made for (Options.TLSName or a Forward's)
	max     int           // idle connections kept at most, beyond a moment
	timeout time.Duration // idle connections older than this are closed
	grace   time.Duration // how long connections beyond max are kept

	// mu guards idle, the timers and their flags.
	mu   sync.Mutex
	idle []*conn // oldest first; taken from the end
	// timer closes expired connections; armed tells whether it is
	// pending, which it is whenever idle is not empty.
	timer *time.Timer
	armed bool
	// trimTimer closes the surplus; trimArmed tells whether it is
	// pending, which it is whenever idle holds more than max.
	trimTimer *time.Timer
	trimArmed bool
}

// get takes the most recently idle connection, or returns nil. An expired
// connection is closed rather than returned; the older ones go with the
// next sweep, which is due. now is the current time.
func (p *hostPool) get(now time.Time) *conn {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	c := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.mu.Unlock()
	if now.Sub(c.idleAt) >= p.timeout {
		c.closeNow()
		return nil
	}
	return c
}

// put makes c idle, or closes it when the pool keeps none or holds twice
// its limit already (the surplus a burst leaves is bounded too, for
// servers that spend a worker on each connection), or when the server has
// closed it. now is the current time, when c went idle.
func (p *hostPool) put(c *conn, now time.Time) {
	c.idleAt = now
	p.mu.Lock()
	// Under the lock: the close watcher marks c before it looks for it
	// here (see closeWatcher.closed).
	if p.max <= 0 || len(p.idle) >= 2*p.max || c.peerClosed() {
		p.mu.Unlock()
		c.closeNow()
		return
	}
	p.idle = append(p.idle, c)
	if len(p.idle) > p.max && !p.trimArmed {
		p.trimArmed = true
		if p.trimTimer == nil {
			p.trimTimer = time.AfterFunc(p.grace, p.trim)
		} else {
			p.trimTimer.Reset(p.grace)
		}
	}
	if !p.armed {
		p.armed = true
		if p.timer == nil {
			p.timer = time.AfterFunc(p.timeout, p.sweep)
		} else {
			p.timer.Reset(p.timeout)
		}
	}
	p.mu.Unlock()
}

// remove takes c out of the idle connections, keeping their order, and
// reports whether it was there (whether c was idle).
func (p *hostPool) remove(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.idle, c)
	if i < 0 {
		return false
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	return true
}

// sweep closes the expired connections and sets the timer for the oldest
// one left.
func (p *hostPool) sweep() {
	now := time.Now()
	p.mu.Lock()
	i := 0
	for i < len(p.idle) && now.Sub(p.idle[i].idleAt) >= p.timeout {
		i++
	}
	expired := slices.Clone(p.idle[:i])
	n := copy(p.idle, p.idle[i:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	if n > 0 {
		p.timer.Reset(p.idle[0].idleAt.Add(p.timeout).Sub(now))
	} else {
		p.armed = false
	}
	p.mu.Unlock()
	for _, c := range expired {
		c.closeNow()
	}
}

// trim closes the oldest connections beyond max that have been idle for
// grace, and sets its timer again while a surplus is left.
func (p *hostPool) trim() {
	now := time.Now()
	p.mu.Lock()
	i := 0
	for i < len(p.idle)-p.max && now.Sub(p.idle[i].idleAt) >= p.grace {
		i++
	}
	surplus := slices.Clone(p.idle[:i])
	n := copy(p.idle, p.idle[i:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	switch {
	case n > p.max && p.trimTimer != nil:
		p.trimTimer.Reset(p.idle[0].idleAt.Add(p.grace).Sub(now))
	case n <= p.max:
		p.trimArmed = false
	}
	p.mu.Unlock()
	for _, c := range surplus {
		c.closeNow()
	}
}

// closeIdle closes every idle connection.
func (p *hostPool) closeIdle() {
	p.mu.Lock()
	idle := slices.Clone(p.idle)
	clear(p.idle)
	p.idle = p.idle[:0]
	p.mu.Unlock()
	for _, c := range idle {
		c.closeNow()
	}
}

// len returns the number of idle connections.
func (p *hostPool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}
