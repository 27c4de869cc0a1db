package tlstest

import (
	"crypto/x509"
	"net"
	"testing"
)

// TestLeafTLS: a leaf's tls.Certificate carries the leaf, then its
// intermediates, and its key, so that a server built on it presents a
// chain the root verifies; 127.0.0.1 is among its names unless
// NoLoopbackIP, and IPs are too.
func TestLeafTLS(t *testing.T) {
	root := NewCA(t, "root")
	inter := root.Intermediate(t, "intermediate")
	tests := []struct {
		name     string
		ca       *CA
		opts     Opts
		chainLen int
		match    []string // host names and addresses the leaf is for
		noMatch  []string // and those it is not
	}{
		{name: "root's leaf", ca: root, opts: Opts{ECDSA: true, DNS: []string{"a.test"}}, chainLen: 1,
			match: []string{"a.test", "127.0.0.1"}, noMatch: []string{"b.test", "::1"}},
		{name: "intermediate's leaf", ca: inter, opts: Opts{DNS: []string{"a.test"}}, chainLen: 2,
			match: []string{"a.test", "127.0.0.1"}},
		{name: "no loopback address", ca: root, opts: Opts{ECDSA: true, DNS: []string{"a.test"}, NoLoopbackIP: true}, chainLen: 1,
			match: []string{"a.test"}, noMatch: []string{"127.0.0.1"}},
		{name: "addresses of its own", ca: root, opts: Opts{ECDSA: true, DNS: []string{"a.test"}, IPs: []net.IP{net.IPv6loopback}}, chainLen: 1,
			match: []string{"a.test", "127.0.0.1", "::1"}},
		{name: "only its own addresses", ca: root, opts: Opts{ECDSA: true, DNS: []string{"a.test"}, IPs: []net.IP{net.IPv6loopback}, NoLoopbackIP: true}, chainLen: 1,
			match: []string{"a.test", "::1"}, noMatch: []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.ca.Issue(t, "a.test", tt.opts)
			c := l.TLS()
			if len(c.Certificate) != tt.chainLen {
				t.Fatalf("%d certificates, want %d", len(c.Certificate), tt.chainLen)
			}
			if c.Leaf != l.Cert || c.PrivateKey != l.Key {
				t.Error("the leaf or key is not the issued one")
			}
			inters := x509.NewCertPool()
			for i, der := range c.Certificate {
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					t.Fatalf("certificate %d: %v", i, err)
				}
				if i == 0 && !cert.Equal(l.Cert) {
					t.Fatal("the first certificate is not the leaf")
				}
				if i > 0 {
					inters.AddCert(cert)
				}
			}
			if _, err := l.Cert.Verify(x509.VerifyOptions{DNSName: "a.test", Roots: root.Pool(), Intermediates: inters}); err != nil {
				t.Errorf("chain does not verify: %v", err)
			}
			for _, h := range tt.match {
				if err := l.Cert.VerifyHostname(h); err != nil {
					t.Errorf("not for %s: %v", h, err)
				}
			}
			for _, h := range tt.noMatch {
				if l.Cert.VerifyHostname(h) == nil {
					t.Errorf("for %s too", h)
				}
			}
		})
	}
}
