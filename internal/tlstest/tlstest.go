// Package tlstest makes certificates for tests: a CA, intermediates, and
// server and client certificates with RSA or ECDSA keys, written as the
// PEM files ssl_certificate and friends read. It is test support: nothing
// outside tests imports it.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// serial numbers the certificates, so that no two of a test run share one.
var serial atomic.Int64

// CA is a certificate authority: a root, or an intermediate whose chain
// leads to one.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the PEM of the intermediates above the leaves this CA
	// issues, this CA first (empty for a root): what a server's
	// certificate file holds after its leaf.
	Chain []byte
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte // the leaf, then its CA's chain
	KeyPEM  []byte
}

// Opts shape an issued certificate.
type Opts struct {
	// ECDSA asks for a P-256 key; RSA 2048 otherwise.
	ECDSA bool
	// DNS are the subjectAltNames; 127.0.0.1 is added unless
	// NoLoopbackIP.
	DNS []string
	// IPs are address subjectAltNames added after 127.0.0.1.
	IPs []net.IP
	// NoLoopbackIP leaves 127.0.0.1 out of the subjectAltNames, for a
	// server that an address must not match.
	NoLoopbackIP bool
	// Client makes a client certificate (extKeyUsage clientAuth).
	Client bool
	// NotBefore and NotAfter default to an hour ago and a day ahead.
	NotBefore, NotAfter time.Time
	// Org is the subject's organisation, if any.
	Org string
}

func newKey(t testing.TB, ecdsaKey bool) crypto.Signer {
	t.Helper()
	if ecdsaKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewCA makes a root CA named name, with an ECDSA key.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t, true)
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{Cert: c, Key: key}
}

// Intermediate makes a CA issued by ca.
func (ca *CA) Intermediate(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t, true)
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	chain := append(pemCert(der), ca.Chain...)
	return &CA{Cert: c, Key: key, Chain: chain}
}

// PEM returns the CA's own certificate in PEM, for ssl_client_certificate
// or a client's roots.
func (ca *CA) PEM() []byte { return pemCert(ca.Cert.Raw) }

// Pool returns a pool holding the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue makes a certificate for cn.
func (ca *CA) Issue(t testing.TB, cn string, o Opts) *Leaf {
	t.Helper()
	key := newKey(t, o.ECDSA)
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     o.DNS,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if !o.NoLoopbackIP {
		tpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	tpl.IPAddresses = append(tpl.IPAddresses, o.IPs...)
	if o.Org != "" {
		tpl.Subject.Organization = []string{o.Org}
	}
	if !o.ECDSA {
		tpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if o.Client {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{
		Cert:    c,
		Key:     key,
		CertPEM: append(pemCert(der), ca.Chain...),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
	}
}

// TLS returns the leaf as a tls.Certificate, its CA's chain after it,
// for a server or client the test runs itself.
func (l *Leaf) TLS() tls.Certificate {
	c := tls.Certificate{PrivateKey: l.Key, Leaf: l.Cert}
	for rest := l.CertPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return c
		}
		c.Certificate = append(c.Certificate, b.Bytes)
	}
}

// Write writes the leaf's certificate and key as dir/name.crt and
// dir/name.key and returns their paths.
func (l *Leaf) Write(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	WriteFile(t, certFile, l.CertPEM)
	WriteFile(t, keyFile, l.KeyPEM)
	return certFile, keyFile
}

// WriteFile writes data to path or fails the test.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
