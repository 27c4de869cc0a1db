//go:build linux

package h1

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/limpet-lb/limpet/internal/epoll"
)

// closeWatcher notices when servers close pooled connections. No goroutine
// reads an idle connection, so without it a connection the server closed
// (its keep-alive timeout, a restart, a crash) would stay open on limpet's
// side, in CLOSE_WAIT, until it is next taken (the probe finds it then) or
// its idle timeout ends it, up to a minute later: a descriptor held for
// nothing, per connection, and a pool that looks fuller than it is.
//
// One epoll instance for the process watches every connection h1 dials,
// from its dialing to its close, for the server's FIN or reset only
// (EPOLLRDHUP, edge-triggered): a response arriving is no event, so the
// request path costs nothing more, no system call per request. Registering
// and forgetting a connection cost a system call and a shard's lock when
// it is dialed and a lock when it is closed. The instance is read through
// Go's netpoller by one goroutine, so no thread blocks on it; it lives as
// long as the process, as the netpoller's own does.
//
// When the server closes a connection that is idle, the connection leaves
// its pool and is closed at once. When it is busy, it is marked: the pool
// refuses it when its request is done, and conn skips it should it be
// taken in between.
type closeWatcher struct {
	set    *epoll.Set
	gen    atomic.Uint32
	failed atomic.Bool // the instance could not be read: watch no more

	shards [watchShards]watchShard
}

const watchShards = 16

// watchShard holds the watched connections whose descriptors fall in it.
type watchShard struct {
	mu    sync.Mutex      // guards conns
	conns map[int32]*conn // by descriptor
}

var (
	watcherOnce sync.Once
	watcher     *closeWatcher // nil where epoll cannot be had
)

// theWatcher returns the process's watcher, starting it on first use, or
// nil when it cannot run; the probe before reuse remains then.
func theWatcher() *closeWatcher {
	watcherOnce.Do(func() { watcher = newCloseWatcher() })
	return watcher
}

func newCloseWatcher() *closeWatcher {
	set, err := epoll.New("limpet-upstream-epoll")
	if err != nil {
		return nil
	}
	w := &closeWatcher{set: set}
	for i := range w.shards {
		w.shards[i].conns = make(map[int32]*conn)
	}
	go w.run()
	return w
}

// watch is where a connection's state for the watcher lives.
type watch struct {
	fd         int32  // the connection's descriptor, while watched
	gen        uint32 // tells it from an earlier connection on fd; 0: not watched
	peerClosed atomic.Bool
}

// startWatch has the watcher watch c, just dialed, until c is closed.
func (c *conn) startWatch() {
	w := theWatcher()
	if w == nil || w.failed.Load() || c.probe.raw == nil {
		return
	}
	fd := int32(-1)
	_ = c.probe.raw.Control(func(f uintptr) { fd = int32(f) })
	if fd < 0 {
		return
	}
	gen := w.gen.Add(1)
	if gen == 0 {
		gen = w.gen.Add(1) // 0 means unwatched
	}
	c.watch.fd, c.watch.gen = fd, gen
	sh := &w.shards[uint32(fd)%watchShards]
	sh.mu.Lock()
	sh.conns[fd] = c
	sh.mu.Unlock()
	// A close that came before the registration is reported by it.
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: fd, Pad: int32(gen)}
	if err := w.set.Ctl(syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		w.forget(c)
		c.watch.gen = 0
	}
}

// stopWatch forgets c as it is closed; closing the descriptor removes it
// from the epoll instance. It may run more than once, and concurrently.
func (c *conn) stopWatch() {
	if c.watch.gen != 0 {
		watcher.forget(c)
	}
}

// peerClosed reports that the server closed c.
func (c *conn) peerClosed() bool { return c.watch.peerClosed.Load() }

func (w *closeWatcher) forget(c *conn) {
	sh := &w.shards[uint32(c.watch.fd)%watchShards]
	sh.mu.Lock()
	if sh.conns[c.watch.fd] == c {
		delete(sh.conns, c.watch.fd)
	}
	sh.mu.Unlock()
}

// run reads the epoll instance. The netpoller watches the instance
// edge-triggered, so each wake-up drains it. Should reading it fail, the
// watcher stops taking connections; those it had are left to the probe and
// the idle timeout.
func (w *closeWatcher) run() {
	defer w.failed.Store(true)
	w.set.Run(func(ev syscall.EpollEvent) { w.closed(ev.Fd, uint32(ev.Pad)) })
}

// closed handles the server's closing of the connection on fd, if it is
// still the one of generation gen: out of its pool and closed when idle,
// marked when busy.
func (w *closeWatcher) closed(fd int32, gen uint32) {
	sh := &w.shards[uint32(fd)%watchShards]
	sh.mu.Lock()
	c := sh.conns[fd]
	if c == nil || c.watch.gen != gen {
		sh.mu.Unlock()
		return
	}
	delete(sh.conns, fd) // the edge comes once
	sh.mu.Unlock()
	// Marked before the pool is looked at: put, under the pool's lock,
	// either sees the mark or leaves c where remove finds it.
	c.watch.peerClosed.Store(true)
	if c.pool.remove(c) {
		c.closeNow()
	}
}
