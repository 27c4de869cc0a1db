// Package h1 is limpet's HTTP/1.1 client for plain-HTTP upstreams.
//
// The standard library's http.Transport runs every request through three
// goroutines, the caller's and each connection's readLoop and writeLoop,
// handing requests and responses between them over channels. At a load
// balancer's request rates those handoffs, and the allocations around them,
// cost more than the proxying itself. Transport does the whole exchange on
// the caller's goroutine instead: it takes an idle connection from a small
// per-address stack (or dials one), writes the request through a pooled
// bufio.Writer, reads the response headers through a pooled bufio.Reader with
// http.ReadResponse, and puts the connection back on the stack when the
// caller has read the body to its end.
//
// No goroutine reads an idle connection. On Linux one epoll instance for
// the process watches every connection for the server's close (see
// closeWatcher), so an idle connection the server closed leaves its pool and
// is closed at once, instead of holding its descriptor in CLOSE_WAIT until
// the idle timeout; it costs nothing per request. Elsewhere, and for a close
// that races the taking, a non-blocking peek at the socket (on Unix) finds
// the EOF when a connection idle for a while is taken. A request that still
// loses the race (the server closes just as the request goes out) is sent
// again once, on a new connection, when http.Transport would do the same:
// nothing of it was processed, and it has no body to replay.
//
// A response whose body's framing is in doubt is refused as nginx refuses
// it, with nginx's words (see framing.go): several Content-Length fields,
// Content-Length with Transfer-Encoding, a Transfer-Encoding other than
// chunked, an invalid Content-Length. The error is one IsInvalidHeader
// reports (nginx's invalid_header), and the connection is closed.
//
// With Options.TLS, "https" requests take the fast path too: each new
// connection is made a TLS connection before its first request (see
// tls.go), and is pooled, probed and watched as a plain one is.
//
// What the fast path does not do goes to Options.Fallback: protocol upgrades
// (a 101 response's body must be the connection itself), Expect:
// 100-continue, CONNECT, and every scheme but "http" (and "https" with
// Options.TLS).
package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/httpsyntax"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// Defaults for the zero fields of Options.
const (
	// DefaultMaxIdlePerHost is how many idle connections are kept per
	// address when Options.MaxIdlePerHost is 0.
	DefaultMaxIdlePerHost = 32
	// DefaultIdleTimeout is how long an idle connection is kept when
	// Options.IdleTimeout is 0.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxResponseHeaderBytes limits response headers when
	// Options.MaxResponseHeaderBytes is 0; it is http.DefaultMaxHeaderBytes,
	// the limit limpet applies to its own clients.
	DefaultMaxResponseHeaderBytes = 1 << 20
)

// Options configures a Transport. The zero value of every field has a
// working default.
//
// The timeouts are connection deadlines moved lazily (see deadline.Lazy):
// one may fire late by up to a sixteenth of its length, and by at most
// deadline.MaxSlack (300ms), but never early.
type Options struct {
	// ConnectTimeout bounds dialing a connection (nginx's
	// proxy_connect_timeout); 0 means only the request's context bounds it.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers,
	// counted from the moment the request, body included, is fully written
	// (nginx's proxy_read_timeout), so a client's slow upload is not the
	// server's delay; 0 means no limit. The body is not bounded: the caller
	// bounds its reads itself.
	ResponseHeaderTimeout time.Duration
	// WriteTimeout bounds each write to the connection, not the whole
	// request (nginx's proxy_send_timeout); 0 means no limit.
	WriteTimeout time.Duration
	// BodyReadTimeout bounds each read of a fast-path response body, the
	// wait between two successive reads (nginx's proxy_read_timeout once
	// the headers are in), with a connection deadline: no timer, no
	// allocation. 0 leaves body reads to the caller. Fast-path bodies
	// report it with a ReadTimeoutApplied method.
	BodyReadTimeout time.Duration
	// MaxIdlePerHost is how many idle connections are kept per address; 0
	// means DefaultMaxIdlePerHost (32), and a negative value keeps none.
	// Those beyond it are closed after a second idle, not at once (see
	// surplusGrace).
	MaxIdlePerHost int
	// IdleTimeout is how long a connection may stay idle before it is
	// closed; 0 means DefaultIdleTimeout (60 seconds).
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes limits the size of a response's headers,
	// informational responses included; 0 means
	// DefaultMaxResponseHeaderBytes (1 MiB).
	MaxResponseHeaderBytes int64
	// Fallback carries the requests the fast path does not handle
	// (upgrades, Expect: 100-continue, CONNECT, schemes other than "http").
	// nil means an http.Transport configured from these options.
	Fallback http.RoundTripper
	// TLS, when set, makes "https" requests take the fast path: every
	// connection of theirs is made by TLS.Handshake, bounded by
	// ConnectTimeout as nginx bounds its handshake by
	// proxy_connect_timeout. nil sends "https" requests to the fallback.
	TLS TLSClient
	// TLSName is the name TLS.Handshake is given for a request whose
	// Forward names none (nginx's proxy_ssl_name).
	TLSName string
}

// Transport is an http.RoundTripper for plain-HTTP/1.1 upstreams. It is safe
// for concurrent use; its zero value is a Transport with default Options.
type Transport struct {
	opts   Options
	dialer net.Dialer

	// pools maps an address ("host:port") to its idle connections. The
	// map is never changed once published: a new address copies it under
	// poolsMu, so the request path looks it up with one atomic load.
	pools atomic.Pointer[map[string]*hostPool]
	// tlsPools is the same for TLS connections (Options.TLS), by address
	// for Options.TLSName, by address, NUL and name for a Forward's own
	// TLSName.
	tlsPools atomic.Pointer[map[string]*hostPool]
	poolsMu  sync.Mutex // serialises the copy-on-write updates of pools and tlsPools

	fallbackOnce sync.Once
	fallback     http.RoundTripper

	// noProbe turns off the liveness probe and the close watch of idle
	// connections, so tests can reach the retry path.
	noProbe bool
	// clock, when set, is read instead of deadline.Now: tests count the
	// readings with it.
	clock func() time.Time
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport configured by o.
func New(o Options) *Transport {
	t := &Transport{opts: o}
	t.dialer = net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	return t
}

// RoundTrip sends req and returns the response, whose body the caller must
// read to its end, or close, for the connection to be reused or released.
// The fast path runs on the caller's goroutine; other requests go to the
// fallback. Dial errors are the dialer's *net.OpError (Op "dial"); a timeout
// waiting for the response headers is a net.Error whose Timeout is true; a
// request whose context ends fails with the context's error.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.RoundTripContext(req.Context(), req)
}

// RoundTripContext is RoundTrip for a request whose context is ctx, not
// req.Context(), which it ignores: a proxy that builds a request per
// attempt spares the copy of it that http.Request.WithContext makes.
func (t *Transport) RoundTripContext(ctx context.Context, req *http.Request) (*http.Response, error) {
	return t.roundTrip(ctx, req, nil)
}

// roundTrip sends req, whose context is ctx and whose header is fwd when
// there is one, req.Header otherwise.
func (t *Transport) roundTrip(ctx context.Context, req *http.Request, fwd *Forward) (*http.Response, error) {
	hdr := header{h: req.Header, fwd: fwd}
	if !t.fastPath(req, hdr) {
		if req.Context() != ctx || fwd != nil {
			req = req.WithContext(ctx)
		}
		if fwd != nil {
			if fwd.TLSName != "" && t.opts.TLS != nil {
				req = req.WithContext(context.WithValue(ctx, tlsNameKey{}, fwd.TLSName))
			}
			req.Header = fwd.Header()
		}
		return t.fallbackTransport().RoundTrip(req)
	}
	body := req.Body
	if body == http.NoBody {
		body = nil
	}
	o := outgoing{header: hdr}
	if fwd != nil && fwd.Storage != nil {
		o.storage = &fwd.Storage.r
	}
	err := checkRequest(req, body, &o)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		closeBody(body)
		return nil, err
	}
	var p *hostPool
	if o.tls {
		// fastPath let "https" through: Options.TLS is set.
		name := ""
		if fwd != nil {
			name = fwd.TLSName
		}
		p = t.tlsPool(o.addr, name)
	} else {
		p = t.pool(o.addr)
	}
	// The attempt's start: the caller's reading of the clock, or ours.
	// It is the current time until something blocks, and so serves the
	// taking of a pooled connection and the request's first write.
	var start time.Time
	if fwd != nil && hasMonotonic(fwd.Now) {
		start = fwd.Now
	}
	fresh := false
	for {
		c, now, err := t.conn(ctx, p, fresh, start)
		if err != nil {
			closeBody(body)
			return nil, err
		}
		if fwd != nil {
			fwd.ConnectTime = c.dialed // 0 for a pooled connection
			if c.reused {
				fwd.ConnectTime = 0
			}
		}
		res, retry, err := c.roundTrip(ctx, req, body, &o, now)
		if err == nil {
			return res, nil
		}
		if !retry || fresh {
			return nil, err
		}
		// A reused connection the server had closed: once more, on a
		// connection of our own making.
		fresh = true
	}
}

// CloseIdleConnections closes the idle connections of every address, and
// those of the fallback if it has such a method. Connections in use are not
// interrupted.
func (t *Transport) CloseIdleConnections() {
	for _, pools := range []*atomic.Pointer[map[string]*hostPool]{&t.pools, &t.tlsPools} {
		if m := pools.Load(); m != nil {
			for _, p := range *m {
				p.closeIdle()
			}
		}
	}
	if f, ok := t.fallbackTransport().(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// fastPath reports whether req is one the fast path sends: plain HTTP
// (or HTTPS with Options.TLS), without a protocol upgrade (the 101
// response's body must be the connection, as an io.ReadWriteCloser),
// without Expect: 100-continue (the body must wait for the interim
// response) and not a CONNECT tunnel.
func (t *Transport) fastPath(req *http.Request, h header) bool {
	if req.URL == nil || req.Method == http.MethodConnect {
		return false
	}
	if s := req.URL.Scheme; s != "http" && (s != "https" || t.opts.TLS == nil) {
		return false
	}
	return !httpsyntax.HasToken(h.values("Connection"), "upgrade") && !httpsyntax.HasToken(h.values("Expect"), "100-continue")
}

// probeAfter is how long a connection must have been idle before it is
// probed for a close by the server. Servers close idle connections after
// seconds (keep-alive timeouts), so one that came back to the pool a moment
// ago is alive; skipping the probe then saves a system call on every
// request of a busy upstream. A close in that moment still fails only
// requests that can be retried (idempotent ones are, on a fresh connection).
const probeAfter = 500 * time.Millisecond

// conn returns a connection to the pool's address: the most recently idle
// one still open, unless fresh, else a new one. start is the attempt's
// start (see roundTrip), zero for none; a fresh connection is for a
// second attempt, long after it. now is the current time as the
// connection is returned: start for a pooled one, the end of dialing for
// a new one.
func (t *Transport) conn(ctx context.Context, p *hostPool, fresh bool, start time.Time) (c *conn, now time.Time, err error) {
	now = start
	if fresh || now.IsZero() {
		now = t.now()
	}
	if !fresh {
		// Nothing below blocks: the probe does not wait, and the
		// pool's lock is held for moments.
		for {
			c := p.get(now)
			if c == nil {
				break
			}
			if c.peerClosed() {
				// Taken as the close watcher found it closed.
				c.closeNow()
				continue
			}
			if t.noProbe || now.Sub(c.idleAt) < probeAfter || c.probeIdle(now) {
				c.reused = true
				return c, now, nil
			}
			// The server closed it, or sent something unasked.
			c.closeNow()
		}
	}
	began := now
	nc, err := upstream.Dial(ctx, &t.dialer, "tcp", p.addr)
	if err != nil {
		// Left as the dialer's *net.OpError with Op "dial", which tells
		// the proxy that nothing was sent.
		return nil, time.Time{}, err
	}
	if p.tls {
		tc, err := t.handshake(ctx, nc, p.name)
		if err != nil {
			return nil, time.Time{}, err
		}
		// $upstream_connect_time includes the handshake, as nginx's.
		c = newConn(t, p, tc, nc)
	} else {
		c = newConn(t, p, nc, nc)
	}
	now = t.now()
	c.dialed = now.Sub(began)
	return c, now, nil
}

// pool returns the idle-connection pool of addr, creating it on first use.
func (t *Transport) pool(addr string) *hostPool {
	if m := t.pools.Load(); m != nil {
		if p := (*m)[addr]; p != nil {
			return p
		}
	}
	return t.newPool(&t.pools, addr, addr, "", false)
}

// tlsPool returns the pool of TLS connections to addr made for name, ""
// meaning Options.TLSName. A request naming a name of its own (a
// proxy_ssl_name with variables) gets a pool of that name: a connection
// verified for one name must not carry a request for another.
func (t *Transport) tlsPool(addr, name string) *hostPool {
	key := addr
	if name == "" || name == t.opts.TLSName {
		name = t.opts.TLSName
	} else {
		key = addr + "\x00" + name
	}
	if m := t.tlsPools.Load(); m != nil {
		if p := (*m)[key]; p != nil {
			return p
		}
	}
	return t.newPool(&t.tlsPools, key, addr, name, true)
}

// newPool adds the pool of key to pools, connecting to addr (over TLS
// for name when tls is set), unless another caller did first.
func (t *Transport) newPool(pools *atomic.Pointer[map[string]*hostPool], key, addr, name string, tls bool) *hostPool {
	t.poolsMu.Lock()
	defer t.poolsMu.Unlock()
	old := pools.Load()
	if old != nil {
		if p := (*old)[key]; p != nil {
			return p
		}
	}
	m := make(map[string]*hostPool, 1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	p := &hostPool{addr: addr, max: t.maxIdle(), timeout: t.idleTimeout(), grace: surplusGrace, tls: tls, name: name}
	m[key] = p
	pools.Store(&m)
	return p
}

func (t *Transport) maxIdle() int {
	switch n := t.opts.MaxIdlePerHost; {
	case n == 0:
		return DefaultMaxIdlePerHost
	case n < 0:
		return 0
	default:
		return n
	}
}

func (t *Transport) idleTimeout() time.Duration {
	if t.opts.IdleTimeout > 0 {
		return t.opts.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (t *Transport) maxHeaderBytes() int64 {
	if t.opts.MaxResponseHeaderBytes > 0 {
		return t.opts.MaxResponseHeaderBytes
	}
	return DefaultMaxResponseHeaderBytes
}

// fallbackTransport returns Options.Fallback, or builds the standard
// transport that stands in for it.
func (t *Transport) fallbackTransport() http.RoundTripper {
	t.fallbackOnce.Do(func() {
		if t.opts.Fallback != nil {
			t.fallback = t.opts.Fallback
			return
		}
		dialer := &net.Dialer{Timeout: t.opts.ConnectTimeout, KeepAlive: 30 * time.Second}
		write := t.opts.WriteTimeout
		t.fallback = &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := upstream.Dial(ctx, dialer, network, addr)
				if err != nil {
					return nil, err
				}
				return NewWriteTimeoutConn(c, write), nil
			},
			DialTLSContext:         t.fallbackDialTLS(),
			MaxIdleConnsPerHost:    t.maxIdle(),
			IdleConnTimeout:        t.idleTimeout(),
			ResponseHeaderTimeout:  t.opts.ResponseHeaderTimeout,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxResponseHeaderBytes: t.maxHeaderBytes(),
			// A proxy passes Accept-Encoding on as it is.
			DisableCompression: true,
			// The custom dialer would otherwise turn HTTP/2 off for
			// TLS upstreams.
			ForceAttemptHTTP2: true,
		}
	})
	return t.fallback
}

// closeBody closes a request body, ignoring nil.
func closeBody(b io.ReadCloser) {
	if b != nil {
		_ = b.Close()
	}
}
