// Command tlscert writes the TLS benchmark's certificates: a throw-away
// certificate authority and a server certificate it signs, both ECDSA
// P-256 (the curve and key type the benchmark's TLS modes measure), for
// 127.0.0.1 and localhost. The files are
//
//	ca.pem      the authority's certificate: what clients verify against
//	cert.pem    the server certificate (the leaf alone: the authority is
//	            the root, which a server does not send)
//	key.pem     the server certificate's private key (PKCS #8)
//	server.pem  cert.pem and key.pem in one file, as HAProxy's "crt" wants
//
//	tlscert -dir DIR [-valid 48h]
//
// It is a benchmarking tool: the keys are written unencrypted and the
// authority's key is not kept, so nothing else can be signed with it.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "`directory` to write ca.pem, cert.pem, key.pem and server.pem into")
	valid := flag.Duration("valid", 48*time.Hour, "how long the certificates are valid from now")
	flag.Parse()
	if *valid <= 0 {
		fmt.Fprintf(os.Stderr, "tlscert: -valid must be positive, got %v\n", *valid)
		os.Exit(2)
	}
	if err := write(*dir, time.Now(), *valid); err != nil {
		fmt.Fprintf(os.Stderr, "tlscert: %v\n", err)
		os.Exit(1)
	}
}

// write generates the authority and the server certificate, valid from
// an hour before now (clock skew between tools) for valid, and writes the
// four files into dir.
func write(dir string, now time.Time, valid time.Duration) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("authority key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "limpet benchmark CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(valid),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("authority certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("authority certificate: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(valid),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("server key: %w", err)
	}

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.pem", caPEM, 0o644},
		{"cert.pem", certPEM, 0o644},
		// Readable by all: nginx's master reads it as root, but the
		// harness's other users (a worker dropped to nobody) must not
		// fail on it either; these keys protect nothing.
		{"key.pem", keyPEM, 0o644},
		{"server.pem", bytes.Join([][]byte{certPEM, keyPEM}, nil), 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// serial is a random 128-bit serial number, as RFC 5280 section 4.1.2.2
// asks (positive, unique per issuer).
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}
