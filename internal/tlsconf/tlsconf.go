// Package tlsconf turns the TLS settings of the virtual servers on one
// listening socket (config.SSL, ngx_http_ssl_module's directives) into the
// socket's *tls.Config, as nginx builds one SSL_CTX per server block and
// switches to it by SNI.
//
// # Choosing the certificate
//
// The socket's Config has a GetConfigForClient that picks a virtual server
// by the client's SNI through the same router.VirtualHosts the requests'
// Host goes through (exact names, wildcards, regexes, the default server)
// and returns that server's prebuilt Config; a handshake without SNI, or
// naming a server without certificates, gets the default server's, as in
// nginx. Among a server's certificates crypto/tls takes the first the
// client supports (tls.ClientHelloInfo.SupportsCertificate), so an ECDSA
// and an RSA pair side by side serve each client the best it takes. The
// virtual server of each request is still chosen by its Host.
//
// # Sessions
//
// crypto/tls keeps no sessions on the server: they resume from tickets
// (TLS 1.2 session tickets, TLS 1.3 PSKs). With ssl_session_ticket_key
// files every limpet that reads them encrypts and decrypts alike (the
// first key encrypts, all decrypt), so resumption works across instances
// and keys rotate by adding a new file first. Each ticket carries when its
// session was made and which server made it: a ticket older than
// ssl_session_timeout, or made by another server block (whose client
// verification may differ), starts a full handshake.
//
// # Client certificates
//
// As nginx, limpet asks for the client's certificate and never fails the
// handshake over it: the verification (against ssl_client_certificate and
// ssl_trusted_certificate, ssl_verify_depth) is recorded for the
// connection (vars.RecordClientVerify, $ssl_client_verify), and Refuse
// says which requests the server's ssl_verify_client refuses with nginx's
// 400 pages, for the proxy's handler to answer and log.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/errpage"
	"github.com/limpet-lb/limpet/internal/router"
	"github.com/limpet-lb/limpet/internal/vars"
)

// Options are what New needs besides the servers.
type Options struct {
	// ALPN are the protocols offered by ALPN, most preferred first:
	// "http/1.1", with "h2" before it when the socket serves HTTP/2.
	ALPN []string
	// Now is the clock of session lifetimes; nil means time.Now.
	Now func() time.Time
}

// Listener is the TLS of one listening socket.
type Listener struct {
	// Config is the socket's Config, for h1srv.Settings.TLS.
	Config *tls.Config

	vhosts  *router.VirtualHosts
	def     *server
	servers map[*config.Server]*server
	guarded bool // some server verifies client certificates
}

// server is one virtual server's TLS.
type server struct {
	ssl    *config.SSL
	config *tls.Config
	id     uint32 // its index on the socket, carried in its tickets
}

// New builds the TLS of a socket from the servers that listen on it, in
// configuration order, defaultIndex being the default server's (-1 for the
// first). The default server must have a certificate (or
// ssl_reject_handshake on); config checks that.
func New(servers []*config.Server, defaultIndex int, opts Options) (*Listener, error) {
	vh, err := router.NewVirtualHosts(servers, defaultIndex)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Listener{vhosts: vh, servers: make(map[*config.Server]*server)}
	for i, srv := range servers {
		ssl := srv.SSL
		if ssl == nil || len(ssl.Certificates) == 0 && !ssl.RejectHandshake {
			continue // the default server's TLS serves it, as in nginx
		}
		s := &server{ssl: ssl, id: uint32(i)}
		s.config = s.build(opts)
		l.servers[srv] = s
		if ssl.VerifyClient != "off" {
			l.guarded = true
		}
	}
	l.def = l.servers[vh.Default()]
	if l.def == nil {
		return nil, fmt.Errorf("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in %s", vh.Default().Pos)
	}
	base := l.def.config.Clone()
	base.GetConfigForClient = l.configFor
	l.Config = base
	return l, nil
}

// pick returns the TLS of the server an SNI name chooses.
func (l *Listener) pick(name string) *server {
	if name == "" {
		return l.def
	}
	if s := l.servers[l.vhosts.Select(name)]; s != nil {
		return s
	}
	return l.def
}

// configFor is the socket's GetConfigForClient.
func (l *Listener) configFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	s := l.pick(hello.ServerName)
	if s.ssl.RejectHandshake {
		return nil, errors.New("handshake rejected (ssl_reject_handshake)")
	}
	return s.config, nil
}

// build makes a server's Config.
func (s *server) build(opts Options) *tls.Config {
	ssl := s.ssl
	c := &tls.Config{
		MinVersion:             ssl.MinVersion,
		MaxVersion:             ssl.MaxVersion,
		CipherSuites:           ssl.CipherSuites,
		CurvePreferences:       ssl.Curves,
		NextProtos:             opts.ALPN,
		SessionTicketsDisabled: !ssl.SessionTickets,
		Time:                   opts.Now,
	}
	for _, cert := range ssl.Certificates {
		c.Certificates = append(c.Certificates, cert.Cert)
	}
	if len(ssl.TicketKeys) > 0 {
		keys := make([][32]byte, len(ssl.TicketKeys))
		for i, k := range ssl.TicketKeys {
			keys[i] = k.Key
		}
		c.SetSessionTicketKeys(keys)
	}
	if ssl.SessionTickets {
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			// A session resumed keeps the stamp of its first
			// handshake: ssl_session_timeout counts from there.
			if !hasStamp(ss.Extra) {
				ss.Extra = append(ss.Extra, s.stamp(opts.Now()))
			}
			return c.EncryptTicket(cs, ss)
		}
		c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := c.DecryptTicket(identity, cs)
			if err != nil || ss == nil {
				return nil, err
			}
			if !s.fresh(ss.Extra, opts.Now()) {
				return nil, nil // a full handshake
			}
			return ss, nil
		}
	}
	if ssl.VerifyClient != "off" {
		c.ClientAuth = tls.RequestClientCert
		c.ClientCAs = ssl.ClientCAs
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				vars.RecordClientVerify(cs.PeerCertificates[0], s.verify(cs.PeerCertificates, opts.Now()))
			}
			return nil // as nginx: the request is refused, not the handshake
		}
	}
	return c
}

// stampTag marks limpet's part of a ticket's Extra.
const stampTag = "limpet-ssl1"

// stamp is the Extra a ticket carries: the tag, when the session was
// made (Unix seconds) and the server's id.
func (s *server) stamp(now time.Time) []byte {
	b := make([]byte, 0, len(stampTag)+12)
	b = append(b, stampTag...)
	b = binary.BigEndian.AppendUint64(b, uint64(now.Unix()))
	return binary.BigEndian.AppendUint32(b, s.id)
}

// hasStamp reports whether a ticket's Extra holds limpet's stamp.
func hasStamp(extra [][]byte) bool {
	for _, e := range extra {
		if len(e) == len(stampTag)+12 && string(e[:len(stampTag)]) == stampTag {
			return true
		}
	}
	return false
}

// fresh reports whether a ticket's Extra says it was made by this server
// within ssl_session_timeout.
func (s *server) fresh(extra [][]byte, now time.Time) bool {
	for _, e := range extra {
		if len(e) != len(stampTag)+12 || string(e[:len(stampTag)]) != stampTag {
			continue
		}
		made := time.Unix(int64(binary.BigEndian.Uint64(e[len(stampTag):])), 0)
		id := binary.BigEndian.Uint32(e[len(stampTag)+8:])
		return id == s.id && now.Sub(made) < s.ssl.SessionTimeout && !now.Before(made.Add(-time.Minute))
	}
	return false
}

// verify checks a client's chain as ssl_verify_client asks and returns
// the $ssl_client_verify value: "SUCCESS" or "FAILED:reason" in OpenSSL's
// words (X509_verify_cert_error_string).
func (s *server) verify(chain []*x509.Certificate, now time.Time) vars.ClientVerify {
	leaf := chain[0]
	switch {
	case now.After(leaf.NotAfter):
		return vars.ClientVerify{Result: "FAILED:certificate has expired"}
	case now.Before(leaf.NotBefore):
		return vars.ClientVerify{Result: "FAILED:certificate is not yet valid"}
	}
	if s.ssl.ClientCAs == nil {
		return vars.ClientVerify{Result: "FAILED:unable to get local issuer certificate", Optional: true}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.ssl.ClientCAs,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		switch {
		case errors.As(err, &ua):
			if len(chain) == 1 && leaf.CheckSignatureFrom(leaf) == nil {
				return vars.ClientVerify{Result: "FAILED:self-signed certificate", Optional: true}
			}
			return vars.ClientVerify{Result: "FAILED:unable to get local issuer certificate", Optional: true}
		case errors.As(err, &ci) && ci.Reason == x509.Expired:
			return vars.ClientVerify{Result: "FAILED:certificate has expired"}
		case errors.As(err, &ci) && ci.Reason == x509.IncompatibleUsage:
			return vars.ClientVerify{Result: "FAILED:unsupported certificate purpose"}
		case errors.As(err, &ci) && ci.Reason == x509.TooManyIntermediates:
			return vars.ClientVerify{Result: "FAILED:certificate chain too long"}
		}
		return vars.ClientVerify{Result: "FAILED:certificate verify error"}
	}
	// ssl_verify_depth counts the certificates above the client's, the
	// trusted CA included: the shortest chain must fit.
	shortest := len(chains[0])
	for _, c := range chains[1:] {
		shortest = min(shortest, len(c))
	}
	if shortest-1 > s.ssl.VerifyDepth {
		return vars.ClientVerify{Result: "FAILED:certificate chain too long"}
	}
	return vars.ClientVerify{Result: "SUCCESS"}
}

// Refuse returns the status a request for host on a connection in state
// cs is refused with, as nginx's ngx_http_process_request refuses it
// under the ssl_verify_client of the request's virtual server (chosen by
// Host), or 0 when it is served: a certificate that failed verification
// gets the 400 page "The SSL certificate error" (errpage.CertError; with
// optional_no_ca, unless the failure is only an unknown issuer), and with
// `on` a request without a certificate "No required SSL certificate was
// sent" (errpage.NoCert). As in nginx, a request whose Host names another
// server than the handshake's SNI did (when it sent one), if that server
// verifies clients, gets 421 Misdirected Request: its certificate was
// checked by another server's rules, if at all. The caller answers, and
// logs the request as any other (the proxy's handler, so the server's
// access_log has it).
func (l *Listener) Refuse(cs *tls.ConnectionState, host string) int {
	if !l.guarded || cs == nil {
		return 0
	}
	return l.refuse(cs, host)
}

// Guarded reports whether some server of the socket verifies client
// certificates, so that Refuse can refuse a request.
func (l *Listener) Guarded() bool { return l.guarded }

// refuse returns the status (or nginx pseudo-status) a request for host
// on a connection in state cs is refused with, or 0.
func (l *Listener) refuse(cs *tls.ConnectionState, host string) int {
	target := l.vhosts.Select(host)
	s := l.servers[target]
	if s == nil || s.ssl.VerifyClient == "off" {
		return 0
	}
	// Without SNI nothing was negotiated: nginx checks by Host alone.
	if cs.ServerName != "" && l.vhosts.Select(cs.ServerName) != target {
		return http.StatusMisdirectedRequest
	}
	mode := s.ssl.VerifyClient
	v, ok := vars.ClientVerifyOf(cs)
	switch {
	case !ok:
		if mode == "on" {
			return errpage.NoCert
		}
	case v.Result != "SUCCESS" && (mode != "optional_no_ca" || !v.Optional):
		return errpage.CertError
	}
	return 0
}
