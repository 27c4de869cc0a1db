//go:build linux

package h1srv

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/epoll"
)

// idlePoller holds the parked connections of a Server: client connections
// idle for longer than hotIdle, kept without a goroutine or buffers. It
// watches them with an epoll instance of its own, level-triggered and
// one-shot, and hands a connection that becomes readable (a request, or
// the client closing it) back to a new goroutine. The epoll instance is
// itself read through Go's netpoller, so no thread blocks on it.
//
// A parked connection costs its socket, its net.Conn and the conn struct:
// with 10,000 idle keep-alive connections limpet's memory stays where it
// was without them, as nginx's and HAProxy's do.
//
// The timeouts of parked connections (keepalive_timeout, the first
// request's header timeout) are enforced by a sweep every sweepEvery,
// so they end up to sweepEvery late, never early.
type idlePoller struct {
	srv *Server
	set *epoll.Set

	mu     sync.Mutex
	parked map[int32]*conn // by file descriptor
	// oldest and newest end the list of parked connections in the order
	// they parked (linked through conn.parkPrev and parkNext), so the
	// oldest are found without a look at the others.
	oldest, newest *conn
	gen            int32 // tells a connection from an earlier one on the same descriptor
	closed         bool

	sweepEvery time.Duration
	stop       chan struct{}
}

// newIdlePoller starts the poller's two goroutines: one reads the epoll
// instance, one sweeps timed-out connections.
func newIdlePoller(s *Server) (*idlePoller, error) {
	set, err := epoll.New("limpet-idle-epoll")
	if err != nil {
		return nil, err
	}
	p := &idlePoller{
		srv:        s,
		set:        set,
		parked:     make(map[int32]*conn),
		sweepEvery: sweepInterval(s),
		stop:       make(chan struct{}),
	}
	go p.run()
	go p.sweep()
	return p, nil
}

// sweepInterval is a twentieth of the shortest timeout a parked
// connection can have, between 10ms and 1s.
func sweepInterval(s *Server) time.Duration {
	d := time.Second
	set := s.current()
	for _, t := range []time.Duration{set.IdleTimeout, set.ReadHeaderTimeout} {
		if t > 0 && t/20 < d {
			d = t / 20
		}
	}
	return max(d, 10*time.Millisecond)
}

// park hands c, idle and with its buffers released, to the poller until
// it becomes readable or deadline (zero: none) passes. It returns false
// when c cannot be parked; the caller then keeps waiting itself. After
// true, c belongs to the poller: the caller must not touch it again.
func (p *idlePoller) park(c *conn, deadline time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !c.state.CompareAndSwap(stateIdle, stateParked) {
		return false
	}
	p.gen++
	c.parkGen = p.gen
	c.parkDeadline = deadline
	c.parkedAt = clock()
	p.add(c)
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     c.fd,
		Pad:    c.parkGen,
	}
	op := syscall.EPOLL_CTL_MOD
	if !c.registered {
		op = syscall.EPOLL_CTL_ADD
	}
	err := p.set.Ctl(op, c.fd, &ev)
	if err != nil && op == syscall.EPOLL_CTL_MOD && errors.Is(err, syscall.ENOENT) {
		err = p.set.Ctl(syscall.EPOLL_CTL_ADD, c.fd, &ev)
	}
	if err != nil {
		p.drop(c)
		c.state.Store(stateIdle)
		return false
	}
	// The registration stays, disarmed, after the event: the next park
	// re-arms it, and closing the descriptor removes it.
	c.registered = true
	return true
}

// add records c as parked, the newest. The caller holds p.mu.
func (p *idlePoller) add(c *conn) {
	p.parked[c.fd] = c
	c.parkPrev, c.parkNext = p.newest, nil
	if p.newest != nil {
		p.newest.parkNext = c
	} else {
		p.oldest = c
	}
	p.newest = c
}

// drop forgets c, parked. The caller holds p.mu.
func (p *idlePoller) drop(c *conn) {
	delete(p.parked, c.fd)
	if c.parkPrev != nil {
		c.parkPrev.parkNext = c.parkNext
	} else if p.oldest == c {
		p.oldest = c.parkNext
	}
	if c.parkNext != nil {
		c.parkNext.parkPrev = c.parkPrev
	} else if p.newest == c {
		p.newest = c.parkPrev
	}
	c.parkPrev, c.parkNext = nil, nil
}

// parkedCount returns how many connections are parked.
func (p *idlePoller) parkedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// reusable appends to cands up to k of the oldest connections parked
// since before since, for ConnLimit.drain, and returns when the next of
// the others parked (zero if none). It looks at no more connections than
// it returns, and one.
func (p *idlePoller) reusable(cands []idleConn, since time.Time, k int) ([]idleConn, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.oldest
	for ; c != nil && k > 0 && !c.parkedAt.After(since); c, k = c.parkNext, k-1 {
		cands = append(cands, idleConn{p: p, c: c, gen: c.parkGen, parkedAt: c.parkedAt})
	}
	for ; c != nil && !c.parkedAt.After(since); c = c.parkNext {
		// More than k are old enough: the next is one of them.
		return cands, c.parkedAt
	}
	if c != nil {
		return cands, c.parkedAt
	}
	return cands, time.Time{}
}

// evict closes c if it is still parked since it parked as generation
// gen (not woken and parked again since), to free its slot, and reports
// whether it did.
func (p *idlePoller) evict(c *conn, gen int32) bool {
	p.mu.Lock()
	ok := p.parked[c.fd] == c && c.parkGen == gen && c.state.CompareAndSwap(stateParked, stateClosed)
	if ok {
		p.drop(c)
	}
	p.mu.Unlock()
	if ok {
		c.closeParked()
	}
	return ok
}

// run reads the epoll instance until the poller is closed. The netpoller
// watches the instance edge-triggered, so each wake-up drains it. Should
// reading it fail otherwise, the poller closes: its parked connections
// are closed (their clients reconnect) and none parks from then on.
func (p *idlePoller) run() {
	defer func() {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if !closed {
			p.srv.logf("h1srv: the idle connections' epoll instance failed; idle connections keep their goroutines from now on")
			p.close()
		}
	}()
	p.set.Run(func(ev syscall.EpollEvent) { p.wake(ev.Fd, ev.Pad) })
}

// wake gives the connection parked on fd, if still the one of generation
// gen, a goroutine to read its request.
func (p *idlePoller) wake(fd, gen int32) {
	p.mu.Lock()
	c := p.parked[fd]
	if c == nil || c.parkGen != gen {
		p.mu.Unlock()
		return
	}
	p.drop(c)
	ok := c.state.CompareAndSwap(stateParked, stateActive)
	p.mu.Unlock()
	if ok {
		go c.serve(true)
	}
}

// sweep closes the parked connections whose timeout has passed.
func (p *idlePoller) sweep() {
	t := time.NewTicker(p.sweepEvery)
	defer t.Stop()
	var expired []*conn
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			for _, c := range p.parked {
				if !c.parkDeadline.IsZero() && now.After(c.parkDeadline) &&
					c.state.CompareAndSwap(stateParked, stateClosed) {
					p.drop(c)
					expired = append(expired, c)
				}
			}
			p.mu.Unlock()
			for i, c := range expired {
				c.closeParked()
				expired[i] = nil
			}
			expired = expired[:0]
		}
	}
}

// closeAll closes every parked connection, for Shutdown and Close.
func (p *idlePoller) closeAll() {
	p.mu.Lock()
	var all []*conn
	for _, c := range p.parked {
		if c.state.CompareAndSwap(stateParked, stateClosed) {
			p.drop(c)
			all = append(all, c)
		}
	}
	p.mu.Unlock()
	for _, c := range all {
		c.closeParked()
	}
}

// close closes the parked connections and stops the poller.
func (p *idlePoller) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	p.closeAll()
	_ = p.set.Close()
}

// connFD returns the descriptor of a TCP connection, or -1 when it has
// none that can be parked.
func connFD(c any) int32 {
	// A wrapper of a connection may hold bytes of its own that epoll
	// cannot see: only plain TCP connections park.
	sc, ok := c.(*net.TCPConn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := int32(-1)
	_ = rc.Control(func(f uintptr) { fd = int32(f) })
	return fd
}
