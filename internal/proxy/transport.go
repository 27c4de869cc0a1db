package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// Timeouts are nginx's three upstream timeouts.
type Timeouts struct {
	// Connect bounds establishing a connection (proxy_connect_timeout).
	Connect time.Duration
	// Read bounds the wait between two successive reads from the server,
	// not the whole response (proxy_read_timeout), so a slow stream that
	// keeps sending stays open.
	Read time.Duration
	// Send bounds the wait between two successive writes to the server
	// (proxy_send_timeout).
	Send time.Duration
}

// defaultIdlePerServer is how many idle connections limpet keeps per server
// when the upstream has no `keepalive` directive. nginx closes upstream
// connections after each request unless told otherwise; limpet pools them
// by default because reconnecting costs more than it protects.
const defaultIdlePerServer = 32

// Transport is what carries requests to upstream servers: a RoundTripper
// whose idle connections can be closed at shutdown.
type Transport interface {
	http.RoundTripper
	CloseIdleConnections()
}

// NewTransport returns limpet's upstream transport with nginx's timeouts,
// keeping up to idlePerServer idle connections per server (0 means the
// default of 32): the h1 client, which runs each request on its caller's
// goroutine over pooled keep-alive connections, with the standard library
// transport behind it for what h1 does not handle (upgrades,
// Expect: 100-continue).
func NewTransport(t Timeouts, idlePerServer int) Transport {
	if idlePerServer <= 0 {
		idlePerServer = defaultIdlePerServer
	}
	return h1.New(h1.Options{
		ConnectTimeout:        t.Connect,
		ResponseHeaderTimeout: t.Read,
		WriteTimeout:          t.Send,
		BodyReadTimeout:       t.Read,
		MaxIdlePerHost:        idlePerServer,
		IdleTimeout:           60 * time.Second,
		Fallback:              NewStdTransport(t, idlePerServer),
	})
}

// NewStdTransport returns the standard library transport configured with
// nginx's timeouts, keeping up to idlePerServer idle connections per server.
func NewStdTransport(t Timeouts, idlePerServer int) *http.Transport {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := upstream.Dial(ctx, dialer, network, addr)
			if err != nil {
				return nil, err
			}
			// Each write gets its own deadline, which turns Go's
			// absolute deadlines into nginx's proxy_send_timeout
			// between two successive writes. Reads are bounded
			// elsewhere: the wait for response headers by
			// ResponseHeaderTimeout (which starts once the request is
			// fully written, so a client's slow upload is not an
			// upstream timeout), and the body by idleTimeoutBody.
			return h1.NewWriteTimeoutConn(c, t.Send), nil
		},
		MaxIdleConns:        0, // no overall limit; the per-server one applies
		MaxIdleConnsPerHost: idlePerServer,
		IdleConnTimeout:     60 * time.Second,
		// proxy_read_timeout for the wait for the response headers,
		// counted from the end of the request as nginx counts it.
		ResponseHeaderTimeout: t.Read,
		// A proxy passes the client's Accept-Encoding as it is and must
		// not ask for, or undo, compression on its own.
		DisableCompression: true,
		// Upstreams are spoken to in HTTP/1.1; HTTP/2 is not attempted.
		ForceAttemptHTTP2: false,
		// Same limit as the client side (http.DefaultMaxHeaderBytes).
		MaxResponseHeaderBytes: 1 << 20,
	}
}

// errReadTimeout is the error of an upstream read that outlasted
// proxy_read_timeout.
var errReadTimeout = errors.New("upstream timed out while reading the response body (proxy_read_timeout)")

// idleTimeoutBody bounds each read of an upstream response body by the
// read timeout, as nginx's proxy_read_timeout bounds the wait between two
// successive reads. The clock runs only inside Read, so a slow client
// (limpet waiting to write, not to read) is not the upstream's fault.
type idleTimeoutBody struct {
	io.ReadCloser
	timeout  time.Duration
	timer    *time.Timer
	timedOut atomic.Bool
}

func newIdleTimeoutBody(rc io.ReadCloser, timeout time.Duration) *idleTimeoutBody {
	b := &idleTimeoutBody{ReadCloser: rc, timeout: timeout}
	b.timer = time.AfterFunc(timeout, func() {
		b.timedOut.Store(true)
		_ = rc.Close() // unblocks the Read in progress
	})
	b.timer.Stop()
	return b
}

func (b *idleTimeoutBody) Read(p []byte) (int, error) {
	if b.timedOut.Load() {
		return 0, errReadTimeout
	}
	b.timer.Reset(b.timeout)
	n, err := b.ReadCloser.Read(p)
	if !b.timer.Stop() && b.timedOut.Load() {
		return n, errReadTimeout
	}
	return n, err
}

// Close stops the timer and closes the body.
func (b *idleTimeoutBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}
