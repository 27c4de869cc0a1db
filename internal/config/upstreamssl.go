package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// This file holds the proxy_ssl_* directives (ngx_http_proxy_module's
// TLS to upstreams): how limpet speaks TLS to the servers of a
// `proxy_pass https://...`. They merge from http to server to location
// like the other proxy settings; the files they name are read once the
// tree is merged, and only for the locations that proxy over https, as
// nginx reads them (ngx_http_proxy_set_ssl), so `-t` reports a bad
// certificate, key or CA file at the directive's line.

// Defaults of the proxy_ssl_* settings, nginx's.
const (
	defaultSSLVerifyDepth = 1
	defaultSSLName        = "$proxy_host"
)

// defaultSSLProtocols is nginx's NGX_SSL_DEFAULT_PROTOCOLS of 1.23.4 and
// later.
var defaultSSLProtocols = []string{"TLSv1.2", "TLSv1.3"}

// UpstreamSSL is the merged TLS client settings of a location, used when
// its proxy_pass is https.
type UpstreamSSL struct {
	// Verify is proxy_ssl_verify (default off): check the server's
	// chain against Trusted and its name against Name.
	Verify bool
	// VerifyDepth is proxy_ssl_verify_depth (default 1): how many
	// certificates may stand between the server's and a trusted one,
	// counted as OpenSSL counts (1: signed by a trusted CA directly).
	VerifyDepth int
	// Trusted is the CA pool of proxy_ssl_trusted_certificate, and
	// TrustedFile its path; nil and "" when none is set.
	Trusted     *x509.CertPool
	TrustedFile string
	// ServerName is proxy_ssl_server_name (default off): send Name as
	// SNI.
	ServerName bool
	// Name is proxy_ssl_name (default "$proxy_host"), which may hold
	// variables: the name verified, and sent with ServerName.
	Name    string
	NamePos Pos
	// Certificate is the client certificate of proxy_ssl_certificate and
	// proxy_ssl_certificate_key, nil when none is set; CertificateFile
	// and CertificateKeyFile are their paths.
	Certificate        *tls.Certificate
	CertificateFile    string
	CertificateKeyFile string
	// Protocols is proxy_ssl_protocols (default TLSv1.2 TLSv1.3), as
	// written: "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3".
	Protocols []string
	// Ciphers is proxy_ssl_ciphers in OpenSSL's syntax (default
	// "DEFAULT"), checked when the upstream TLS client is built;
	// CiphersPos is where it was written.
	Ciphers    string
	CiphersPos Pos
	// SessionReuse is proxy_ssl_session_reuse (default on): resume TLS
	// sessions with the servers.
	SessionReuse bool
	// TrustedDigest is the SHA-256 of the trusted file's content (hex),
	// so that a reload that changed the file is seen as a change.
	TrustedDigest string
}

// sslConf is the proxy_ssl_* settings of one level.
type sslConf struct {
	verify       setting[bool]
	verifyPos    Pos
	verifyDepth  setting[int]
	trusted      setting[string]
	trustedPos   Pos
	serverName   setting[bool]
	name         setting[string]
	namePos      Pos
	cert         setting[string]
	certPos      Pos
	certKey      setting[string]
	certKeyPos   Pos
	protocols    setting[[]string]
	ciphers      setting[string]
	ciphersPos   Pos
	sessionReuse setting[bool]
}

// inherit fills what this level left unset from parent, merged already.
// A position goes with its value.
func (c *sslConf) inherit(p *sslConf) {
	if !c.verify.set {
		c.verify, c.verifyPos = p.verify, p.verifyPos
	}
	c.verifyDepth.inherit(p.verifyDepth)
	if !c.trusted.set {
		c.trusted, c.trustedPos = p.trusted, p.trustedPos
	}
	c.serverName.inherit(p.serverName)
	if !c.name.set {
		c.name, c.namePos = p.name, p.namePos
	}
	if !c.cert.set {
		c.cert, c.certPos = p.cert, p.certPos
	}
	if !c.certKey.set {
		c.certKey, c.certKeyPos = p.certKey, p.certKeyPos
	}
	c.protocols.inherit(p.protocols)
	if !c.ciphers.set {
		c.ciphers, c.ciphersPos = p.ciphers, p.ciphersPos
	}
	c.sessionReuse.inherit(p.sessionReuse)
}

// effective returns the merged settings with nginx's defaults; the files
// are read later, by loadUpstreamSSL.
func (c *sslConf) effective() UpstreamSSL {
	return UpstreamSSL{
		Verify:             c.verify.or(false),
		VerifyDepth:        c.verifyDepth.or(defaultSSLVerifyDepth),
		TrustedFile:        c.trusted.or(""),
		ServerName:         c.serverName.or(false),
		Name:               c.name.or(defaultSSLName),
		NamePos:            c.namePos,
		CertificateFile:    c.cert.or(""),
		CertificateKeyFile: c.certKey.or(""),
		Protocols:          c.protocols.or(defaultSSLProtocols),
		Ciphers:            c.ciphers.or("DEFAULT"),
		CiphersPos:         c.ciphersPos,
		SessionReuse:       c.sessionReuse.or(true),
	}
}

// sslSlot is the slot of a proxy_ssl_* directive whose value keeps the
// directive's position, for errors found after the merge.
func sslString(field func(*sslConf) (*setting[string], *Pos)) handler {
	return func(b *builder, d *Directive, s *scope) error {
		f, pos := field(&s.proxy.ssl)
		if f.set {
			return d.duplicate()
		}
		*f, *pos = setting[string]{v: d.Args[0], set: true}, d.Pos()
		return nil
	}
}

// sslFlag handles the on/off proxy_ssl_* directives.
func sslFlag(field func(*sslConf) *setting[bool]) handler {
	return func(b *builder, d *Directive, s *scope) error {
		f := field(&s.proxy.ssl)
		if f.set {
			return d.duplicate()
		}
		*f = setting[bool]{v: strings.EqualFold(d.Args[0], "on"), set: true}
		return nil
	}
}

// proxySSLVerify handles `proxy_ssl_verify on|off`.
func (b *builder) proxySSLVerify(d *Directive, s *scope) error {
	c := &s.proxy.ssl
	if c.verify.set {
		return d.duplicate()
	}
	c.verify, c.verifyPos = setting[bool]{v: strings.EqualFold(d.Args[0], "on"), set: true}, d.Pos()
	return nil
}

// proxySSLVerifyDepth handles `proxy_ssl_verify_depth NUMBER`.
func (b *builder) proxySSLVerifyDepth(d *Directive, s *scope) error {
	c := &s.proxy.ssl
	if c.verifyDepth.set {
		return d.duplicate()
	}
	n, ok := parseInt(d.Args[0])
	if !ok {
		return d.invalidValue()
	}
	c.verifyDepth = setting[int]{v: n, set: true}
	return nil
}

// sslProtocolNames are the words of proxy_ssl_protocols limpet can
// speak; nginx's SSLv2 and SSLv3 are refused, since Go has neither.
var sslProtocolNames = map[string]bool{"TLSv1": true, "TLSv1.1": true, "TLSv1.2": true, "TLSv1.3": true}

// proxySSLProtocols handles `proxy_ssl_protocols PROTOCOL ...`.
func (b *builder) proxySSLProtocols(d *Directive, s *scope) error {
	c := &s.proxy.ssl
	if c.protocols.set {
		return d.duplicate()
	}
	for _, a := range d.Args {
		if a == "SSLv2" || a == "SSLv3" {
			return d.errorf("the %q protocol of %q is not supported by limpet (Go's TLS has no SSL 2 or 3)", a, d.Name)
		}
		if !sslProtocolNames[a] {
			return d.invalidArg(a)
		}
	}
	c.protocols = setting[[]string]{v: append([]string(nil), d.Args...), set: true}
	return nil
}

// proxySSLUnsupported refuses the proxy_ssl_* directives limpet does not
// implement, since accepting them would weaken what the operator asked
// for without a word: a CRL nobody checks, a key it cannot decrypt.
func (b *builder) proxySSLUnsupported(d *Directive, s *scope) error {
	why := map[string]string{
		"proxy_ssl_crl":               "Go's TLS client checks no revocation lists",
		"proxy_ssl_password_file":     "limpet reads unencrypted keys only",
		"proxy_ssl_conf_command":      "it passes commands to OpenSSL, which limpet does not use",
		"proxy_ssl_certificate_cache": "limpet reads the client certificate once, at start and reload",
	}[d.Name]
	return d.errorf("the %q directive is not supported by limpet (%s)", d.Name, why)
}

// loadUpstreamSSL checks and reads the TLS client settings of every
// location that proxies over https, once the tree is merged: nginx's
// ngx_http_proxy_set_ssl. Each file is read once however many locations
// use it.
func (b *builder) loadUpstreamSSL() error {
	certs := make(map[[2]string]*tls.Certificate)
	pools := make(map[string]*caFile)
	var walk func(lcs []*locationConf) error
	walk = func(lcs []*locationConf) error {
		for _, lc := range lcs {
			// A URL with variables may turn out https: nginx reads the
			// files for it too.
			if pp := lc.loc.ProxyPass; pp != nil && (pp.Scheme == "https" || pp.Target != "") {
				if err := b.loadLocationSSL(&lc.proxy.ssl, &lc.loc.Proxy.SSL, certs, pools); err != nil {
					return err
				}
			}
			if err := walk(lc.children); err != nil {
				return err
			}
		}
		return nil
	}
	for _, sc := range b.servers {
		if err := walk(sc.locs); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) loadLocationSSL(c *sslConf, out *UpstreamSSL, certs map[[2]string]*tls.Certificate, pools map[string]*caFile) error {
	if out.CertificateFile != "" {
		if out.CertificateKeyFile == "" {
			return errorAt(c.certPos, "no \"proxy_ssl_certificate_key\" is defined for certificate %q", out.CertificateFile)
		}
		k := [2]string{b.confPath(out.CertificateFile), b.confPath(out.CertificateKeyFile)}
		cert, ok := certs[k]
		if !ok {
			kp, err := tls.LoadX509KeyPair(k[0], k[1])
			if err != nil {
				return errorAt(c.certPos, "cannot load certificate %q with key %q: %v", k[0], k[1], err)
			}
			cert = &kp
			certs[k] = cert
		}
		out.Certificate = cert
	}
	if !out.Verify {
		return nil
	}
	if out.TrustedFile == "" {
		return errorAt(c.verifyPos, "no proxy_ssl_trusted_certificate for proxy_ssl_verify")
	}
	path := b.confPath(out.TrustedFile)
	ca, ok := pools[path]
	if !ok {
		var err error
		if ca, err = loadCAFile(path); err != nil {
			return errorAt(c.trustedPos, "%v", err)
		}
		pools[path] = ca
	}
	out.Trusted, out.TrustedDigest = ca.pool, ca.digest
	return nil
}

// confPath makes a relative path relative to the main file's directory,
// as nginx makes it relative to its configuration prefix.
func (b *builder) confPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(b.dir, p)
}

// caFile is a file of trusted certificates, read.
type caFile struct {
	pool   *x509.CertPool
	digest string
}

// loadCAFile reads a PEM file of CA certificates; one that holds none,
// or anything that does not parse, is an error.
func loadCAFile(path string) (*caFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load trusted certificate %q: %v", path, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cannot load trusted certificate %q: certificate %d: %v", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("cannot load trusted certificate %q: no PEM certificate in it", path)
	}
	return &caFile{pool: pool, digest: fmt.Sprintf("%x", sha256.Sum256(data))}, nil
}

// httpsPort is the port of an https:// proxy_pass without one.
const httpsPort = "443"

// defaultPort returns the port a proxy_pass URL of scheme means when it
// writes none.
func defaultPort(scheme string) string {
	if scheme == "https" {
		return httpsPort
	}
	return strconv.Itoa(80)
}
