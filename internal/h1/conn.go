package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// Buffer sizes. Readers and writers are pooled and held only while a
// request is in flight, not by idle connections.
const (
	readBufferSize  = 8 << 10
	writeBufferSize = 4 << 10
	bodyBufferSize  = 32 << 10 // request bodies are copied through this
)

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}
	bodyBuf = sync.Pool{New: func() any { return new([bodyBufferSize]byte) }}
)

// afterFuncer is a context that runs a function when it ends, as
// context.AfterFunc does, with fewer allocations: h1srv's request contexts
// are (the context package uses the same method for a context's children).
type afterFuncer interface {
	AfterFunc(f func()) (stop func() bool)
}

// max1xx is how many informational responses may precede the final one.
const max1xx = 10

// earlyResponseWait is how long to look for a response after writing the
// request body failed: a server that refuses a body (413) answers and stops
// reading, and its answer is worth more than the write error.
const earlyResponseWait = 100 * time.Millisecond

// conn is one connection to an upstream. It is used by one request at a
// time: between being taken from its pool and being put back, only the
// request's goroutine touches it, except for closing the net.Conn, which a
// context's end or a concurrent Body.Close may do at any time.
//
// Deadlines: every read of nc is preceded by rd's extension for the
// timeout that bounds it (ResponseHeaderTimeout, BodyReadTimeout,
// earlyResponseWait, or none, which clears it), and every write by w's
// for WriteTimeout. A deadline left from one request therefore never
// reaches into the next, and none is cleared when a request ends: a busy
// connection's deadlines move once per deadline.MaxSlack, not several times per
// request.
type conn struct {
	t    *Transport
	pool *hostPool
	nc   net.Conn
	r    connReader
	w    connWriter
	rd   deadline.Lazy // nc's read deadline
	br   *bufio.Reader // from readers, while a request is in flight

	idleAt time.Time // when it was last put in the pool
	reused bool      // it carried a request before the current one

	// dialed is how long connecting took, for Forward.ConnectTime.
	dialed time.Duration

	// spare is a response's storage left unused by the last response
	// read (see readResponse), for the next one.
	spare *response

	abortFn func() // c.abort, made once for context.AfterFunc
	probe          // the liveness check of an idle connection
	watch          // the close watcher's state (watch_linux.go)
}

// newConn makes nc, just dialed, a conn of pool p. raw is the TCP
// connection under nc (nc itself unless it is a TLS one): the probe and
// the close watcher look at its socket, whose EOF or reset is the
// server's close whatever TLS does above it.
func newConn(t *Transport, p *hostPool, nc, raw net.Conn) *conn {
	c := &conn{t: t, pool: p, nc: nc}
	c.r.nc = nc
	c.r.limit = -1
	c.w.t = t
	c.w.nc = nc
	c.w.timeout = t.opts.WriteTimeout
	c.abortFn = c.abort
	c.probe.init(raw)
	if !t.noProbe && p.max > 0 {
		// A connection that is never pooled needs no watch.
		c.startWatch()
	}
	return c
}

// probeIdle reports whether an idle connection is open with nothing to
// read. The probe is a read, and fails on a read deadline that has passed,
// as the one a previous response's body left may have: so the deadline is
// first moved on for the wait for the next response, which is due anyway.
// now is the attempt's start, a reading of the clock with nothing that
// blocks since (see extendSince).
func (c *conn) probeIdle(now time.Time) bool {
	_ = extendSince(&c.rd, c.nc.SetReadDeadline, now, c.t.opts.ResponseHeaderTimeout, c.t.now)
	return c.alive()
}

// abort runs when the request's context ends: closing the connection
// unblocks whatever the request is doing on it.
func (c *conn) abort() { c.closeNow() }

// closeNow closes the connection, which every close of it goes through.
// It does not touch the bufio.Reader, which a body read in progress may be
// using.
func (c *conn) closeNow() {
	c.stopWatch()
	_ = c.nc.Close()
}

// discard ends the request on c without reusing it; only the request's own
// goroutine calls it.
func (c *conn) discard(stop func() bool) {
	if stop != nil {
		stop()
	}
	c.closeNow()
	if c.br != nil {
		c.br.Reset(nil)
		readers.Put(c.br)
		c.br = nil
	}
}

// finish ends the request on c once its response has been read to the end:
// c goes back to its pool if keep allows and the context did not end.
func (c *conn) finish(keep bool, stop func() bool) {
	if stop != nil && !stop() {
		// The context ended and abort has closed, or is closing, the
		// connection.
		keep = false
	}
	if c.br.Buffered() > 0 {
		// Bytes beyond the response: the server does not frame its
		// responses as we read them, and the next request would read
		// them as its own.
		keep = false
	}
	c.br.Reset(nil)
	readers.Put(c.br)
	c.br = nil
	// The body's read deadline stays: the next read, whether the probe
	// or the next response's, moves it first.
	if keep {
		c.pool.put(c, c.t.now())
	} else {
		c.closeNow()
	}
}

// roundTrip sends req, whose body is body (nil for none), and reads the
// response headers. retry reports that the request failed in a way that
// shows a stale reused connection and that it may be sent again. now is
// a reading of the clock with nothing that blocks since (the attempt's
// start, or the end of dialing), which the first write's deadline is
// counted from.
func (c *conn) roundTrip(ctx context.Context, req *http.Request, body io.ReadCloser, o *outgoing, now time.Time) (res *http.Response, retry bool, err error) {
	var stop func() bool
	if a, ok := ctx.(afterFuncer); ok {
		stop = a.AfterFunc(c.abortFn)
	} else if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.abortFn)
	}
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(&c.r)

	c.w.at = now
	err = c.writeRequest(req, body, o)
	c.w.at = time.Time{}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			c.discard(stop)
			return nil, false, cerr
		}
		var berr *bodyError
		var rerr *requestError
		if errors.As(err, &berr) || errors.As(err, &rerr) {
			// The body could not be read, or did not match its
			// length: the request's fault, not the connection's.
			c.discard(stop)
			return nil, false, err
		}
		if body == nil {
			// Nothing the server could act on reached it: a request
			// without a body is incomplete until its last byte.
			retry = c.reused && !isTimeout(err)
			c.discard(stop)
			return nil, retry, &connError{op: "writing request", err: err, stale: retry}
		}
		// A server refusing the body may have answered already.
		if res, ok := c.earlyResponse(ctx, req, o.storage, stop); ok {
			return res, false, nil
		}
		c.discard(stop)
		return nil, false, &connError{op: "writing request", err: err, stale: c.reused && connGone(err)}
	}

	// ResponseHeaderTimeout counts from the end of the request, which
	// the writes may have delayed: the clock is read afresh. With no
	// timeout, this clears the deadline a previous response's body left.
	_ = c.extendRead(c.t.opts.ResponseHeaderTimeout)
	// The response cannot be in yet: reading now would cost a system
	// call that fails (EAGAIN) and a trip through the netpoller. Let the
	// other ready requests run first, as an event loop serves every
	// ready connection before it reads again; by then the answer has
	// often come. When nothing else is ready this returns at once.
	runtime.Gosched()
	res, r, got, err := c.readResponse(req, o.storage)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			c.discard(stop)
			return nil, false, cerr
		}
		if IsInvalidHeader(err) {
			// Where one response ends is in doubt: the connection
			// cannot carry another.
			c.discard(stop)
			return nil, false, err
		}
		// Nothing came back on a connection that had been idle: the
		// server most likely closed it as the request went out, and
		// did not see the request. http.Transport retries then too,
		// for requests that are safe to repeat.
		stale := c.reused && !got && connGone(err)
		retry = stale && body == nil && replayable(req, o.header)
		c.discard(stop)
		if isTimeout(err) {
			return nil, false, &timeoutError{err: err}
		}
		return nil, retry, &connError{op: "reading response headers", err: err, stale: stale}
	}
	keep := res.ProtoAtLeast(1, 1) && !res.Close && !o.close
	return c.wrapBody(ctx, res, r, stop, keep), false, nil
}

// readResponse reads the response headers, skipping informational
// responses. got reports whether any byte of a response arrived. A header
// block of the common shape that is whole in the buffer is parsed there
// (parseBuffered); readStd reads the others.
//
// Every response is held to nginx's rules for the fields that frame its
// body (see checkFraming): parseBuffered accepts only the plain framing
// (one valid Content-Length, or none, and no Transfer-Encoding), and
// readStd checks the header blocks it reads. A refused response is a
// headerError.
//
// r is the storage of a response parseBuffered parsed, nil for one
// readStd read: lent, the caller's (Forward.Storage), when not nil. What
// parseBuffered declined, or parsed only to skip (informational
// responses), nobody refers to: its storage is reused, and one of the
// transport's own is kept in c.spare across requests, so that an upstream
// whose responses the fast path declines (chunked ones) costs no
// allocation of it per request. The caller's never goes there: it is
// the caller's again once this returns.
func (c *conn) readResponse(req *http.Request, lent *response) (res *http.Response, r *response, got bool, err error) {
	c.r.limit = c.t.maxHeaderBytes()
	defer func() { c.r.limit = -1 }()
	if _, err := c.br.Peek(1); err != nil {
		return nil, nil, false, err
	}
	for range max1xx {
		if r == nil {
			switch {
			case lent != nil:
				r = lent
			case c.spare != nil:
				r, c.spare = c.spare, nil
			default:
				r = new(response)
			}
		}
		var ok bool
		if res, ok = parseBuffered(c.br, req, r); !ok {
			r.clear() // the values of the declined parse
			if r != lent {
				c.spare = r
			}
			r = nil
			res, err = c.readStd(req)
		}
		if err != nil {
			return nil, nil, true, err
		}
		switch {
		case res.StatusCode == http.StatusSwitchingProtocols:
			// Upgrades go to the fallback; this request asked for none.
			return nil, nil, true, errUnexpected101
		case res.StatusCode >= 200 || res.StatusCode < 100:
			return res, r, true, nil
		}
		// 100 Continue nobody asked for, 103 Early Hints: the final
		// response follows, and this one is dropped.
		if r != nil {
			r.clear()
		}
	}
	return nil, nil, true, errTooMany1xx
}

// readStd reads a response with http.ReadResponse, after checkHead has
// found its framing sound. http.ReadResponse knows which responses have no
// body (HEAD, 1xx, 204, 304), which are delimited by the connection's
// close, and reads chunked bodies; it also refuses what is not HTTP, with
// its own words. But it keeps one of several identical Content-Length
// fields and drops Content-Length beside Transfer-Encoding, so its result
// cannot tell what came: checkHead reads the header block as it arrived.
// That block is most often whole in the buffer, and checked there; when it
// is not (it is still arriving, or larger than the buffer), a copy of what
// http.ReadResponse reads is checked after it.
func (c *conn) readStd(req *http.Request) (*http.Response, error) {
	buf, _ := c.br.Peek(c.br.Buffered())
	whole, err := checkHead(buf)
	switch {
	case err != nil:
		return nil, err
	case whole:
		res, err := http.ReadResponse(c.br, req)
		return res, readError(err)
	}
	raw := rawBuffers.Get().(*[]byte)
	*raw = append((*raw)[:0], buf...)
	c.r.tee = raw
	res, err := http.ReadResponse(c.br, req)
	c.r.tee = nil
	_, ferr := checkHead(*raw)
	if cap(*raw) <= maxPooledRaw {
		rawBuffers.Put(raw)
	}
	if ferr != nil {
		// The caller closes the connection, and res with it.
		return nil, ferr
	}
	return res, readError(err)
}

// rawBuffers hold the copies readStd checks of header blocks that were
// not whole in the buffer; those grown beyond maxPooledRaw are not kept.
var rawBuffers = sync.Pool{New: func() any { b := make([]byte, 0, readBufferSize); return &b }}

const maxPooledRaw = 64 << 10

// earlyResponse looks, briefly, for a response the server sent before
// writing the request body failed. The connection is not reused.
func (c *conn) earlyResponse(ctx context.Context, req *http.Request, lent *response, stop func() bool) (*http.Response, bool) {
	_ = c.extendRead(earlyResponseWait)
	res, r, _, err := c.readResponse(req, lent)
	if err != nil {
		return nil, false
	}
	// The body's reads move the deadline on for BodyReadTimeout, or
	// clear it.
	res.Close = true
	return c.wrapBody(ctx, res, r, stop, false), true
}

// wrapBody gives res a body that hands c back to its pool at its end, or
// does so at once when there is no body. r is res's storage when
// parseBuffered parsed it, which has room for the body; nil otherwise.
func (c *conn) wrapBody(ctx context.Context, res *http.Response, r *response, stop func() bool, keep bool) *http.Response {
	if res.Body == http.NoBody {
		c.finish(keep, stop)
		return res
	}
	if r == nil {
		res.Body = &body{c: c, rc: res.Body, ctx: ctx, stop: stop, keep: keep}
		return res
	}
	r.body = body{c: c, rc: res.Body, fixed: &r.fixed, ctx: ctx, stop: stop, keep: keep}
	res.Body = &r.body
	return res
}

// connReader reads from the connection, limiting the bytes read while
// limit is not negative: the response headers must fit in it. While tee is
// set, what it reads is appended to *tee too (see readStd).
type connReader struct {
	nc    net.Conn
	limit int64
	tee   *[]byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.limit < 0 {
		return r.nc.Read(p)
	}
	if r.limit == 0 {
		return 0, errHeadersTooLarge
	}
	if int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	n, err := r.nc.Read(p)
	r.limit -= int64(n)
	if r.tee != nil {
		*r.tee = append(*r.tee, p[:n]...)
	}
	return n, err
}

// connWriter writes to the connection, giving each write its own deadline
// (nginx's proxy_send_timeout is between two successive writes), and
// counts the bytes written. It deliberately does not implement
// io.ReaderFrom: net.TCPConn's would allocate a copy buffer per call.
type connWriter struct {
	t       *Transport
	nc      net.Conn
	timeout time.Duration
	wd      deadline.Lazy // nc's write deadline, moved only here
	n       int64         // bytes written for the current request
	// at, when not zero, is a reading of the clock with nothing that
	// blocks since (see extendSince), for the next write's deadline; a
	// write uses it up, and writeRequest drops it before it reads a
	// request body, which may block.
	at time.Time
}

func (w *connWriter) Write(p []byte) (int, error) {
	if w.timeout > 0 {
		var err error
		if at := w.at; !at.IsZero() {
			w.at = time.Time{}
			err = extendSince(&w.wd, w.nc.SetWriteDeadline, at, w.timeout, w.t.now)
		} else {
			err = w.wd.ExtendAt(w.nc.SetWriteDeadline, w.t.now(), w.timeout)
		}
		if err != nil {
			return 0, err
		}
	}
	n, err := w.nc.Write(p)
	w.n += int64(n)
	return n, err
}

// wantsClose reports whether the request asks for the connection to be
// closed after it.
func wantsClose(req *http.Request, h header) bool {
	return req.Close || httpsyntax.HasToken(h.values("Connection"), "close")
}

// replayable reports whether a request without a body may be sent twice,
// by http.Transport's rule: safe methods, or an idempotency key.
func replayable(req *http.Request, h header) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return h.has("Idempotency-Key") || h.has("X-Idempotency-Key")
}

// connGone reports whether err says the server closed the connection.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
