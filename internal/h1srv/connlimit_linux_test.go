//go:build linux

package h1srv

import (
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// With every slot held by idle keep-alive connections, a new connection
// is served by closing the one idle for longest once it has been idle for
// reuseIdle, as nginx's ngx_drain_connections closes the oldest reusable
// connection.
func TestConnLimitReusesParkedConnections(t *testing.T) {
	ts, l, _ := limited(t, 2, http.HandlerFunc(hello))
	a := dial(t, ts.addr)
	a.get("/")
	waitForParked(t, ts, 1)
	b := dial(t, ts.addr)
	b.get("/")
	waitForParked(t, ts, 2)
	c := dial(t, ts.addr)
	c.get("/")
	if !a.closed() {
		t.Error("the oldest idle connection was not closed")
	}
	b.get("/")
	if n := l.Active(); n != 2 {
		t.Errorf("Active() = %d, want 2", n)
	}
	if !strings.Contains(ts.log.String(), "2 worker_connections are not enough, reusing connections") {
		t.Errorf("reuse not logged:\n%s", ts.log.String())
	}
}

// An accept loop waiting for a slot reuses a connection once it has been
// idle for long enough.
func TestConnLimitReusesAConnectionThatBecomesIdle(t *testing.T) {
	g := newGate("a")
	ts, _, waits := limited(t, 1, g)
	a := dial(t, ts.addr)
	a.send("GET /block/a HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, g.entered, "A's request")
	b := dial(t, ts.addr)
	b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, waits, "an accept loop waiting for a slot")
	close(g.release["a"])
	if res, _ := a.read("GET"); res.StatusCode != 200 {
		t.Fatalf("A: %d", res.StatusCode)
	}
	// A, idle now, parks, and B takes its slot a second later.
	if res, body := b.read("GET"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("B: %d %q", res.StatusCode, body)
	}
	if !a.closed() {
		t.Error("A was not closed for B")
	}
}

// parkedFixture is a poller holding n parked connections (pipes, never
// read), the oldest parked an hour ago and each next a nanosecond later,
// registered with a limit of n.
func parkedFixture(tb testing.TB, n int) (*Server, *idlePoller, *ConnLimit, func() *conn) {
	tb.Helper()
	s := &Server{ErrorLog: log.New(io.Discard, "", 0)}
	p, err := newIdlePoller(s)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.close)
	s.idle.Store(p)
	l := NewConnLimit(n)
	l.register(s, true)
	old := time.Now().Add(-time.Hour)
	fd := int32(0)
	add := func() *conn {
		a, b := net.Pipe()
		tb.Cleanup(func() { a.Close(); b.Close() })
		c := &conn{srv: s, rwc: a, fd: fd, parkedAt: old.Add(time.Duration(fd))}
		fd++
		c.state.Store(stateParked)
		p.mu.Lock()
		p.gen++
		c.parkGen = p.gen
		p.add(c)
		p.mu.Unlock()
		return c
	}
	for range n {
		add()
	}
	return s, p, l, add
}

// TestDrainClosesTheOldest: a drain closes max(min(32, n/8), 1) of n
// parked connections, the longest parked, and leaves the others in their
// order; a connection woken and parked again since it was found is not
// closed.
func TestDrainClosesTheOldest(t *testing.T) {
	s, p, l, _ := parkedFixture(t, 100)
	oldest := p.oldest
	closed, _ := l.drain(s)
	if closed != 12 {
		t.Errorf("closed %d of 100, want 12", closed)
	}
	if oldest.state.Load() != stateClosed || p.parkedCount() != 88 || p.oldest.fd != 12 {
		t.Errorf("after the drain: oldest closed %v, %d parked, oldest now fd %d; want closed, 88, fd 12",
			oldest.state.Load() == stateClosed, p.parkedCount(), p.oldest.fd)
	}
	cands, _ := p.reusable(nil, time.Now(), 1)
	c := cands[0].c
	p.mu.Lock()
	p.gen++
	c.parkGen = p.gen // woken and parked again
	p.mu.Unlock()
	if p.evict(c, cands[0].gen) {
		t.Error("a connection parked again since it was found was closed")
	}
}

// BenchmarkDrain is the cost of one accept near the limit with many
// parked connections: taking the oldest from the front of the list, not
// looking at every parked connection.
func BenchmarkDrain(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s, _, l, add := parkedFixture(b, n)
			b.ReportAllocs()
			for b.Loop() {
				closed, _ := l.drain(s)
				b.StopTimer()
				for range closed {
					add()
				}
				b.StartTimer()
			}
		})
	}
}
