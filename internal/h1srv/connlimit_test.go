package h1srv

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// limited starts a Server with a ConnLimit of n whose hook reports every
// accept loop that starts waiting for a slot on the returned channel.
func limited(t *testing.T, n int, h http.Handler, opts ...func(*Server)) (*testServer, *ConnLimit, chan struct{}) {
	t.Helper()
	l := NewConnLimit(n)
	waits := make(chan struct{}, 16)
	l.hook = func(ev string) {
		if ev == "wait" {
			waits <- struct{}{}
		}
	}
	ts := start(t, h, append([]func(*Server){func(s *Server) { s.Limit = l }}, opts...)...)
	return ts, l, waits
}

// gate is a handler that blocks /block/NAME until release[NAME] is
// closed, and answers hello otherwise.
type gate struct {
	entered chan string
	release map[string]chan struct{}
}

func newGate(names ...string) *gate {
	g := &gate{entered: make(chan string, 8), release: make(map[string]chan struct{})}
	for _, n := range names {
		g.release[n] = make(chan struct{})
	}
	return g
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, ok := strings.CutPrefix(r.URL.Path, "/block/"); ok {
		g.entered <- name
		<-g.release[name]
	}
	hello(w, r)
}

// silent reports whether c gets nothing for a while: a lower bound only,
// asked once the server is known to be unable to answer.
func (c *client) silent(d time.Duration) bool {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	defer c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.br.Peek(1)
	return errors.Is(err, os.ErrDeadlineExceeded)
}

func TestConnLimitWaitsForAFreeSlot(t *testing.T) {
	g := newGate("a", "b")
	ts, l, waits := limited(t, 2, g)

	// A pipelines a second request behind a blocked one; B's blocked
	// request asks for the connection to close after it.
	a := dial(t, ts.addr)
	a.send("GET /block/a HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b := dial(t, ts.addr)
	b.send("GET /block/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	recv(t, g.entered, "A's request")
	recv(t, g.entered, "B's request")

	// The third connection's handshake completes (in the backlog or in
	// the accept loop), but it is not served while both slots are held.
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, waits, "an accept loop waiting for a slot")
	if n := l.Active(); n != 2 {
		t.Errorf("Active() = %d, want 2", n)
	}
	if !c.silent(300 * time.Millisecond) {
		t.Fatal("a connection over the limit was served")
	}
	// A fourth waits in the listen backlog.
	d := dial(t, ts.addr)
	d.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")

	// Established connections keep working at the limit.
	close(g.release["a"])
	for range 2 {
		if res, body := a.read("GET"); res.StatusCode != 200 || body != "hello" {
			t.Fatalf("established connection at the limit: %d %q", res.StatusCode, body)
		}
	}
	// B's end frees a slot (unless A, now idle, was reused first).
	close(g.release["b"])
	if res, _ := b.read("GET"); res.StatusCode != 200 {
		t.Fatalf("B: %d", res.StatusCode)
	}
	if !b.closed() {
		t.Fatal("B was not closed after Connection: close")
	}
	for _, x := range []*client{c, d} {
		if res, body := x.read("GET"); res.StatusCode != 200 || body != "hello" {
			t.Fatalf("connection that waited: %d %q", res.StatusCode, body)
		}
	}
	if n := strings.Count(ts.log.String(), "2 worker_connections are not enough\n"); n != 1 {
		t.Errorf("the shortage was logged %d times, want once:\n%s", n, ts.log.String())
	}
}

// Connections idle on their goroutine are not reused (they may be
// between two requests of a busy client): without parking, a new
// connection waits for one to close.
func TestConnLimitWithoutParking(t *testing.T) {
	ts, _, waits := limited(t, 2, http.HandlerFunc(hello), func(s *Server) { s.NoParking = true })
	a := dial(t, ts.addr)
	a.get("/")
	b := dial(t, ts.addr)
	b.get("/")
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, waits, "an accept loop waiting for a slot")
	if !c.silent(300 * time.Millisecond) {
		t.Fatal("a connection over the limit was served")
	}
	b.get("/")
	_ = a.c.Close()
	if res, body := c.read("GET"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("after A closed: %d %q", res.StatusCode, body)
	}
	b.get("/")
}

// A connection that has sent part of a request is not idle: it is not
// closed to make room.
func TestConnLimitKeepsPartialRequests(t *testing.T) {
	ts, _, waits := limited(t, 1, http.HandlerFunc(hello))
	a := dial(t, ts.addr)
	a.send("GET / HTTP/1.1\r\n")
	b := dial(t, ts.addr)
	b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, waits, "the second connection waiting")
	if !b.silent(300 * time.Millisecond) {
		t.Fatal("a connection over the limit was served")
	}
	a.send("Host: x\r\nConnection: close\r\n\r\n")
	if res, body := a.read("GET"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("partial request: %d %q", res.StatusCode, body)
	}
	if res, _ := b.read("GET"); res.StatusCode != 200 {
		t.Fatalf("B after A closed: %d", res.StatusCode)
	}
}

// recv waits for an event, failing the test rather than hanging it.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no sign of %s", what)
		panic("unreachable")
	}
}

// A hijacked connection holds its slot until its handler returns.
func TestConnLimitCountsHijackedConnections(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upgrade" {
			hello(w, r)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		_ = brw.Flush()
		<-release
	})
	ts, l, waits := limited(t, 1, h)
	a := dial(t, ts.addr)
	a.send("GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
	if res, _ := a.read("GET"); res.StatusCode != 101 {
		t.Fatalf("upgrade: %d", res.StatusCode)
	}
	b := dial(t, ts.addr)
	b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, waits, "an accept loop waiting for a slot")
	if n := l.Active(); n != 1 {
		t.Errorf("Active() = %d, want 1", n)
	}
	close(release)
	if res, body := b.read("GET"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("after the upgrade ended: %d %q", res.StatusCode, body)
	}
}

// Several Servers sharing a limit share its slots; Close ends an accept
// loop that waits for one.
func TestConnLimitSharedAndClose(t *testing.T) {
	g := newGate("a")
	l := NewConnLimit(1)
	waits := make(chan struct{}, 4)
	l.hook = func(ev string) {
		if ev == "wait" {
			waits <- struct{}{}
		}
	}
	one := start(t, g, func(s *Server) { s.Limit = l })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	two := &Server{Settings: Settings{Handler: g}, Limit: l, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- two.Serve(ln) }()

	a := dial(t, one.addr)
	a.send("GET /block/a HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, g.entered, "A's request")
	b := dial(t, ln.Addr().String())
	b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, waits, "an accept loop waiting for a slot")
	_ = two.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v after Close", err)
	}
	// Closed unread: EOF or a reset, and no response.
	if _, err := b.br.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the waiting connection: %v, want it closed", err)
	}
	close(g.release["a"])
	if res, _ := a.read("GET"); res.StatusCode != 200 {
		t.Errorf("A: %d", res.StatusCode)
	}
	if n := l.Active(); n > 1 {
		t.Errorf("Active() = %d", n)
	}
}

// Slowloris: connections that trickle a header a byte at a time are
// closed at ReadHeaderTimeout (nginx's client_header_timeout), counted
// from the connection's start, without a response.
func TestSlowlorisClosedAtHeaderTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var handled sync.WaitGroup
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		defer handled.Done()
		t.Errorf("a trickled request reached the handler")
	}), func(s *Server) { s.ReadHeaderTimeout = timeout })
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		opened := time.Now()
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		go func() {
			// The client's trickle: a byte every 20ms until the
			// server closes the connection.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte("a")); err != nil {
						return
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			defer close(stop)
			// Closed with the trickle unread: EOF, or a reset.
			b, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(b) > 0 {
				t.Errorf("slowloris connection: read %q, %v; want a close without a response", b, err)
			}
			if took := time.Since(opened); took < timeout {
				t.Errorf("closed after %v, before the header timeout of %v", took, timeout)
			}
		}()
	}
	wg.Wait()
	handled.Wait()
}
