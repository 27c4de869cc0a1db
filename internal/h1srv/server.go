// Package h1srv is limpet's HTTP/1.1 server for client connections.
//
// net/http's server spends more CPU per request than the proxying behind
// it: for every request it starts a background read to notice a client
// that goes away (an extra read syscall that usually returns EAGAIN, and
// the deadline games to stop it again), derives a cancellable context, and
// allocates a response, a chunk writer and its buffers. Server does the
// whole exchange on one goroutine per connection, with the response writer,
// header map and buffers reused from one request to the next, and keeps
// net/http's contract for handlers: http.ResponseWriter, Flush, Hijack and
// the deadlines through http.ResponseController, r.Context() cancelled when
// the client leaves or the request ends, Expect: 100-continue, trailers.
//
// Requests of the common shape whose header block is whole in the read
// buffer are parsed there in one pass (internal/h1parse, parseBuffered),
// exactly as http.ReadRequest would parse them; the others by
// http.ReadRequest. Framing is thus validated as in net/http, and more
// strictly where RFC 9112 says a server ought to and nginx does (see
// checkRequest): a request with both Content-Length and
// Transfer-Encoding, with Transfer-Encoding in HTTP/1.0, with two
// Content-Length fields, with a folded field line, with several Host
// fields or an invalid one, or HTTP/1.1 without one, is answered 400 and
// the connection closed, never handed to the handler. TRACE and CONNECT
// are answered 405, as nginx answers them. The header block is bounded by
// HeaderLimits (nginx's buffers: 414 for a long request line, 400
// "Request Header Or Cookie Too Large" for the rest), and the read stops
// once it is passed, so a client cannot make a connection hold more.
//
// # Noticing a client that leaves
//
// A proxy waiting for its upstream must learn when its client closes the
// connection (nginx's 499), which needs a read on the client's socket
// while the handler runs. net/http starts that read for every request. Here
// it starts only for slow requests: once the request's body has been read
// to its end (at once for a request without a body), a watch is due
// watchDelay (100 ms) later. A per-connection timer, not reset for every
// request, fires at most that often; when it finds the current request
// still running past its delay, one read (bufio.Reader.Peek) is started on
// the connection in the timer's goroutine: EOF or an error cancels the
// request's context and marks the connection for closing; a byte (a
// pipelined request) stays in the buffer for the next request and ends the
// watch. When the handler returns or hijacks the connection, a pending
// watch is stopped with a read deadline in the past and awaited, so the
// buffer has one reader at a time.
//
// # Idle connections
//
// A connection that waits longer than hotIdle (50 ms) for its next
// request is parked: its buffers go back to the pools and its goroutine
// ends, and the Server's idlePoller (an epoll instance, Linux only) starts
// a new goroutine when the client sends again. keepalive_timeout and the
// first request's header timeout are enforced on parked connections by a
// sweep. 10,000 idle connections then cost about 1.5 KiB each instead of a
// goroutine and 8 KiB of buffers.
//
// # Deadlines
//
// Every deadline on a connection goes through a deadline.Lazy per
// direction, which moves it only when it must: the wait for the next
// request, the header timeout (not set at all when the whole header block
// is already in the buffer), WriteTimeout (nginx's send_timeout, applied
// by the server to every write unless the handler set its own deadline for
// the response), and the handler's deadlines through
// http.ResponseController. A deadline may fire up to timeout/16 (at most
// 300 ms) late, never early.
package h1srv

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Settings are the parts of a Server a reload may change while it serves
// (Reconfigure): a connection reads them afresh for each request.
type Settings struct {
	// Handler answers requests; nil means http.DefaultServeMux.
	Handler http.Handler
	// ReadHeaderTimeout is the longest a client may take to send a
	// request's headers, from its first byte (or the connection's
	// start); 0 means no limit. limpet uses nginx's client_header_timeout
	// default, 60s.
	ReadHeaderTimeout time.Duration
	// WriteTimeout bounds each write to a client, the time between two
	// successive writes of a response (nginx's send_timeout), unless
	// the handler sets a write deadline of its own for the response; 0
	// means no limit.
	WriteTimeout time.Duration
	// IdleTimeout is how long a connection waits for its next request.
	// 0 disables keep-alive: each connection serves one request and
	// the response says "Connection: close", as nginx's
	// keepalive_timeout 0 does.
	IdleTimeout time.Duration
	// KeepAliveHeader, when at least a second, is announced to clients
	// in every response of a connection that stays open, as
	// "Keep-Alive: timeout=N" with N in whole seconds: nginx's second
	// argument of keepalive_timeout. 0, the default, sends no such field.
	KeepAliveHeader time.Duration
	// MaxRequests is the most requests a connection serves (nginx's
	// keepalive_requests): the response to the last says "Connection:
	// close"; 0 means no limit.
	MaxRequests int
	// MaxConnAge ends keep-alive for the requests that begin once the
	// connection has been open this long (nginx's keepalive_time): each
	// is answered with "Connection: close"; 0 means no limit.
	MaxConnAge time.Duration
	// Headers bounds a request's header block (nginx's
	// client_header_buffer_size, large_client_header_buffers and
	// max_headers); the zero value is nginx's defaults.
	Headers HeaderLimits
	// UnderscoresInHeaders keeps field names with underscores, as
	// nginx's underscores_in_headers on; by default (off) they are
	// invalid names.
	UnderscoresInHeaders bool
	// KeepInvalidHeaders passes on fields whose names are tokens but
	// not of letters, digits and hyphens (underscores included unless
	// UnderscoresInHeaders), as nginx's ignore_invalid_headers off; by
	// default (on) such fields are dropped, so that "Transfer_Encoding"
	// or "X.Real.IP" never reach a backend that might read them as
	// another field. Names that are not tokens are refused (400) either
	// way.
	KeepInvalidHeaders bool
	// TLS, when set, makes every connection of the Server speak TLS
	// (but those TLSByLocal decides):
	// the handshake (bounded by ReadHeaderTimeout) comes before the
	// first request, and its state is the request's r.TLS. Its
	// NextProtos offer "h2" only when HTTP2 is set.
	TLS *tls.Config
	// TLSByLocal, when set, overrides TLS by the connection's local
	// address: on a wildcard socket that also serves specific addresses,
	// nginx keeps `ssl` and the certificates per address. A connection
	// to an address in it starts with that address's Config, nil
	// meaning plain; other connections with TLS.
	TLSByLocal map[netip.Addr]*tls.Config
	// PlainHTTPToHandler makes a plain HTTP request sent to a TLS
	// connection be read and given to Handler, its context marked
	// (errpage.IsPlainHTTP), for the handler to answer with the 497 page
	// and log it, as nginx does; the handler must close the connection
	// (Connection: close). When false, h1srv answers the page itself.
	PlainHTTPToHandler bool
	// HTTP2, when set, serves the connections that speak HTTP/2: those
	// whose TLS handshake chose "h2" by ALPN, and on a plain listener
	// those that open with the HTTP/2 connection preface (prior
	// knowledge), as nginx's `http2 on` does. Nil: HTTP/1.x only.
	HTTP2 HTTP2Server
	// ReuseRequests is the handler's promise that it keeps nothing of a
	// request — not the *http.Request, its Header, URL or Context, nor
	// anything pointing into them — once ServeHTTP has returned and
	// every goroutine it started that uses them has ended. The
	// connection then resets a request's storage (its context,
	// http.Request, URL and header map) and reads its next request into
	// it, sparing about 1 KB of allocations a request. Storage that may
	// still be in use all the same is not reused: that of a request
	// with a body (a transport may read it after ServeHTTP), of one
	// whose handler panicked or hijacked the connection, or whose
	// context's Done channel was asked for or whose AfterFunc functions
	// ran or were not stopped. False: every request is new, as in
	// net/http, and the handler may keep what it likes.
	ReuseRequests bool
}

// HTTP2Server serves one client connection that speaks HTTP/2, calling
// h for each of its streams, and returns when the connection is done. c
// is the *tls.Conn after its handshake, or, on a plain listener, a
// connection whose reads start with the preface the Server has already
// looked at.
type HTTP2Server interface {
	ServeConn(c net.Conn, h http.Handler)
}

// Server serves HTTP/1.x on the connections of its listeners, with one
// goroutine per connection. Its zero value, with a Handler, is ready to use.
type Server struct {
	// Settings are what Reconfigure may change while the Server serves;
	// the values here are the first ones.
	Settings
	// ErrorLog receives handler panics and invalid responses; nil means
	// the log package's standard logger.
	ErrorLog *log.Logger
	// InfoLog receives what nginx logs at info level: failed TLS
	// handshakes. Nil: they are only counted (HandshakeFailures).
	InfoLog *log.Logger
	// SharedFailures, when set, counts the failed TLS handshakes too,
	// beside HandshakeFailures: one counter for several Servers.
	SharedFailures *atomic.Int64

	// NoParking keeps every idle connection on its goroutine, with its
	// buffers, as net/http does, instead of parking it (see idlePoller).
	NoParking bool
	// Limit, when set, caps the connections of this Server and of the
	// others that share it (see ConnLimit); nil means no cap.
	Limit *ConnLimit

	inShutdown atomic.Bool

	// handshakeFailures counts the TLS handshakes that failed.
	handshakeFailures atomic.Int64

	// cur is the Settings in effect with their header bounds computed;
	// nil until the first request or Reconfigure.
	cur atomic.Pointer[active]

	// idle holds the parked connections; nil when parking is off or
	// not available (not Linux, or epoll failed).
	idleOnce sync.Once
	idle     atomic.Pointer[idlePoller]

	// mu guards listeners, conns and done; it is taken when a
	// connection opens or closes and by Shutdown and Close, never per
	// request.
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	done      chan struct{} // closed by Shutdown and Close (doneChan)
}

// Serve accepts connections on ln and serves each in its own goroutine
// until Shutdown or Close, after which it returns http.ErrServerClosed. It
// returns another error when Accept fails for good; ln is then closed.
func (s *Server) Serve(ln net.Listener) error {
	if ln == nil || !s.trackListener(ln, true) {
		if ln != nil {
			_ = ln.Close()
		}
		return http.ErrServerClosed
	}
	defer s.trackListener(ln, false)
	s.idleOnce.Do(s.startIdlePoller)
	if s.Limit != nil {
		s.Limit.register(s, true)
		if s.inShutdown.Load() {
			// Shutdown or Close ran between trackListener and
			// register, and withdrew s before it was added.
			s.Limit.register(s, false)
		}
	}
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.Is(err, net.ErrClosed) || !errors.As(err, &ne) {
				_ = ln.Close()
				return err
			}
			// Out of file descriptors and the like: back off as
			// net/http does, 5ms doubling to 1s.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.logf("h1srv: accept error: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		// Until a slot is free this loop accepts nothing more: new
		// connections wait in the listen backlog.
		if s.Limit != nil && !s.Limit.acquire(s) {
			_ = rwc.Close()
			return http.ErrServerClosed
		}
		c := newConn(s, rwc)
		c.limit = s.Limit
		// The handshake is the connection's goroutine's: the loop
		// only notes which Config the connection starts with.
		c.tlsConfig = s.current().tlsFor(rwc)
		if !s.trackConn(c, true) {
			c.freeSlot()
			_ = rwc.Close()
			return http.ErrServerClosed
		}
		go c.serve(false)
	}
}

// Shutdown stops accepting connections, closes idle ones, and waits for
// the requests in flight to end and their connections to become idle,
// which it then closes. When ctx is done first it returns ctx.Err() and
// leaves the remaining connections open (Close ends them). Hijacked
// connections are the hijacker's to close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.markDone()
	s.closeListeners()
	// Poll as net/http does: 1ms doubling to 500ms.
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		// HTTP/2 connections are told to stop (GOAWAY) and end
		// once their streams are done.
		s.stopHTTP2()
		if s.closeIdle() {
			s.stopIdlePoller()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if wait *= 2; wait > 500*time.Millisecond {
				wait = 500 * time.Millisecond
			}
			t.Reset(wait)
		}
	}
}

// Close closes the listeners and every connection at once, cancelling the
// contexts of the requests in flight. Hijacked connections are left alone.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.markDone()
	err := s.closeListeners()
	s.stopIdlePoller()
	s.mu.Lock()
	for c := range s.conns {
		c.abort()
	}
	s.mu.Unlock()
	return err
}

func (s *Server) closeListeners() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for ln := range s.listeners {
		if cerr := ln.Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	return err
}

// closeIdleGrace is how long a connection must have been idle before a
// shutdown closes it under its client: about the longest a client on a
// busy connection takes between reading a response and sending the next
// request. (Parked connections have been idle for longer: hotIdle.)
const closeIdleGrace = 20 * time.Millisecond

// freshGrace is how long Shutdown leaves a connection that has not sent
// the first byte of its first request: a connection accepted just before
// the listener closed may have its request on the way, and closing it
// would fail a client that cannot retry (net/http waits 5s too). Such a
// connection silent for longer than hotIdle is parked, and parked ones
// are closed at once, so the wait is rarely that long.
const freshGrace = 5 * time.Second

// closeIdle closes the idle connections, but those whose client may be
// sending a request now (closeIdleGrace, freshGrace), and reports
// whether no other one is left.
func (s *Server) closeIdle() bool {
	if p := s.idle.Load(); p != nil {
		p.closeAll()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	quiet := true
	now := time.Now()
	for c := range s.conns {
		fresh := c.fresh.Load() && now.Sub(c.start) < freshGrace
		justIdle := c.state.Load() == stateIdle && now.UnixNano()-c.idleSince.Load() < int64(closeIdleGrace)
		if fresh || justIdle {
			// Its client may be sending a request right now: a close
			// would lose it (a POST is not sent again; a first
			// request not at all). Either that request comes and
			// its response says "Connection: close", or a later
			// round closes the connection.
			quiet = false
			continue
		}
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.rwc.Close()
			continue
		}
		if c.state.Load() != stateClosed {
			quiet = false
		}
	}
	return quiet
}

func (s *Server) trackListener(ln net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, ln)
		return true
	}
	if s.inShutdown.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.inShutdown.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

// startIdlePoller starts the poller of parked connections, unless
// parking is off; without one, idle connections keep their goroutines.
func (s *Server) startIdlePoller() {
	if s.NoParking {
		return
	}
	p, err := newIdlePoller(s)
	if err != nil {
		s.logf("h1srv: idle connections keep their goroutines: %v", err)
	}
	if p != nil {
		s.idle.Store(p)
	}
}

// stopIdlePoller closes the parked connections and stops the poller, or
// keeps one from starting, once the Server is shut down or closed.
func (s *Server) stopIdlePoller() {
	s.idleOnce.Do(func() {})
	if p := s.idle.Load(); p != nil {
		p.close()
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// active is a Server's Settings in effect, with the bounds of their
// Headers computed once.
type active struct {
	Settings
	lim limits
}

// current returns the Settings in effect.
func (s *Server) current() *active {
	if a := s.cur.Load(); a != nil {
		return a
	}
	s.cur.CompareAndSwap(nil, &active{Settings: s.Settings, lim: s.Settings.Headers.effective()})
	return s.cur.Load()
}

// Reconfigure replaces the Server's Settings while it serves: each
// connection takes them up at its next request, so a request in flight
// finishes with those it began with and no connection is closed.
func (s *Server) Reconfigure(set Settings) {
	s.cur.Store(&active{Settings: set, lim: set.Headers.effective()})
}

// tlsFor returns the TLS Config a new connection starts with, nil for
// plain (Settings.TLS and TLSByLocal).
func (a *active) tlsFor(c net.Conn) *tls.Config {
	if a.TLSByLocal == nil {
		return a.TLS
	}
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			if cfg, ok := a.TLSByLocal[ip.Unmap()]; ok {
				return cfg
			}
		}
	}
	return a.TLS
}

func (a *active) handler() http.Handler {
	if a.Handler != nil {
		return a.Handler
	}
	return http.DefaultServeMux
}
