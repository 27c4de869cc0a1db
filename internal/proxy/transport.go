package proxy

import (
	"context"
	"net"
	"net/http"
	"time"
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

// NewTransport returns the standard library transport configured with
// nginx's timeouts, keeping up to idlePerServer idle connections per server
// (0 means the default of 32).
func NewTransport(t Timeouts, idlePerServer int) *http.Transport {
	if idlePerServer <= 0 {
		idlePerServer = defaultIdlePerServer
	}
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleTimeoutConn{Conn: c, read: t.Read, write: t.Send}, nil
		},
		MaxIdleConns:        0, // no overall limit; the per-server one applies
		MaxIdleConnsPerHost: idlePerServer,
		IdleConnTimeout:     60 * time.Second,
		// The first byte of the response is a read like the others.
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

// idleTimeoutConn gives every read and every write its own deadline, which
// turns Go's absolute deadlines into nginx's timeouts between two
// successive operations.
type idleTimeoutConn struct {
	net.Conn
	read, write time.Duration
}

func (c *idleTimeoutConn) Read(p []byte) (int, error) {
	if c.read > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.read)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *idleTimeoutConn) Write(p []byte) (int, error) {
	if c.write > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
			return 0, err
		}
	}
	// The transport keeps a read pending on every pooled connection, even
	// an idle one, and that read will receive the response to what is
	// written now. Its deadline must not run while the request (and a
	// client's slow upload) is still being sent: the wait for the
	// response headers is bounded by ResponseHeaderTimeout, which starts
	// once the request is fully written, and every later read sets its
	// own deadline.
	if c.read > 0 {
		if err := c.Conn.SetReadDeadline(time.Time{}); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}
