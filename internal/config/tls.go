package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// This file reads ngx_http_ssl_module's directives, at http and server
// level, merged from http to server as nginx merges them, and loads what
// they name: certificates and keys (so that `-t` reports a bad PEM or a
// key that does not match its certificate at its line, and warns of an
// expired one), client CA files and session ticket keys. The runtime
// (internal/tlsconf) turns a Server's SSL into a *tls.Config.

// Defaults of ngx_http_ssl_module.
const (
	// DefaultSSLSessionTimeout is ssl_session_timeout's default.
	DefaultSSLSessionTimeout = 5 * time.Minute
	// DefaultSSLVerifyDepth is ssl_verify_depth's default.
	DefaultSSLVerifyDepth = 1
)

// SSL is a virtual server's TLS settings (ngx_http_ssl_module), merged
// from http to server, with the files they name already loaded.
type SSL struct {
	// Certificates are the ssl_certificate / ssl_certificate_key pairs,
	// in order (an RSA and an ECDSA pair side by side; the handshake
	// takes the first the client supports). Empty when none is set.
	Certificates []Certificate
	// MinVersion and MaxVersion bound ssl_protocols (default TLSv1.2
	// TLSv1.3); crypto/tls speaks a range, without gaps.
	MinVersion, MaxVersion uint16
	// CipherSuites is ssl_ciphers mapped to crypto/tls's TLS 1.0–1.2
	// suites; nil means crypto/tls's defaults. TLS 1.3 suites are not
	// configurable.
	CipherSuites []uint16
	// Curves is ssl_ecdh_curve; nil means "auto" (crypto/tls's defaults).
	Curves []tls.CurveID
	// SessionTimeout is ssl_session_timeout (default 5m): how long a
	// session may be resumed from its ticket.
	SessionTimeout time.Duration
	// SessionTickets is ssl_session_tickets (default on).
	SessionTickets bool
	// TicketKeys are the ssl_session_ticket_key files, in order: the
	// first encrypts new tickets, all decrypt. Empty means keys of
	// limpet's own, random, kept for the process's life.
	TicketKeys []TicketKey
	// VerifyClient is ssl_verify_client: "off" (default), "on",
	// "optional" or "optional_no_ca".
	VerifyClient string
	// VerifyDepth is ssl_verify_depth (default 1): how many certificates
	// above the client's may its chain have, the trusted CA included.
	VerifyDepth int
	// ClientCAs holds the CAs of ssl_client_certificate and
	// ssl_trusted_certificate, that client certificates are verified
	// against; nil when neither is set.
	ClientCAs *x509.CertPool
	// RejectHandshake is ssl_reject_handshake on: handshakes that choose
	// this server are refused.
	RejectHandshake bool
}

// Certificate is one ssl_certificate with its ssl_certificate_key, loaded.
type Certificate struct {
	Pos Pos // of ssl_certificate
	// Cert is the chain from CertFile, leaf first, with its key.
	Cert tls.Certificate
}

// TicketKey is one ssl_session_ticket_key file.
type TicketKey struct {
	Pos Pos
	// Key is the 32-byte key crypto/tls takes, derived (SHA-256) from
	// the file's 48 or 80 bytes: every limpet that reads the same file
	// encrypts and decrypts tickets alike.
	Key [32]byte
}

// sslLevel is the ssl_* settings written at one level (http or a server).
type sslLevel struct {
	certs      []*Directive
	keys       []*Directive
	protocols  setting[[2]uint16]
	ciphers    setting[[]uint16]
	curves     setting[[]tls.CurveID]
	timeout    setting[time.Duration]
	tickets    setting[bool]
	ticketKeys []*Directive
	verify     setting[string]
	verifyDir  *Directive // the ssl_verify_client line, for the CA check
	depth      setting[int]
	clientCA   setting[*Directive]
	trustedCA  setting[*Directive]
	reject     setting[bool]
	// on is the obsolete `ssl on`.
	on setting[bool]
}

// sslAt returns the ssl settings of s's level.
func (b *builder) sslAt(s *scope) *sslLevel {
	if s.srv == nil {
		return &b.httpSSL
	}
	if b.serverSSL == nil {
		b.serverSSL = make(map[*serverConf]*sslLevel)
	}
	lv := b.serverSSL[s.srv]
	if lv == nil {
		lv = &sslLevel{}
		b.serverSSL[s.srv] = lv
	}
	return lv
}

// sslPath resolves a file argument against the main file's directory, as
// nginx resolves it against its configuration prefix.
func (b *builder) sslPath(d *Directive) (string, error) {
	p := d.Args[0]
	switch {
	case p == "":
		return "", d.invalidArg(p)
	case strings.Contains(p, "$"):
		return "", d.errorf("variables in the %q directive are not supported by limpet", d.Name)
	case strings.HasPrefix(p, "data:") || strings.HasPrefix(p, "engine:"):
		return "", d.errorf("%q in the %q directive is not supported by limpet", p, d.Name)
	case !filepath.IsAbs(p):
		p = filepath.Join(b.dir, p)
	}
	return p, nil
}

// sslCertificate handles `ssl_certificate FILE;` and
// `ssl_certificate_key FILE;`, several per level, paired in order.
func (b *builder) sslCertificate(d *Directive, s *scope) error {
	if _, err := b.sslPath(d); err != nil {
		return err
	}
	lv := b.sslAt(s)
	if d.Name == "ssl_certificate" {
		lv.certs = append(lv.certs, d)
	} else {
		lv.keys = append(lv.keys, d)
	}
	return nil
}

// sslProtocols handles `ssl_protocols [SSLv2] [SSLv3] [TLSv1] [TLSv1.1]
// [TLSv1.2] [TLSv1.3];` (default TLSv1.2 TLSv1.3). SSLv2 and SSLv3,
// which crypto/tls does not speak, are warned of and left out.
func (b *builder) sslProtocols(d *Directive, s *scope) error {
	f := &b.sslAt(s).protocols
	if f.set {
		return d.duplicate()
	}
	var lo, hi uint16
	for _, a := range d.Args {
		v, ok := protocolVersions[a]
		if !ok {
			if a == "SSLv2" || a == "SSLv3" {
				b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: fmt.Sprintf("the %q protocol of \"ssl_protocols\" is not supported by limpet (Go's TLS does not speak it) and is left out", a)})
				continue
			}
			return d.invalidArg(a)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if lo == 0 {
		return d.errorf("no protocol of \"ssl_protocols\" is supported by limpet")
	}
	*f = setting[[2]uint16]{v: [2]uint16{lo, hi}, set: true}
	return nil
}

// sslCiphers handles `ssl_ciphers CIPHERS;` in OpenSSL's cipher-string
// syntax (default HIGH:!aNULL:!MD5, which limpet reads as crypto/tls's
// defaults).
func (b *builder) sslCiphers(d *Directive, s *scope) error {
	f := &b.sslAt(s).ciphers
	if f.set {
		return d.duplicate()
	}
	out, err := parseCiphers(d.Args[0])
	if err != nil {
		return d.errorf("%v in \"ssl_ciphers\" %q", err, d.Args[0])
	}
	if len(out.skipped) > 0 {
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: fmt.Sprintf("the ciphers %s of \"ssl_ciphers\" are not implemented by Go's TLS and are left out", strings.Join(out.skipped, ":"))})
	}
	*f = setting[[]uint16]{v: out.ids, set: true}
	return nil
}

// sslEcdhCurve handles `ssl_ecdh_curve auto | CURVE[:CURVE...];` (default auto).
func (b *builder) sslEcdhCurve(d *Directive, s *scope) error {
	f := &b.sslAt(s).curves
	if f.set {
		return d.duplicate()
	}
	if d.Args[0] == "auto" {
		*f = setting[[]tls.CurveID]{set: true}
		return nil
	}
	var ids []tls.CurveID
	for _, n := range strings.Split(d.Args[0], ":") {
		id, ok := curveNames[strings.ToLower(n)]
		if !ok {
			return d.errorf("unknown curve %q in \"ssl_ecdh_curve\"", n)
		}
		ids = append(ids, id)
	}
	*f = setting[[]tls.CurveID]{v: ids, set: true}
	return nil
}

// sslSessionCache handles `ssl_session_cache off | none | [builtin[:SIZE]]
// [shared:NAME:SIZE];` (default none). crypto/tls keeps no sessions on the
// server: they resume from tickets only, so the cache has no effect
// (noEffect) but its syntax is checked.
func (b *builder) sslSessionCache(d *Directive, s *scope) error {
	for _, a := range d.Args {
		switch {
		case a == "off" || a == "none":
			if len(d.Args) > 1 {
				return d.invalidArg(a)
			}
		case a == "builtin":
		case strings.HasPrefix(a, "builtin:"):
			if n, ok := parseInt(a[len("builtin:"):]); !ok || n == 0 {
				return d.invalidArg(a)
			}
		case strings.HasPrefix(a, "shared:"):
			name, size, ok := strings.Cut(a[len("shared:"):], ":")
			if n, okSize := parseSize(size); !ok || name == "" || !okSize || n == 0 {
				return d.invalidArg(a)
			}
		default:
			return d.invalidArg(a)
		}
	}
	return nil
}

// sslSessionTimeout handles `ssl_session_timeout TIME;` (default 5m).
func (b *builder) sslSessionTimeout(d *Directive, s *scope) error {
	f := &b.sslAt(s).timeout
	if f.set {
		return d.duplicate()
	}
	v, ok := parseTime(d.Args[0], true)
	if !ok {
		return d.invalidValue()
	}
	*f = setting[time.Duration]{v: v, set: true}
	return nil
}

// sslFlag handles the on|off ssl directives: ssl_session_tickets (default
// on), ssl_reject_handshake (off) and the obsolete `ssl` (off).
func (b *builder) sslFlag(d *Directive, s *scope) error {
	lv := b.sslAt(s)
	f := map[string]*setting[bool]{"ssl_session_tickets": &lv.tickets, "ssl_reject_handshake": &lv.reject, "ssl": &lv.on}[d.Name]
	if f.set {
		return d.duplicate()
	}
	*f = setting[bool]{v: strings.EqualFold(d.Args[0], "on"), set: true}
	if d.Name == "ssl" {
		// nginx 1.15.0 to 1.25.0's words; `ssl on` still makes every
		// listen of the server speak TLS, as it did there.
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: `the "ssl" directive is deprecated, use the "listen ... ssl" directive instead`})
	}
	return nil
}

// sslSessionTicketKey handles `ssl_session_ticket_key FILE;`, several per
// level: the file holds 48 or 80 bytes (nginx's format, `openssl rand 80`).
func (b *builder) sslSessionTicketKey(d *Directive, s *scope) error {
	if _, err := b.sslPath(d); err != nil {
		return err
	}
	lv := b.sslAt(s)
	lv.ticketKeys = append(lv.ticketKeys, d)
	return nil
}

// sslVerifyClient handles `ssl_verify_client on | off | optional |
// optional_no_ca;` (default off).
func (b *builder) sslVerifyClient(d *Directive, s *scope) error {
	f := &b.sslAt(s).verify
	if f.set {
		return d.duplicate()
	}
	switch v := d.Args[0]; v {
	case "on", "off", "optional", "optional_no_ca":
		*f = setting[string]{v: v, set: true}
		b.sslAt(s).verifyDir = d
		return nil
	default:
		return d.invalidArg(v)
	}
}

// sslVerifyDepth handles `ssl_verify_depth NUMBER;` (default 1).
func (b *builder) sslVerifyDepth(d *Directive, s *scope) error {
	f := &b.sslAt(s).depth
	if f.set {
		return d.duplicate()
	}
	n, ok := parseInt(d.Args[0])
	if !ok {
		return d.invalidValue()
	}
	*f = setting[int]{v: n, set: true}
	return nil
}

// sslCAFile handles `ssl_client_certificate FILE;` and
// `ssl_trusted_certificate FILE;`.
func (b *builder) sslCAFile(d *Directive, s *scope) error {
	if _, err := b.sslPath(d); err != nil {
		return err
	}
	lv := b.sslAt(s)
	f := &lv.clientCA
	if d.Name == "ssl_trusted_certificate" {
		f = &lv.trustedCA
	}
	if f.set {
		return d.duplicate()
	}
	*f = setting[*Directive]{v: d, set: true}
	return nil
}

// sslNoEffect accepts an ssl directive Go's TLS has no use for; noEffect
// (sslInert) says why in a warning.
func (b *builder) sslNoEffect(d *Directive, s *scope) error { return nil }

// sslInert are the ssl directives limpet accepts without effect, with why.
var sslInert = map[string]string{
	"ssl_dhparam":                 "Go's TLS has no finite-field Diffie-Hellman key exchange: ECDHE only",
	"ssl_stapling":                "limpet does not staple OCSP responses",
	"ssl_stapling_file":           "limpet does not staple OCSP responses",
	"ssl_stapling_responder":      "limpet does not staple OCSP responses",
	"ssl_stapling_verify":         "limpet does not staple OCSP responses",
	"ssl_buffer_size":             "Go's TLS sizes its records itself",
	"ssl_early_data":              "Go's TLS does not accept 0-RTT data",
	"ssl_session_cache":           "Go's TLS keeps no server-side session cache: sessions resume from tickets (ssl_session_tickets)",
	"ssl_prefer_server_ciphers":   "Go's TLS chooses the cipher suite itself among those allowed",
	"ssl_conf_command":            "limpet does not use OpenSSL",
	"ssl_certificate_compression": "Go's TLS does not compress certificates",
}

func init() {
	for name := range sslInert {
		noEffect[name] = sslNoEffectOf
	}
}

// sslNoEffectOf is the noEffect entry of the ssl directives of sslInert.
func sslNoEffectOf(d *Directive) []inert {
	why := sslInert[d.Name]
	switch d.Name {
	case "ssl_session_cache":
		if d.Args[0] == "off" || d.Args[0] == "none" {
			return nil // what Go's TLS does
		}
	case "ssl_prefer_server_ciphers", "ssl_stapling", "ssl_stapling_verify", "ssl_early_data", "ssl_certificate_compression":
		if strings.EqualFold(d.Args[0], "off") {
			return nil
		}
	}
	return []inert{{fmt.Sprintf("the %q directive", d.Name), why}}
}

// finishSSL merges the ssl settings from http to each server, loads the
// files they name, marks the listens of `ssl on` servers, and checks that
// the default server of every TLS address has a certificate (nginx's
// ngx_http_ssl_init). It runs after the servers' listens are complete.
func (b *builder) finishSSL() error {
	loaded := make(map[string]*tls.Certificate) // by "cert\x00key"
	http := &b.httpSSL
	for _, sc := range b.servers {
		lv := b.serverSSL[sc]
		if lv == nil {
			lv = &sslLevel{}
		}
		if lv.on.or(http.on.or(false)) {
			for i := range sc.srv.Listens {
				sc.srv.Listens[i].SSL = true
			}
		}
		ssl, err := b.mergeSSL(lv, http, loaded)
		if err != nil {
			return err
		}
		if len(ssl.Certificates) > 0 || ssl.RejectHandshake {
			sc.srv.SSL = ssl
		}
	}
	// The default server of each TLS address, by listenKey.
	type addrInfo struct {
		ssl bool
		def *Server
	}
	addrs := make(map[string]*addrInfo)
	var order []string
	for _, srv := range b.cfg.Servers {
		for _, l := range srv.Listens {
			k := listenKey(l.Addr)
			a := addrs[k]
			if a == nil {
				a = &addrInfo{def: srv}
				addrs[k] = a
				order = append(order, k)
			}
			a.ssl = a.ssl || l.SSL
			if l.DefaultServer {
				a.def = srv
			}
		}
	}
	for _, k := range order {
		a := addrs[k]
		if a.ssl && a.def.SSL == nil {
			return errorInline(a.def.Pos, `no "ssl_certificate" is defined for the "listen ... ssl" directive in %s`, rawString(a.def.Pos.String()))
		}
	}
	return nil
}

// rawString is a string %s prints as it is (errorAt quotes strings).
type rawString string

// mergeSSL merges one server's level with http's and loads its files.
func (b *builder) mergeSSL(lv, http *sslLevel, loaded map[string]*tls.Certificate) (*SSL, error) {
	certs, keys := lv.certs, lv.keys
	if len(certs) == 0 && len(keys) == 0 {
		certs, keys = http.certs, http.keys
	}
	out := &SSL{
		SessionTimeout:  lv.timeout.or(http.timeout.or(DefaultSSLSessionTimeout)),
		SessionTickets:  lv.tickets.or(http.tickets.or(true)),
		VerifyClient:    lv.verify.or(http.verify.or("off")),
		VerifyDepth:     lv.depth.or(http.depth.or(DefaultSSLVerifyDepth)),
		RejectHandshake: lv.reject.or(http.reject.or(false)),
	}
	lv.protocols.inherit(http.protocols)
	p := lv.protocols.or([2]uint16{tls.VersionTLS12, tls.VersionTLS13})
	out.MinVersion, out.MaxVersion = p[0], p[1]
	lv.ciphers.inherit(http.ciphers)
	out.CipherSuites = lv.ciphers.v
	lv.curves.inherit(http.curves)
	out.Curves = lv.curves.v
	if len(keys) < len(certs) {
		// ngx_http_ssl_merge_srv_conf's words.
		last := certs[len(certs)-1]
		return nil, last.errorf("no \"ssl_certificate_key\" is defined for certificate %q", last.Args[0])
	}
	for i, cd := range certs {
		kd := keys[i]
		cf, _ := b.sslPath(cd)
		kf, _ := b.sslPath(kd)
		c, ok := loaded[cf+"\x00"+kf]
		if !ok {
			var err error
			if c, err = b.loadCertificate(cd, kd, cf, kf); err != nil {
				return nil, err
			}
			loaded[cf+"\x00"+kf] = c
		}
		out.Certificates = append(out.Certificates, Certificate{Pos: cd.Pos(), Cert: *c})
	}
	tks := lv.ticketKeys
	if len(tks) == 0 {
		tks = http.ticketKeys
	}
	for _, d := range tks {
		path, _ := b.sslPath(d)
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, d.errorf("cannot read %q: %v", path, err)
		}
		if len(raw) != 48 && len(raw) != 80 {
			// ngx_ssl_session_ticket_keys' words.
			return nil, d.errorf("%q must be 48 or 80 bytes", path)
		}
		out.TicketKeys = append(out.TicketKeys, TicketKey{Pos: d.Pos(), Key: sha256.Sum256(raw)})
	}
	lv.clientCA.inherit(http.clientCA)
	lv.trustedCA.inherit(http.trustedCA)
	for _, f := range []setting[*Directive]{lv.clientCA, lv.trustedCA} {
		if !f.set {
			continue
		}
		if out.ClientCAs == nil {
			out.ClientCAs = x509.NewCertPool()
		}
		if err := b.loadCAs(f.v, out.ClientCAs); err != nil {
			return nil, err
		}
	}
	if len(out.Certificates) > 0 && out.VerifyClient != "off" && out.VerifyClient != "optional_no_ca" && out.ClientCAs == nil {
		// ngx_http_ssl_merge_srv_conf's words.
		d := lv.verifyDir
		if !lv.verify.set {
			d = http.verifyDir
		}
		return nil, d.errorf("no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client")
	}
	return out, nil
}

// loadCertificate loads one certificate chain and its key, with errors at
// the line of the directive at fault, and warns of a certificate out of
// its validity period.
func (b *builder) loadCertificate(cd, kd *Directive, certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, cd.errorf("cannot load certificate %q: %v", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, kd.errorf("cannot load certificate key %q: %v", keyFile, err)
	}
	var chain [][]byte
	rest := certPEM
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
				return nil, cd.errorf("cannot load certificate %q: %v", certFile, err)
			}
			chain = append(chain, blk.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, cd.errorf("cannot load certificate %q: no PEM certificate found", certFile)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		if strings.Contains(msg, "does not match") {
			return nil, kd.errorf("cannot load certificate key %q: it does not match the certificate %q", keyFile, certFile)
		}
		return nil, kd.errorf("cannot load certificate key %q: %s", keyFile, rawString(msg))
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, cd.errorf("cannot load certificate %q: %v", certFile, err)
		}
		c.Leaf = leaf
	}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: cd.Pos(), Msg: fmt.Sprintf("the certificate %q has expired (not after %s)", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))})
	case now.Before(leaf.NotBefore):
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: cd.Pos(), Msg: fmt.Sprintf("the certificate %q is not yet valid (not before %s)", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))})
	}
	return &c, nil
}

// loadCAs adds the certificates of a CA file to pool.
func (b *builder) loadCAs(d *Directive, pool *x509.CertPool) error {
	path, _ := b.sslPath(d)
	raw, err := os.ReadFile(path)
	if err != nil {
		return d.errorf("cannot load %q: %v", path, err)
	}
	n := 0
	rest := raw
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return d.errorf("cannot load %q: %v", path, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return d.errorf("cannot load %q: no PEM certificate found", path)
	}
	return nil
}
