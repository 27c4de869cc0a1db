package h1

import (
	"context"
	"errors"
	"github.com/limpet-lb/limpet/internal/upstream"
	"net"
	"time"
)

// TLSClient makes TLS client connections to upstream servers (see
// internal/uptls). Handshake turns nc, just dialed, into a TLS
// connection whose server was verified for name as the settings ask;
// it must honour ctx and nc's deadlines, and leaves nc to the caller to
// close when it fails.
type TLSClient interface {
	Handshake(ctx context.Context, nc net.Conn, name string) (net.Conn, error)
}

// handshake makes nc a TLS connection for name, within ConnectTimeout
// (nginx bounds its handshake by proxy_connect_timeout, on a timer of its
// own). On failure nc is closed and the error is a handshakeError.
func (t *Transport) handshake(ctx context.Context, nc net.Conn, name string) (net.Conn, error) {
	if ct := t.opts.ConnectTimeout; ct > 0 {
		_ = nc.SetDeadline(time.Now().Add(ct))
	}
	tc, err := t.opts.TLS.Handshake(ctx, nc, name)
	if err != nil {
		_ = nc.Close()
		return nil, &handshakeError{err: err}
	}
	if t.opts.ConnectTimeout > 0 {
		// The conn's deadline.Lazy values start from none.
		_ = nc.SetDeadline(time.Time{})
	}
	return tc, nil
}

// handshakeError is a failed TLS handshake with an upstream: nothing of
// the request was sent, so it may go to another server whatever its
// method, as after a failed connect.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// IsHandshakeError reports whether err is a failed TLS handshake with an
// upstream, before any byte of the request was written.
func IsHandshakeError(err error) bool {
	var he *handshakeError
	return errors.As(err, &he)
}

// tlsNameKey is the context key under which a request for the fallback
// carries its Forward's TLSName to DialTLSContext.
type tlsNameKey struct{}

// DialTLSContext dials addr and makes the connection a TLS one with
// Options.TLS, for the name of the request being sent (its Forward's
// TLSName, else Options.TLSName); each write is bounded by WriteTimeout.
// It is the fallback's DialTLSContext, so upgrades and Expect:
// 100-continue go over TLS as the fast path's requests do. Without
// Options.TLS it fails.
func (t *Transport) DialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if t.opts.TLS == nil {
		return nil, errors.New("h1: no TLS client for " + addr)
	}
	nc, err := upstream.Dial(ctx, &t.dialer, network, addr)
	if err != nil {
		return nil, err
	}
	name := t.opts.TLSName
	if n, ok := ctx.Value(tlsNameKey{}).(string); ok {
		name = n
	}
	return t.handshake(ctx, NewWriteTimeoutConn(nc, t.opts.WriteTimeout), name)
}

// fallbackDialTLS is the DialTLSContext of the fallback h1 builds, nil
// (the standard library's own TLS) without Options.TLS.
func (t *Transport) fallbackDialTLS() func(context.Context, string, string) (net.Conn, error) {
	if t.opts.TLS == nil {
		return nil
	}
	return t.DialTLSContext
}
