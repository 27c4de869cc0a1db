package h1srv

import (
	"net"
	"net/http"
)

// http2Preface is the HTTP/2 client connection preface (RFC 9113 section
// 3.4), with which a client that knows the server speaks HTTP/2 on a
// plain connection opens it ("prior knowledge", nginx's h2c).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// stateHTTP2 marks a connection handed to Settings.HTTP2: it is no
// longer read by this package, and Shutdown asks its HTTP2Server to stop
// gracefully instead of waiting for it to become idle.
const stateHTTP2 = stateClosed + 1

// sawPreface reports whether the connection opens with the HTTP/2
// preface, reading no more than it must to tell: a request that is not
// HTTP/2 differs from the preface within its first bytes ("POST" at the
// second), and an HTTP/1 request beginning "PRI * HTTP/2.0" is answered
// as nginx answers one on a listener without http2 (it is not valid
// HTTP/1). It is asked only of a connection's first request, and only
// when Settings.HTTP2 is set, after the header deadline is set, so the
// reads it waits for are bounded by client_header_timeout.
func (c *conn) sawPreface() bool {
	n := 1
	for {
		b, err := c.br.Peek(n)
		if string(b) != http2Preface[:len(b)] {
			return false
		}
		if len(b) == len(http2Preface) {
			return true
		}
		if err != nil {
			// Too short to tell: the client left or timed out, as
			// the HTTP/1 read will find.
			return false
		}
		n = min(max(len(b)+1, c.br.Buffered()), len(http2Preface))
	}
}

// serveHTTP2 hands the connection over to h, which serves it as HTTP/2
// on nc until it ends: nc is c.rwc with what the Server has read of it
// already (pre) replayed first, or, for a TLS connection that chose "h2",
// the *tls.Conn itself with pre empty. The connection keeps its slot of
// worker_connections and its place in the Server's connections (Close
// closes it, Shutdown makes h send GOAWAY) until h returns.
func (c *conn) serveHTTP2(h HTTP2Server, nc net.Conn, pre []byte) {
	if len(pre) > 0 {
		nc = &replayConn{Conn: nc, pre: pre}
	}
	// x/net sets the deadlines it needs; those this package set for
	// the first request's header must not outlive the hand-over.
	c.dlMu.Lock()
	_ = c.rd.Clear(c.rwc.SetReadDeadline)
	_ = c.wd.Clear(c.rwc.SetWriteDeadline)
	c.rawWrites = true
	c.dlMu.Unlock()
	c.srv.mu.Lock()
	c.h2 = h
	c.srv.mu.Unlock()
	c.state.Store(stateHTTP2)
	c.fresh.Store(false)
	c.releaseBuffers()
	h.ServeConn(nc, currentHandler{c.srv})
	c.srv.trackConn(c, false)
	_ = c.rwc.Close()
	c.freeSlot()
}

// servePrefaced serves, as HTTP/2, a plain connection that opened with
// the preface: the bytes buffered so far (the preface and often the
// client's first frames) are replayed to h before the socket's.
func (c *conn) servePrefaced(h HTTP2Server) {
	b, _ := c.br.Peek(c.br.Buffered())
	c.serveHTTP2(h, c.rwc, append([]byte(nil), b...))
}

// replayConn is a connection whose first reads return pre, the bytes
// read from it before it was handed over.
type replayConn struct {
	net.Conn
	pre []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// currentHandler serves each HTTP/2 stream with the handler of the
// Server's Settings in effect when it begins, so that a reload reaches
// long-lived HTTP/2 connections at their next stream, as it reaches
// HTTP/1 ones at their next request.
type currentHandler struct{ s *Server }

func (h currentHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.s.current().handler().ServeHTTP(w, r)
}

// http2Stopper is an HTTP2Server that can be told to stop its
// connections gracefully (GOAWAY), as h2srv.Server can.
type http2Stopper interface {
	Shutdown()
}

// stopHTTP2 asks the HTTP2Servers of the Server's HTTP/2 connections to
// send GOAWAY, for Shutdown. The HTTP2Servers must be comparable
// (h2srv's is a pointer).
func (s *Server) stopHTTP2() {
	s.mu.Lock()
	var servers []HTTP2Server
	for c := range s.conns {
		if c.h2 != nil && c.state.Load() == stateHTTP2 {
			servers = append(servers, c.h2)
		}
	}
	s.mu.Unlock()
	seen := make(map[HTTP2Server]bool, len(servers))
	for _, h := range servers {
		if seen[h] {
			continue
		}
		seen[h] = true
		if st, ok := h.(http2Stopper); ok {
			st.Shutdown()
		}
	}
}
