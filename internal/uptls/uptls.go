// Package uptls is limpet's TLS client for upstream servers: what a
// location's proxy_ssl_* settings (ngx_http_proxy_module) make of a TCP
// connection to one of its servers.
//
// nginx verifies an upstream's certificate apart from the name it sends:
// proxy_ssl_name is checked against the certificate whether or not
// proxy_ssl_server_name sends it as SNI, and nothing is checked at all
// with proxy_ssl_verify off (its default). Go's TLS client ties the two
// together through tls.Config.ServerName, so a Client turns Go's own
// verification off and does nginx's in VerifyConnection: the chain against
// proxy_ssl_trusted_certificate within proxy_ssl_verify_depth, then the
// name, with nginx's words for each failure.
//
// Sessions are resumed (proxy_ssl_session_reuse on) through one
// tls.ClientSessionCache per Client, which Go keys by the server's address
// when no SNI is sent and by the name otherwise.
package uptls

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// sessionCacheSize is how many TLS sessions a Client keeps: one per
// server is enough to resume each, and upstreams have few.
const sessionCacheSize = 256

// Client makes TLS client connections with one location's settings. It
// is safe for concurrent use.
type Client struct {
	base   *tls.Config
	verify bool
	roots  *x509.CertPool
	depth  int
	sni    bool
	key    string
}

// New builds the Client of s. A cipher list that does not parse is an
// error at its line (a *config.Error).
func New(s *config.UpstreamSSL) (*Client, error) {
	suites, err := CipherSuites(s.Ciphers)
	if err != nil {
		return nil, &config.Error{Pos: s.CiphersPos, Msg: fmt.Sprintf("SSL_CTX_set_cipher_list(%q) failed (%v)", s.Ciphers, err)}
	}
	lo, hi := versions(s.Protocols)
	base := &tls.Config{
		// nginx's verification is done in VerifyConnection (see the
		// package comment), not Go's.
		InsecureSkipVerify: true, //nolint:gosec // verified by check
		MinVersion:         lo,
		MaxVersion:         hi,
		CipherSuites:       suites,
	}
	if s.SessionReuse {
		base.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	}
	if s.Certificate != nil {
		cert := s.Certificate
		// Sent whatever CAs the server says it accepts, as nginx sends
		// it; Go's own choice would send none when they do not match.
		base.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c := &Client{base: base, verify: s.Verify, roots: s.Trusted, depth: s.VerifyDepth, sni: s.ServerName}
	c.key = key(s, suites)
	return c, nil
}

// key is what tells two Clients apart: the settings and the content of
// the files they read.
func key(s *config.UpstreamSSL, suites []uint16) string {
	h := sha256.New()
	if s.Certificate != nil {
		for _, der := range s.Certificate.Certificate {
			h.Write(der)
		}
	}
	fmt.Fprintf(h, "%v|%d|%s|%v|%q|%v|%v|%s|%s", s.Verify, s.VerifyDepth, s.TrustedDigest, s.ServerName,
		s.Name, s.Protocols, suites, s.CertificateFile, s.CertificateKeyFile)
	fmt.Fprintf(h, "|%v", s.SessionReuse)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Key identifies the Client's settings and files: two Clients of the
// same Key make the same connections, so a transport built for one may
// serve the other (a reload that changed nothing keeps its connections).
func (c *Client) Key() string { return c.key }

// versions returns the lowest and highest of nginx's protocol names.
func versions(names []string) (lo, hi uint16) {
	v := map[string]uint16{"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}
	for _, n := range names {
		x := v[n]
		if x == 0 {
			continue
		}
		if lo == 0 || x < lo {
			lo = x
		}
		if x > hi {
			hi = x
		}
	}
	return lo, hi
}

// Handshake makes nc, a connection just dialed, a TLS client connection
// with the server, whose certificate must match name when verification
// is on; name is also sent as SNI when proxy_ssl_server_name is on (but
// never an IP address, as neither nginx nor Go send one). The handshake
// is bounded by ctx and by nc's deadlines. Its errors are *Error; nc is
// left for the caller to close.
func (c *Client) Handshake(ctx context.Context, nc net.Conn, name string) (net.Conn, error) {
	cfg := c.base.Clone()
	if c.sni {
		cfg.ServerName = stripPort(name)
	}
	if c.verify {
		host := stripPort(name)
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return c.check(cs, host) }
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, &Error{err: err}
	}
	return tc, nil
}

// stripPort removes a port from name: $proxy_host holds one when the
// proxy_pass URL writes it, and nginx verifies and sends the host alone.
func stripPort(name string) string {
	if h, _, err := net.SplitHostPort(name); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
}

// check is nginx's verification of the server's certificate (after
// ngx_http_upstream_ssl_handshake): the chain first, then the name.
func (c *Client) check(cs tls.ConnectionState, name string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &VerifyError{msg: "upstream SSL certificate verify error: (50:application verification failure)"}
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: time.Now()})
	if err != nil {
		return &VerifyError{msg: "upstream SSL certificate verify error: " + opensslReason(certs[0], err), err: err}
	}
	ok := false
	for _, ch := range chains {
		// OpenSSL's depth counts the certificates above the server's:
		// 1 lets a trusted CA sign it directly.
		if len(ch)-1 <= c.depth {
			ok = true
			break
		}
	}
	if !ok {
		return &VerifyError{msg: "upstream SSL certificate verify error: (22:certificate chain too long)"}
	}
	if err := certs[0].VerifyHostname(name); err != nil {
		return &VerifyError{msg: fmt.Sprintf("upstream SSL certificate does not match \"%s\"", name), err: err}
	}
	return nil
}

// opensslReason words a chain error as OpenSSL's verify result,
// "(code:text)", which nginx logs.
func opensslReason(leaf *x509.Certificate, err error) string {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		if leaf.CheckSignatureFrom(leaf) == nil {
			return "(18:self-signed certificate)"
		}
		return "(20:unable to get local issuer certificate)"
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			if time.Now().Before(ci.Cert.NotBefore) {
				return "(9:certificate is not yet valid)"
			}
			return "(10:certificate has expired)"
		case x509.IncompatibleUsage:
			return "(26:unsupported certificate purpose)"
		case x509.NotAuthorizedToSign:
			return "(79:invalid CA certificate)"
		}
	}
	return "(" + err.Error() + ")"
}

// VerifyError is a failed verification of an upstream's certificate, in
// nginx's words.
type VerifyError struct {
	msg string
	err error
}

func (e *VerifyError) Error() string { return e.msg }

// Unwrap returns the x509 error behind e, if any.
func (e *VerifyError) Unwrap() error { return e.err }

// Error is a failed TLS handshake with an upstream, worded as nginx logs
// it: a verification failure as such, any other as SSL_do_handshake()'s.
type Error struct{ err error }

func (e *Error) Error() string {
	var ve *VerifyError
	var ne net.Error
	switch {
	case errors.As(e.err, &ve):
		return ve.msg + " while SSL handshaking to upstream"
	case errors.As(e.err, &ne) && ne.Timeout(), errors.Is(e.err, context.DeadlineExceeded):
		return "upstream timed out (110: Connection timed out) while SSL handshaking to upstream"
	}
	return "SSL_do_handshake() failed (" + e.err.Error() + ") while SSL handshaking to upstream"
}

// Unwrap returns the handshake's error (a timeout stays a net.Error).
func (e *Error) Unwrap() error { return e.err }
