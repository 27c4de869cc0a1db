package h1srv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
	"github.com/limpet-lb/limpet/internal/errpage"
	"github.com/limpet-lb/limpet/internal/httpsyntax"
	"github.com/limpet-lb/limpet/internal/vars"
)

const (
	// bufSize is the size of each connection's read and write buffers.
	bufSize = 4 << 10
	// maxDiscard is how much of a request body the handler left unread
	// is read and dropped to keep the connection, as net/http does.
	maxDiscard = 256 << 10
	// watchDelay is how long a handler runs, after the request's body
	// has been read, before a read is started to notice the client
	// leaving (see the package comment).
	watchDelay = 100 * time.Millisecond
	// lingerTime is how long a connection closed with request bytes
	// still unread keeps reading them after its response, so that the
	// kernel's reset does not destroy the response (net/http waits
	// 500ms too).
	lingerTime = 500 * time.Millisecond
)

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading or serving a request
	stateIdle                // waiting for a request's first byte
	stateParked              // idle, held by the Server's idlePoller
	stateClosed              // closed by Shutdown or a parked timeout
)

// hotIdle is how long a connection waits for its next request on its
// goroutine, with its buffers, before it is parked without either (see
// idlePoller): between hotIdle and twice that, as the wait's deadline is
// moved lazily. Busy connections, whose requests follow each other
// closer than this, never park. Shorter, and a burst of new connections
// holds fewer goroutines and buffers at once (10,000 connections opened
// in a few seconds: 1.6 KiB each after them with 50ms, 2.7 KiB with
// 200ms); parking and waking cost a few microseconds, once per pause.
const hotIdle = 50 * time.Millisecond

var (
	readerPool   sync.Pool // *bufio.Reader of bufSize
	writerPool   sync.Pool // *bufio.Writer of bufSize
	responsePool sync.Pool // *response, with its header map
	aLongTimeAgo = time.Unix(1, 0)
)

// conn is one client connection.
type conn struct {
	srv    *Server
	set    *active // the Server's Settings for the current request
	rwc    net.Conn
	remote string
	base   context.Context // carries http.LocalAddrContextKey
	state  atomic.Int32
	// idleSince is the UnixNano time the connection last became idle,
	// set before its state says so.
	idleSince atomic.Int64

	r  connReader
	br *bufio.Reader
	bw *bufio.Writer
	w  *response // reused by every request while the connection is busy
	// spare is the last request's storage, reset for the next one
	// (Settings.ReuseRequests); nil when there is none.
	spare *request

	// raw holds the bytes of the current request's header block (and
	// what followed them in the same reads), for the check that it had
	// no Content-Length beside a Transfer-Encoding, which
	// http.ReadRequest deletes.
	raw    []byte
	teeing bool

	hijacked bool // the handler took the connection over
	// h2 is the HTTP2Server the connection was handed to (serveHTTP2),
	// nil while it speaks HTTP/1; guarded by srv.mu.
	h2 HTTP2Server

	// tlsConfig is the TLS the connection is to start with (nil: plain),
	// tlsState its state once the handshake is done, every request's
	// r.TLS (see tls.go).
	tlsConfig *tls.Config
	tlsState  *tls.ConnectionState
	// hs is the raw connection under the TLS handshake (tls.go).
	hs handshakeConn

	start  time.Time // when the connection was accepted
	served int       // requests answered so far
	serial uint64    // the connection's number ($connection)
	// fresh is true until the first byte of the first request is read:
	// Shutdown leaves such a connection open for freshGrace, since its
	// client may have sent a request that has not been read yet.
	fresh atomic.Bool
	limit *ConnLimit // whose slot the connection holds, until freeSlot

	// Parking (see idlePoller): the descriptor (-1 when the connection
	// cannot be parked), whether it is registered with the poller's
	// epoll instance, and, while parked, its generation, deadline and
	// when it parked, and its neighbours in the poller's list of parked
	// connections, oldest first.
	fd                 int32
	registered         bool
	parkGen            int32
	parkDeadline       time.Time
	parkedAt           time.Time
	parkPrev, parkNext *conn

	// The connection's read and write deadlines, moved lazily (see
	// package deadline): every deadline set on rwc goes through them,
	// or is followed by Forget. dlMu guards them: a transport may read
	// a request body, or a 100 Continue be written, from another
	// goroutine than the handler's.
	dlMu sync.Mutex
	rd   deadline.Lazy
	wd   deadline.Lazy
	// ownWD: the handler set a write deadline for the current response
	// (the Server's WriteTimeout does not apply); rawWrites: the
	// connection is hijacked, its deadlines are the hijacker's.
	ownWD     bool
	rawWrites bool
	// wantWD is the handler's write deadline while pendingWD says it is
	// not set on rwc yet: it is set before the next write, with that
	// write's clock reading (see clock.go).
	wantWD    time.Time
	pendingWD bool
	// writing is true while connWriter writes rwc: a write deadline set
	// meanwhile must reach rwc at once, to bound that write.
	writing atomic.Bool
	// wnow is a clock reading for the next write to rwc, taken as the
	// response's header block ended just before it (response.endHeader;
	// zero: the write reads the clock). It is used once: a write may
	// block. Set only once the response is committed, when no 100
	// Continue is written any more: the handler's goroutine is then the
	// only writer.
	wnow time.Time

	// reqStart is when the current request's first byte was read (nginx's
	// r->start), the one clock reading taken for it before its handler;
	// startFresh says that nothing that may block has run since: the
	// header block was whole in the buffer (see clock.go).
	reqStart   time.Time
	startFresh bool

	// mu guards the fields below: the request's context and the watch (see the package comment), shared with the timer's
	// goroutine, Server.Close and a body read from another goroutine.
	mu          sync.Mutex
	gen         uint64          // counts requests, so a late body read cannot arm the next one's watch
	ctx         *requestContext // the request's, while its handler runs
	reqDone     bool            // the handler returned or hijacked: no watch any more
	watchWanted bool            // the request wants a watch from armedAt+watchDelay on
	armedAt     time.Time       // when the request was read whole
	timerSet    bool            // the timer is pending
	watching    bool            // a watch read is in progress
	aborting    bool            // the watch read is being stopped by a past deadline
	watchDone   chan struct{}
	watched     bool // a watch read ran: rwc's read deadline is unknown
	gone        bool // the watch saw the client close or fail
	timer       *time.Timer
}

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, remote: rwc.RemoteAddr().String(), start: clock(), fd: -1}
	c.fresh.Store(true)
	c.base = context.WithValue(context.Background(), http.LocalAddrContextKey, rwc.LocalAddr())
	c.serial = connSerials.Add(1)
	c.base = context.WithValue(c.base, vars.ConnContextKey, vars.Conn(c))
	c.r.c = c
	c.r.remain = math.MaxInt64
	if s.idle.Load() != nil {
		c.fd = connFD(rwc)
	}
	c.takeBuffers()
	return c
}

// takeBuffers gives the connection its read and write buffers and its
// response's state, from the pools.
func (c *conn) takeBuffers() {
	if v := readerPool.Get(); v != nil {
		c.br = v.(*bufio.Reader)
		c.br.Reset(&c.r)
	} else {
		c.br = bufio.NewReaderSize(&c.r, bufSize)
	}
	if v := writerPool.Get(); v != nil {
		c.bw = v.(*bufio.Writer)
		c.bw.Reset(connWriter{c})
	} else {
		c.bw = bufio.NewWriterSize(connWriter{c}, bufSize)
	}
	if v := responsePool.Get(); v != nil {
		c.w = v.(*response)
	} else {
		c.w = &response{header: make(http.Header)}
	}
	c.w.c = c
}

// releaseBuffers returns the connection's buffers to the pools and drops
// what its last request left, for a connection about to park or close.
func (c *conn) releaseBuffers() {
	if c.br == nil {
		return
	}
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.br, c.bw = nil, nil
	*c.w = response{header: c.w.header}
	clear(c.w.header)
	responsePool.Put(c.w)
	c.w = nil
	c.raw = nil
	if c.spare != nil {
		c.spare.ctx.reset(nil) // the pool keeps no connection alive
		requestPool.Put(c.spare)
		c.spare = nil
	}
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer, c.timerSet = nil, false
	}
	c.mu.Unlock()
}

// connReader reads the connection for the bufio.Reader, counting down
// the header size limit while a request's headers are read.
type connReader struct {
	c      *conn
	remain int64
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.c.rwc.Read(p)
	r.remain -= int64(n)
	if n > 0 {
		c := r.c
		if c.teeing {
			c.raw = append(c.raw, p[:n]...)
		}
		if c.state.Load() == stateIdle {
			if !c.state.CompareAndSwap(stateIdle, stateActive) {
				return 0, net.ErrClosed // Shutdown closed it meanwhile
			}
			if c.served == 0 {
				c.fresh.Store(false)
			}
		}
	}
	return n, err
}

// serve reads and answers requests until the connection ends or parks.
// resumed says that the idle poller handed over a parked connection that
// has become readable.
func (c *conn) serve(resumed bool) {
	if cfg := c.tlsConfig; cfg != nil && !resumed {
		c.tlsConfig = nil
		if !c.startTLS(cfg) {
			c.close()
			return
		}
	}
	for ; ; c.served++ {
		// Settings are taken up afresh for each request, when it has
		// begun to arrive, so a reload's reach keep-alive connections
		// at their next request. The wait for it keeps the Settings the
		// last response was made under: that response promised (or
		// not) to keep the connection open for their IdleTimeout.
		if c.set == nil {
			c.set = c.srv.current()
		}
		hdrTimeout := c.set.ReadHeaderTimeout
		c.r.remain = int64(c.set.lim.block + bufSize)
		switch {
		case resumed:
			resumed = false
			c.takeBuffers()
		case c.br.Buffered() == 0:
			switch c.waitRequest(hdrTimeout) {
			case waitParked:
				return // the poller owns the connection now
			case waitGone:
				c.close()
				return
			}
		}
		c.set = c.srv.current()
		// The header read stops a buffer's worth past the block's
		// limit: a read may take in the start of a body with the
		// block's end.
		c.r.remain = int64(c.set.lim.block + bufSize)
		c.reqStart = clock()
		c.startFresh = c.headerDeadline(hdrTimeout, c.reqStart)
		if c.served == 0 && c.set.HTTP2 != nil && c.sawPreface() {
			c.servePrefaced(c.set.HTTP2)
			return
		}
		rq := c.takeRequest()
		req, ok := c.readRequest(rq)
		if !ok {
			c.close()
			return
		}
		if req.ContentLength != 0 {
			// The handler's reads of the body have no deadline but
			// those it sets, as with net/http.
			c.readClear()
		}
		keep := c.serveRequest(req, rq)
		if rq.reuse {
			// Reset now, not when the next request comes: an idle
			// connection holds none of this one's fields.
			rq.reset(c.base)
			c.spare = rq
		}
		if !keep {
			c.close()
			return
		}
	}
}

// takeRequest returns the storage for the next request: the last one's,
// reset (Settings.ReuseRequests), one from the pool when the handler
// promises to keep nothing of it, else a new one.
func (c *conn) takeRequest() *request {
	if rq := c.spare; rq != nil {
		c.spare = nil
		return rq
	}
	if c.set.ReuseRequests {
		if v := requestPool.Get(); v != nil {
			rq := v.(*request)
			rq.ctx.reset(c.base)
			return rq
		}
	}
	return newRequest(c.base)
}

// Outcomes of waitRequest.
const (
	waitReady  = iota // the next request's first byte is in the buffer
	waitParked        // the connection is parked: the goroutine must end
	waitGone          // the client left, timed out, or Shutdown closed it
)

// waitRequest waits for the first byte of the next request, for the
// connection's first request within the header timeout from its start,
// for later ones within IdleTimeout (keepalive_timeout). After hotIdle it
// parks the connection, when the Server has an idle poller.
func (c *conn) waitRequest(hdrTimeout time.Duration) int {
	s := c.srv
	now := clock()
	c.idleSince.Store(now.UnixNano())
	c.state.Store(stateIdle)
	if s.inShutdown.Load() && !c.fresh.Load() {
		// A fresh connection's first request may be on its way: it is
		// read, and Shutdown closes the connection after freshGrace.
		return waitGone
	}
	var deadline time.Time
	if c.served > 0 {
		deadline = now.Add(c.set.IdleTimeout)
	} else if hdrTimeout > 0 {
		deadline = c.start.Add(hdrTimeout)
	}
	idle := s.idle.Load()
	canPark := idle != nil && c.fd >= 0 && (deadline.IsZero() || deadline.Sub(now) > 2*hotIdle)
	if canPark {
		// Loosely: parking a little later costs nothing, and a busy
		// connection's deadline then moves a few times a second rather
		// than for every request.
		c.dlMu.Lock()
		_ = c.rd.Within(c.rwc.SetReadDeadline, now, hotIdle, 2*hotIdle)
		c.dlMu.Unlock()
	} else {
		c.readAt(now, deadline)
	}
	// No yield here, unlike after a request goes upstream (h1's
	// roundTrip): the client's next request is a round trip through the
	// client away, longer than the other connections take to run, so
	// yielding would only delay the read, often to fail all the same,
	// and a yielded goroutine waits behind every other (Go's global run
	// queue). Measured: p99 latency 25% lower without, for the same
	// CPU (bench/run's load, 8 paired rounds).
	_, err := c.br.Peek(1)
	if err == nil {
		return waitReady
	}
	if !canPark || !errors.Is(err, os.ErrDeadlineExceeded) || c.bw.Buffered() > 0 {
		return waitGone
	}
	c.releaseBuffers()
	if idle.park(c, deadline) {
		return waitParked
	}
	c.takeBuffers()
	c.readAt(clock(), deadline)
	if _, err := c.br.Peek(1); err != nil {
		return waitGone
	}
	return waitReady
}

// headerDeadline bounds the reading of a request's headers once its
// first byte is in (at now): from the connection's start for its first
// request, from now for later ones. A header block already whole in the
// buffer, as most are, needs no deadline: nothing more is read for it,
// and headerDeadline reports that it is so.
func (c *conn) headerDeadline(hdrTimeout time.Duration, now time.Time) (whole bool) {
	if b, _ := c.br.Peek(c.br.Buffered()); headerComplete(b) {
		return true
	}
	switch {
	case hdrTimeout <= 0:
		c.readClear()
	case c.served == 0:
		c.readAt(now, c.start.Add(hdrTimeout))
	default:
		c.readAt(now, now.Add(hdrTimeout))
	}
	return false
}

// headerComplete reports whether b holds a whole header block: the empty
// line that ends it (CRLF, or a bare LF, which http.ReadRequest accepts).
func headerComplete(b []byte) bool {
	return bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// readAt sets the read deadline to t (zero: none), lazily.
func (c *conn) readAt(now, t time.Time) {
	c.dlMu.Lock()
	_ = c.rd.SetAt(c.rwc.SetReadDeadline, now, t)
	c.dlMu.Unlock()
}

// readClear removes the read deadline, if one is set.
func (c *conn) readClear() {
	c.dlMu.Lock()
	_ = c.rd.Clear(c.rwc.SetReadDeadline)
	c.dlMu.Unlock()
}

// forgetReadDeadline records that rwc's read deadline was set behind rd's
// back (by the watch).
func (c *conn) forgetReadDeadline() {
	c.dlMu.Lock()
	c.rd.Forget()
	c.dlMu.Unlock()
}

// connWriter writes the connection for the bufio.Writer. Each write is
// bounded by the Server's WriteTimeout (nginx's send_timeout, between two
// successive writes), unless the handler set a deadline of its own for
// the current response.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	c := w.c
	// Under dlMu: a 100 Continue may be written from the goroutine
	// reading the body while the handler sets a deadline or hijacks.
	c.dlMu.Lock()
	now := c.wnow
	c.wnow = time.Time{}
	switch {
	case c.rawWrites:
	case c.ownWD:
		if c.pendingWD {
			c.pendingWD = false
			// The handler's time may carry no monotonic reading, and
			// wnow's wall clock is only the monotonic clock's
			// (deadline.Now): compared with it, a step of the wall
			// clock would move the deadline. A reading of its own.
			_ = c.wd.SetAt(c.rwc.SetWriteDeadline, clock(), c.wantWD)
		}
	default:
		_ = c.wd.ExtendAt(c.rwc.SetWriteDeadline, orNow(now), c.set.WriteTimeout)
	}
	c.writing.Store(true)
	c.dlMu.Unlock()
	n, err := c.rwc.Write(p)
	c.writing.Store(false)
	return n, err
}

// readRequest reads and checks the next request, the header size limit
// set: from the buffer when it has the whole header block of a request of
// the common shape (parseBuffered), with http.ReadRequest otherwise. On a
// bad request it answers it and returns false; on a network error it
// returns false without answering.
func (c *conn) readRequest(rq *request) (*http.Request, bool) {
	lim := &c.set.lim
	// RFC 9112 section 2.2: empty lines before a request line are
	// ignored (nginx skips them too), such as the CRLF some clients send
	// after a body. They count toward the header's limit: the read
	// counts every byte.
	for {
		b, err := c.br.Peek(1)
		if err != nil || b[0] != '\r' && b[0] != '\n' {
			break
		}
		_, _ = c.br.Discard(1)
	}
	if b, _ := c.br.Peek(c.br.Buffered()); len(b) > lim.quick {
		// A block this long may break a limit: the fast path would
		// not see it.
		if sc := scanHeader(b); sc.complete {
			if code := lim.tooLarge(sc, sc.counted(c.set.UnderscoresInHeaders, c.set.KeepInvalidHeaders)); code != 0 {
				c.reject(code)
				c.lingerClose()
				return nil, false
			}
		}
	}
	if req, hosts, odd, ok := parseBuffered(rq, c.br); ok {
		c.r.remain = math.MaxInt64
		switch {
		case len(req.Header) > maxKeptFields:
			rq.header = nil // grown large: not kept
		case c.set.ReuseRequests:
			// The map is the request's own: the next may reuse it.
			rq.header = req.Header
		}
		// It has one Content-Length at most, no Transfer-Encoding, no
		// folded line.
		if !c.checkRequest(req, headerScan{hosts: hosts, hostField: req.Host, oddNames: odd}) {
			return nil, false
		}
		return req, true
	}
	if b, _ := c.br.Peek(c.br.Buffered()); len(b) > 0 {
		c.raw = append(c.raw[:0], b...)
	} else {
		c.raw = c.raw[:0]
	}
	c.teeing = true
	req, err := http.ReadRequest(c.br)
	c.teeing = false
	hitLimit := c.r.remain <= 0
	c.r.remain = math.MaxInt64
	if cap(c.raw) > 2*bufSize {
		// Not kept for the connection's next requests: a header this
		// large is rare, and many connections might hold one each.
		defer func() { c.raw = nil }()
	}
	// http.ReadRequest keeps one Host and drops the field, merges equal
	// Content-Length fields, drops one beside Transfer-Encoding, ignores
	// Transfer-Encoding in HTTP/1.0 and unfolds folded lines: the raw
	// header block tells what the client sent.
	sc := scanHeader(c.raw)
	if code := lim.tooLarge(sc, sc.counted(c.set.UnderscoresInHeaders, c.set.KeepInvalidHeaders)); code != 0 || hitLimit && err != nil {
		if code == 0 {
			code = errpage.HeaderTooLarge
		}
		c.reject(code)
		c.lingerClose()
		return nil, false
	}
	if err != nil {
		switch {
		case isNetReadError(err):
			// The client left or timed out: nobody to answer.
		case strings.HasPrefix(err.Error(), "unsupported transfer encoding"):
			c.reject(http.StatusNotImplemented) // unsupported transfer encoding
		default:
			c.reject(http.StatusBadRequest)
		}
		return nil, false
	}
	if req.ProtoMajor != 1 {
		c.reject(http.StatusHTTPVersionNotSupported) // unsupported protocol version
		return nil, false
	}
	for k := range req.Header {
		if !httpsyntax.ValidToken(k) {
			c.reject(http.StatusBadRequest) // invalid header name
			return nil, false
		}
	}
	if !c.checkRequest(req, sc) {
		return nil, false
	}
	if strings.IndexByte(req.RequestURI, '#') >= 0 {
		if !stripFragment(req) {
			c.reject(http.StatusBadRequest)
			return nil, false
		}
	}
	return rq.setRequest(req), true
}

// checkRequest makes the checks of RFC 9112 and nginx that
// http.ReadRequest does not, on a request whose raw header block showed
// sc, and drops the fields nginx ignores. It answers a bad request and
// returns false.
func (c *conn) checkRequest(req *http.Request, sc headerScan) bool {
	// RFC 9112 section 3.2: 400 for HTTP/1.1 without Host, for several
	// Host lines, and for an invalid one (ngx_http_validate_host's
	// rule; an absolute-form target's host is req.Host too).
	if sc.hosts == 0 && req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect {
		c.reject(http.StatusBadRequest) // missing required Host header
		return false
	}
	if sc.hosts > 1 {
		c.reject(http.StatusBadRequest) // too many Host headers
		return false
	}
	if sc.hosts > 0 && !httpsyntax.ClientHost(sc.hostField) || req.Host != "" && !httpsyntax.ClientHost(req.Host) {
		// Both the Host field and an absolute-form target's host,
		// which takes precedence, are checked, as in nginx.
		c.reject(http.StatusBadRequest) // malformed Host header
		return false
	}
	// nginx's methods are of upper-case letters, '_' and '-': "trace"
	// or "G.T" would pass a check for "TRACE" and reach a backend that
	// reads methods without regard to case.
	if !nginxMethod(req.Method) {
		c.reject(http.StatusBadRequest) // invalid method
		return false
	}
	if !targetForm(req.Method, req.RequestURI) {
		c.reject(http.StatusBadRequest) // invalid request target
		return false
	}
	// RFC 9112 section 6.1: a server that receives Transfer-Encoding in
	// an HTTP/1.0 request "MUST treat the message as if the framing is
	// faulty" and close the connection: an HTTP/1.0 peer along the way
	// would read the body as the next request (smuggling).
	if sc.transferEncoding && !req.ProtoAtLeast(1, 1) {
		c.reject(http.StatusBadRequest) // HTTP/1.0 request with Transfer-Encoding
		return false
	}
	// RFC 9112 section 6.3: a message with both Transfer-Encoding and
	// Content-Length "ought to be handled as an error"; it is how
	// request smuggling starts. Two Content-Length fields, even equal
	// ones, nginx refuses as a duplicate.
	if sc.contentLengths > 0 && sc.transferEncoding {
		c.reject(http.StatusBadRequest) // both Transfer-Encoding and Content-Length
		return false
	}
	if sc.contentLengths > 1 {
		c.reject(http.StatusBadRequest) // duplicate Content-Length
		return false
	}
	// RFC 9112 section 5.2: a server must reject obsolete line folding
	// or replace it; nginx rejects it.
	if sc.folded {
		c.reject(http.StatusBadRequest) // obsolete line folding
		return false
	}
	switch req.Method {
	case http.MethodTrace:
		// nginx answers TRACE 405: echoing the request back would show
		// a page's script the cookies it may not read.
		c.reject(http.StatusMethodNotAllowed)
		return false
	case http.MethodConnect:
		// nginx has no tunnels: 405, or 400 when the target is not the
		// authority form CONNECT takes (RFC 9110 section 9.3.6).
		if !authorityForm(req.RequestURI) {
			c.reject(http.StatusBadRequest)
		} else {
			c.reject(http.StatusMethodNotAllowed)
		}
		return false
	}
	if sc.oddNames && !c.set.KeepInvalidHeaders {
		dropInvalidFields(req.Header, c.set.UnderscoresInHeaders)
	}
	return true
}

// authorityForm reports whether target is host:port with a valid host
// and a port.
func authorityForm(target string) bool {
	i := strings.LastIndexByte(target, ':')
	return i > 0 && i < len(target)-1 && target[0] != '/' && httpsyntax.ClientHost(target)
}

// dropInvalidFields deletes the fields whose names nginx calls invalid:
// bytes other than letters, digits, '-' and, when underscores, '_'.
func dropInvalidFields(h http.Header, underscores bool) {
	for k := range h {
		if kind := nameKind(k); kind == nameInvalid || kind == nameUnderscore && !underscores {
			delete(h, k)
		}
	}
}

// nginxMethod reports whether m is a method nginx reads: upper-case
// letters, '_' and '-'.
func nginxMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return m != ""
}

// targetForm reports whether target is a request target of a form nginx
// reads (RFC 9112 section 3.2): a path (origin form), an absolute URI
// whose host nginx accepts, "*" for OPTIONS, and for CONNECT anything,
// which checkRequest refuses on its own terms. "http:/a" or
// "http://user@a/", which net/http reads, are not.
func targetForm(method, target string) bool {
	switch {
	case target != "" && target[0] == '/', method == http.MethodConnect:
		return true
	case target == "*":
		return method == http.MethodOptions
	}
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || scheme == "" {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		if c := scheme[i] | 0x20; (c < 'a' || c > 'z') && (i == 0 || (c < '0' || c > '9') && c != '+' && c != '-' && c != '.') {
			return false
		}
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	return httpsyntax.ClientHost(host)
}

// stripFragment removes a "#fragment" from req's target, which clients
// do not send (RFC 9110 section 4.2.5) and nginx cuts from $uri and
// $args, so that it can neither hide a "/.." from normalisation nor
// reach a location's match. The raw target (RequestURI, nginx's
// $request_uri) keeps it. It reports false when what is left is no
// request target.
func stripFragment(req *http.Request) bool {
	target, _, _ := strings.Cut(req.RequestURI, "#")
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return false
	}
	req.URL = u
	return true
}

// serveRequest runs the handler for req, whose storage is rq, and
// finishes its response. It returns whether the connection may serve
// another request, and sets rq.reuse when rq may be reset for another
// (Settings.ReuseRequests).
func (c *conn) serveRequest(req *http.Request, rq *request) (keep bool) {
	s := c.srv
	ctx := &rq.ctx
	w := c.w
	w.reset(req)
	c.dlMu.Lock()
	c.ownWD = false // the Server's WriteTimeout again, until the handler sets one
	c.pendingWD = false
	c.dlMu.Unlock()

	var b *body
	expectContinue := false
	if ex := req.Header["Expect"]; len(ex) > 0 {
		if req.ProtoAtLeast(1, 1) && len(ex) == 1 && strings.EqualFold(ex[0], "100-continue") {
			expectContinue = req.ContentLength != 0
		} else if req.ProtoAtLeast(1, 1) {
			c.reject(http.StatusExpectationFailed)
			return false
		}
	}

	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.ctx = ctx
	c.reqDone = false
	c.gone = false
	c.mu.Unlock()

	if req.Body != nil && req.Body != http.NoBody {
		b = &body{c: c, src: req.Body, gen: gen, expect: expectContinue}
		req.Body = b
		w.body = b
		w.expect = expectContinue
	} else if c.startFresh {
		c.arm(gen, c.reqStart) // read whole when it began
	} else {
		c.arm(gen, clock())
	}
	req.RemoteAddr = c.remote
	req.TLS = c.tlsState
	w.req = req

	panicked := c.runHandler(w, req)
	if b != nil && !c.hijacked {
		b.detach()
	}
	if c.stopWatch() {
		c.forgetReadDeadline()
	}
	ctx.cancel()
	c.mu.Lock()
	c.ctx = nil // the watch and abort cancel it no more
	gone := c.gone
	c.mu.Unlock()
	if c.hijacked {
		return false
	}
	if panicked {
		return false
	}
	// The handler has returned, keeping nothing of the request (the
	// Settings' promise), and h1srv's own goroutines are done with it:
	// the watch is stopped and the context out of c.ctx's reach. The
	// exceptions are a body, which a transport may read from another
	// goroutine after ServeHTTP (and body.detach only stops its
	// reads), and a context whose Done channel or AfterFunc functions
	// were used. w.finish below still reads req: the caller resets rq
	// once serveRequest returns.
	rq.reuse = c.set.ReuseRequests && b == nil && ctx.reusable()
	w.finish()
	if w.closeAfter || gone {
		if b != nil && !b.done() {
			c.lingerClose()
		}
		return false
	}
	if b != nil && !b.done() && !b.discardRest(c.set.ReadHeaderTimeout) {
		c.lingerClose()
		return false
	}
	return !s.inShutdown.Load()
}

// runHandler calls the handler and recovers its panic, which it logs
// unless it is http.ErrAbortHandler.
func (c *conn) runHandler(w *response, req *http.Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf("h1srv: panic serving %s: %v\n%s", c.remote, v, buf)
			}
		}
	}()
	c.set.handler().ServeHTTP(w, req)
	return false
}

// arm asks for the watch once the request of generation gen has been read
// whole, at now. The timer is not set and stopped for every request, which
// would cost two timer changes per request: a pending timer stays, and
// when it fires for an earlier request, watch sets it again for the
// current one.
func (c *conn) arm(gen uint64, now time.Time) {
	c.mu.Lock()
	if gen == c.gen && !c.reqDone && !c.watchWanted {
		c.watchWanted = true
		c.armedAt = now
		switch {
		case c.timer == nil:
			c.timer = time.AfterFunc(watchDelay, c.watch)
			c.timerSet = true
		case !c.timerSet:
			c.timer.Reset(watchDelay)
			c.timerSet = true
		}
	}
	c.mu.Unlock()
}

// watch runs in the timer's goroutine: it reads the connection until the
// client closes it (cancelling the request), sends a byte, or the watch
// is stopped.
func (c *conn) watch() {
	c.mu.Lock()
	c.timerSet = false
	if !c.watchWanted || c.watching || c.reqDone || c.timer == nil {
		c.mu.Unlock()
		return
	}
	if wait := watchDelay - clock().Sub(c.armedAt); wait > 0 {
		// Set for an earlier request: wait on for this one.
		c.timer.Reset(wait)
		c.timerSet = true
		c.mu.Unlock()
		return
	}
	c.watching = true
	c.watched = true
	c.aborting = false
	done := make(chan struct{})
	c.watchDone = done
	c.mu.Unlock()

	var err error
	if c.br.Buffered() == 0 {
		// The watch waits as long as the handler runs: no deadline
		// left from reading the request may cut it short. Through
		// rd, so that a deadline the handler sets later is set.
		c.readClear()
		_, err = c.br.Peek(1)
	}

	c.mu.Lock()
	c.watching = false
	// A timeout not of our making is the handler's own read deadline:
	// it says nothing about the client.
	if err != nil && !c.aborting && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.gone = true
		if c.ctx != nil {
			c.ctx.cancel()
		}
	}
	close(done)
	c.mu.Unlock()
}

// stopWatch ends the request's watch: the timer is stopped and a watch
// read in progress interrupted and awaited, so the connection's buffer
// is the caller's again. It reports whether a watch read ran during the
// request, which leaves rwc's read deadline unknown.
func (c *conn) stopWatch() (watched bool) {
	c.mu.Lock()
	c.reqDone = true
	c.watchWanted = false // the pending timer, if any, fires for nothing
	watched, c.watched = c.watched, false
	if !c.watching {
		c.mu.Unlock()
		return watched
	}
	c.aborting = true
	done := c.watchDone
	c.mu.Unlock()
	_ = c.rwc.SetReadDeadline(aLongTimeAgo)
	<-done
	_ = c.rwc.SetReadDeadline(time.Time{})
	return true
}

// abort cancels the request in flight and closes the connection, for
// Server.Close.
func (c *conn) abort() {
	c.mu.Lock()
	if c.ctx != nil {
		c.ctx.cancel()
	}
	c.mu.Unlock()
	_ = c.rwc.Close()
}

// reject answers a request that could not be read with nginx's error
// page for code (errpage.HeaderTooLarge included), and leaves the
// connection to be closed. As from nginx, the page says no more than the
// status: why is for the error log at info level, which limpet does not
// keep.
func (c *conn) reject(code int) {
	body := errpage.Body(code)
	now := clock()
	c.dlMu.Lock()
	c.ownWD = true // a second, not the Server's WriteTimeout
	c.pendingWD = false
	_ = c.wd.SetAt(c.rwc.SetWriteDeadline, now, now.Add(time.Second))
	c.dlMu.Unlock()
	c.bw.WriteString(statusLine(errpage.Status(code)))
	c.bw.WriteString("Content-Type: text/html\r\nConnection: close\r\nContent-Length: ")
	c.bw.WriteString(itoa(len(body)))
	c.bw.WriteString("\r\n\r\n")
	c.bw.WriteString(body)
	_ = c.bw.Flush()
}

// lingerClose half-closes the connection and reads what the client still
// sends for a while, so that closing it with unread bytes does not reset
// it before the client has read the response.
func (c *conn) lingerClose() {
	_ = c.bw.Flush()
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.rwc.SetReadDeadline(clock().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.rwc, 4<<20))
}

// close ends the connection, unless it was hijacked, and returns its
// buffers.
func (c *conn) close() {
	c.mu.Lock()
	c.reqDone = true
	c.watchWanted = false
	if c.timer != nil {
		c.timer.Stop()
		c.timerSet = false
	}
	c.mu.Unlock()
	c.srv.trackConn(c, false)
	if c.hijacked {
		c.freeSlot() // its handler has returned
		return
	}
	_ = c.rwc.Close()
	c.freeSlot()
	c.releaseBuffers()
}

// closeParked closes a parked connection, which has no goroutine and no
// buffers, for the idle poller.
func (c *conn) closeParked() {
	c.srv.trackConn(c, false)
	_ = c.rwc.Close()
	c.freeSlot()
}

// isNetReadError reports a read error that means the client left or
// was too slow: no answer is due.
func isNetReadError(err error) bool {
	if err == io.EOF {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read" || errors.Is(err, net.ErrClosed)
}
