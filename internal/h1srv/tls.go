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
	// The handshake reads through c.hs, which keeps what it read, so
	// that a plain HTTP request can be read again (plainOnTLS).
	c.hs = handshakeConn{Conn: raw, recording: true}
	tc := tls.Server(&c.hs, cfg)
	if t := set.ReadHeaderTimeout; t > 0 {
		_ = raw.SetDeadline(c.start.Add(t))
	}
	err := tc.Handshake()
	c.hs.recording = false
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
			if set.PlainHTTPToHandler && c.plainOnTLS(raw) {
				return true
			}
			c.hs = handshakeConn{}
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
	c.hs.reads = [len(c.hs.reads)][]byte{} // not pinned by a live connection
	st := tc.ConnectionState()
	c.tlsState = &st
	c.rwc = tc
	c.fd = -1 // never parked
	if st.NegotiatedProtocol == "h2" {
		if set.HTTP2 == nil {
			return false // offered by a Config made for another Settings
		}
		// As a plain connection's preface does (h2c.go): the slot, the
		// GOAWAY of a shutdown and each stream's current handler.
		c.serveHTTP2(set.HTTP2, tc, nil)
		return false
	}
	return true
}

// plainOnTLS makes the connection, whose TLS handshake found a plain HTTP
// request, serve it in plain HTTP from its first byte, its requests'
// contexts marked (errpage.MarkPlainHTTP) for the handler to answer with
// the 497 page, as nginx reads such a request and finalizes it with
// NGX_HTTP_TO_HTTPS (so its server's access_log and error_page have it).
// It reports false when the bytes the handshake read are not all kept.
func (c *conn) plainOnTLS(raw net.Conn) bool {
	if c.hs.n > len(c.hs.reads) {
		return false
	}
	r := &replayConn{Conn: raw} // h2c.go
	for _, b := range c.hs.reads[:c.hs.n] {
		r.pre = append(r.pre, b...)
	}
	c.hs = handshakeConn{}
	c.rwc = r
	c.fd = -1 // never parked
	c.base = errpage.MarkPlainHTTP(c.base)
	return true
}

// handshakeConn is the connection under a TLS handshake. It keeps the
// bytes of the first reads (slices of crypto/tls's own buffer, which an
// abandoned tls.Conn does not touch again, so nothing is copied), for
// plainOnTLS; after the handshake it only passes reads on.
type handshakeConn struct {
	net.Conn
	recording bool
	reads     [4][]byte
	n         int // reads seen while recording, possibly more than len(reads)
}

func (h *handshakeConn) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if h.recording && n > 0 {
		if h.n < len(h.reads) {
			h.reads[h.n] = p[:n:n]
		}
		h.n++
	}
	return n, err
}

// CloseWrite half-closes the connection, for lingerClose.
func (r *replayConn) CloseWrite() error {
	if cw, ok := r.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
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
