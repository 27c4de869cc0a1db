//go:build linux

package h1srv

import (
	"net/http"
	"strings"
	"testing"
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
