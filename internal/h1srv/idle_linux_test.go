//go:build linux

package h1srv

import (
	"context"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

// parkedCount is how many connections ts's poller holds.
func parkedCount(ts *testServer) int {
	p := ts.idle.Load()
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// waitParked waits until ts's poller holds n connections.
func waitForParked(t *testing.T, ts *testServer, n int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if parkedCount(ts) == n {
			return
		}
	}
	t.Fatalf("%d connections parked, want %d", parkedCount(ts), n)
}

func TestParkedConnectionServesItsNextRequest(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello))
	c := dial(t, ts.addr)
	for i := range 3 {
		c.get("/")
		waitForParked(t, ts, 1)
		if i == 0 {
			// A pipelined pair arriving at a parked connection.
			c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
			c.read("GET")
			c.read("GET")
			waitForParked(t, ts, 1)
		}
	}
	// A request sent in pieces across the wake-up.
	c.send("GET / HT")
	time.Sleep(50 * time.Millisecond)
	c.send("TP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("GET"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("split request: %d %q", res.StatusCode, body)
	}
}

func TestNewConnectionParksBeforeItsFirstRequest(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello))
	c := dial(t, ts.addr)
	waitForParked(t, ts, 1)
	c.get("/")
}

func TestParkedConnectionTimesOut(t *testing.T) {
	const idle = time.Second
	ts := start(t, http.HandlerFunc(hello), func(s *Server) { s.IdleTimeout = idle })
	c := dial(t, ts.addr)
	c.get("/")
	sent := time.Now()
	waitForParked(t, ts, 1)
	if !c.closed() {
		t.Fatal("a connection idle for longer than IdleTimeout was not closed")
	}
	// Closed by the sweep: never early, at most a sweep late.
	if took := time.Since(sent); took < idle || took > idle+500*time.Millisecond {
		t.Errorf("closed after %v, want %v to %v", took, idle, idle+500*time.Millisecond)
	}
	waitForParked(t, ts, 0)
	ts.mu.Lock()
	open := len(ts.conns)
	ts.mu.Unlock()
	if open != 0 {
		t.Errorf("%d connections still tracked", open)
	}
}

func TestFirstRequestHeaderTimeoutWhileParked(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello), func(s *Server) { s.ReadHeaderTimeout = time.Second })
	opened := time.Now() // before the server's accept
	c := dial(t, ts.addr)
	waitForParked(t, ts, 1)
	if !c.closed() {
		t.Fatal("a connection that sent nothing was not closed")
	}
	if took := time.Since(opened); took < time.Second {
		t.Errorf("closed after %v, before the header timeout", took)
	}
}

func TestClientLeavingAParkedConnection(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello))
	c := dial(t, ts.addr)
	c.get("/")
	waitForParked(t, ts, 1)
	_ = c.c.Close()
	waitForParked(t, ts, 0)
	for end := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts.mu.Lock()
		open := len(ts.conns)
		ts.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d connections still tracked after the client left", open)
		}
	}
}

func TestShutdownClosesParkedConnections(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello))
	c := dial(t, ts.addr)
	c.get("/")
	waitForParked(t, ts, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !c.closed() {
		t.Error("parked connection left open by Shutdown")
	}
}

// TestParkedConnectionsHaveNoGoroutines is what parking is for: idle
// keep-alive connections cost no goroutine.
func TestParkedConnectionsHaveNoGoroutines(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello))
	before := runtime.NumGoroutine()
	const n = 200
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, ts.addr)
		clients[i].get("/")
	}
	waitForParked(t, ts, n)
	if g := runtime.NumGoroutine(); g > before+n/10 {
		t.Errorf("%d goroutines with %d idle connections, %d before them", g, n, before)
	}
	for _, c := range clients {
		c.get("/again")
	}
}

func TestNoParking(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello), func(s *Server) { s.NoParking = true })
	c := dial(t, ts.addr)
	c.get("/")
	time.Sleep(3 * hotIdle)
	if got := parkedCount(ts); got != -1 {
		t.Fatalf("a server with NoParking has a poller holding %d connections", got)
	}
	c.get("/")
}

// epollInstances counts this process's epoll descriptors.
func epollInstances(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l == "anon_inode:[eventpoll]" {
			n++
		}
	}
	return n
}

func TestShutdownStopsThePoller(t *testing.T) {
	before := epollInstances(t)
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Settings: Settings{Handler: http.HandlerFunc(hello)}}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ln) }()
		for s.idle.Load() == nil {
			time.Sleep(time.Millisecond)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	if after := epollInstances(t); after != before {
		t.Fatalf("%d epoll instances after 5 servers were shut down, %d before", after, before)
	}
}
