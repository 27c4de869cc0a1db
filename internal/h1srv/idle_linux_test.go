//go:build linux

package h1srv

import (
	"context"
	"net/http"
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

// get sends one request on c and checks the answer.
func (c *client) get(path string) {
	c.t.Helper()
	c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("GET"); res.StatusCode != 200 || body != "hello" {
		c.t.Fatalf("GET %s: %d %q", path, res.StatusCode, body)
	}
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
	c := dial(t, ts.addr)
	opened := time.Now()
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
