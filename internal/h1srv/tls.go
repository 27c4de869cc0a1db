package h1srv

// TLS connections (Settings.TLS). The handshake runs on the connection's
// own goroutine, never in the accept loop, bounded by ReadHeaderTimeout
// from the connection's start (nginx's client_header_timeout covers its
// SSL handshake too). A handshake that fails is counted
// (HandshakeFailures) and logged to InfoLog, as nginx logs it at info;
// a plain HTTP request on the TLS socket is answered with nginx's 497
// page ("The plain HTTP request was sent to HTTPS port").
//
// TLS connections never park: a *tls.Conn may hold decrypted bytes, or a
// record read in part, that an epoll readiness on its socket knows nothing
// of, and its state cannot be given back to the pools. An idle TLS
// connection keeps its goroutine and buffers until keepalive_timeout, as
// under net/http; plain connections park as before.

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/limpet-lb/limpet/internal/errpage"
)

// HandshakeFailures returns how many TLS handshakes have failed on the
// Server's connections.
func (s *Server) HandshakeFailures() int64 { return s.handshakeFailures.Load() }

// startTLS runs the TLS handshake of a new connection with cfg and makes
// the connection speak through it. It reports false when the connection
// is to be closed: the handshake failed, or an HTTP/2 connection was
// served to its end.
func (c *conn) startTLS(cfg *tls.Config) bool {
	set := c.srv.current()
	raw := c.rwc
	tc := tls.Server(raw, cfg)
	if t := set.ReadHeaderTimeout; t > 0 {
		_ = raw.SetDeadline(c.start.Add(t))
	}
	err := tc.Handshake()
	_ = raw.SetDeadline(time.Time{})
	c.dlMu.Lock()
	c.rd.Forget()
	c.wd.Forget()
	c.dlMu.Unlock()
	if err != nil {
		c.srv.handshakeFailures.Add(1)
		if f := c.srv.SharedFailures; f != nil {
			f.Add(1)
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader) {
			c.srv.infof("h1srv: client sent plain HTTP request to HTTPS port, client: %s, server: %s", c.remote, raw.LocalAddr())
			c.reject(errpage.PlainHTTP)
			c.lingerClose()
			return false
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, net.ErrClosed):
			c.srv.infof("h1srv: client closed connection while SSL handshaking (%v), client: %s, server: %s", err, c.remote, raw.LocalAddr())
		default:
			c.srv.infof("h1srv: SSL handshake failed (%v) while SSL handshaking, client: %s, server: %s", err, c.remote, raw.LocalAddr())
		}
		return false
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.rwc = tc
	c.fd = -1 // never parked
	if st.NegotiatedProtocol == "h2" {
		if set.HTTP2 == nil {
			return false // offered by a Config made for another Settings
		}
		set.HTTP2.ServeConn(tc, set.handler())
		return false
	}
	return true
}

// looksLikeHTTP reports whether the five bytes a TLS record header was
// expected in start an HTTP/1 request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE", "TRACE":
		return true
	}
	return false
}

// infof logs what nginx logs at info level, when the Server has an InfoLog.
func (s *Server) infof(format string, args ...any) {
	if s.InfoLog != nil {
		s.InfoLog.Printf(format, args...)
	}
}
