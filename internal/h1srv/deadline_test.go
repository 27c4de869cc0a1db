package h1srv

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The connection's deadlines are moved lazily and not cleared after each
// request (see connWriter and headerDeadline): these tests check that no
// deadline from one phase cuts a later one short.

func TestDeadlinesDoNotOutliveTheirRequest(t *testing.T) {
	const short = 50 * time.Millisecond
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/write":
			_ = rc.SetWriteDeadline(time.Now().Add(short))
		case "/read":
			_ = rc.SetReadDeadline(time.Now().Add(short))
			_, _ = io.ReadAll(r.Body)
		case "/post":
			// A handler that sets no deadline reads the body of
			// a slow client.
			b, err := io.ReadAll(r.Body)
			if err != nil || string(b) != "slow body" {
				http.Error(w, "body "+string(b)+" "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		hello(w, r)
	}))
	c := dial(t, ts.addr)
	for _, path := range []string{"/write", "/", "/read", "/"} {
		if path == "/read" {
			c.send("POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
			c.read("POST")
		} else {
			c.get(path)
		}
		time.Sleep(3 * short) // the handler's deadline has passed
	}
	// Well past the hot wait's deadline, a body arriving slowly.
	c.send("POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nslow")
	time.Sleep(3 * hotIdle)
	c.send(" body")
	if res, body := c.read("POST"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("slow body: %d %q", res.StatusCode, body)
	}
}

func TestSlowHeaderOfAKeepAliveRequest(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello))
	c := dial(t, ts.addr)
	c.get("/")
	c.send("GET /second HT")
	time.Sleep(3 * hotIdle) // longer than the wait for the first byte
	c.send("TP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("GET"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("slow header: %d %q", res.StatusCode, body)
	}
}

func TestHeaderTimeoutAfterTheFirstByte(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello), func(s *Server) { s.ReadHeaderTimeout = 300 * time.Millisecond })
	c := dial(t, ts.addr)
	c.get("/")
	c.send("GET /never-ends HTTP/1.1\r\n")
	sent := time.Now()
	if !c.closed() {
		t.Fatal("a header block that never ends did not time out")
	}
	if took := time.Since(sent); took < 300*time.Millisecond {
		t.Errorf("timed out after %v, before ReadHeaderTimeout", took)
	}
}

func TestClientGoneAfterTheWaitDeadline(t *testing.T) {
	cancelled := make(chan bool, 1)
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- true
		case <-time.After(5 * time.Second):
			cancelled <- false
		}
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// Past any deadline set while waiting for the request: the watch
	// must still be reading.
	time.Sleep(3 * hotIdle)
	_ = c.c.Close()
	if !<-cancelled {
		t.Fatal("the client left and the request's context was not cancelled")
	}
}

func TestHijackedConnectionHasNoDeadline(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			hello(w, r)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			t.Errorf("reading the hijacked connection: %v", err)
			return
		}
		brw.WriteString("echo " + line)
		brw.Flush()
	}), func(s *Server) { s.WriteTimeout = 100 * time.Millisecond })
	c := dial(t, ts.addr)
	c.get("/") // a request first, so the wait for the next one set a deadline
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	if res, err := http.ReadResponse(c.br, nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v, %v", res, err)
	}
	time.Sleep(3 * hotIdle)
	c.send("late\n")
	if got, err := c.br.ReadString('\n'); err != nil || got != "echo late\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestWriteTimeout(t *testing.T) {
	errc := make(chan error, 1)
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1024 { // 64 MiB, more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}), func(s *Server) { s.WriteTimeout = 200 * time.Millisecond })
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("writing to a client that does not read: %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write to a client that does not read did not time out")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = ts.Shutdown(ctx)
}

// TestWatchAfterFastRequests: the watch's timer is not reset for every
// request; a slow request after fast ones must still be watched in time.
func TestWatchAfterFastRequests(t *testing.T) {
	cancelled := make(chan time.Duration, 1)
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			hello(w, r)
			return
		}
		began := time.Now()
		select {
		case <-r.Context().Done():
			cancelled <- time.Since(began)
		case <-time.After(5 * time.Second):
			cancelled <- -1
		}
	}))
	c := dial(t, ts.addr)
	for range 20 {
		c.get("/")
		time.Sleep(watchDelay / 8)
	}
	c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(watchDelay / 2)
	_ = c.c.Close()
	if d := <-cancelled; d < 0 || d > 2*watchDelay {
		t.Fatalf("context cancelled after %v, want within %v", d, 2*watchDelay)
	}
}

func TestSlowFirstHeader(t *testing.T) {
	for _, hdr := range []time.Duration{time.Minute, 0} {
		ts := start(t, http.HandlerFunc(hello), func(s *Server) { s.ReadHeaderTimeout = hdr })
		c := dial(t, ts.addr)
		c.send("G")
		time.Sleep(3 * hotIdle) // the rest after the wait's deadline
		c.send("ET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if res, body := c.read("GET"); res.StatusCode != 200 || body != "hello" {
			t.Fatalf("ReadHeaderTimeout %v: %d %q", hdr, res.StatusCode, body)
		}
	}
}
