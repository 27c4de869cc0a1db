package h2srv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// selfSigned makes an ECDSA P-256 certificate for 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "limpet test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestOverTLS: ServeConn over a TLS connection whose handshake chose
// "h2" by ALPN, as h1srv hands it over: the request sees HTTP/2.0 and
// its TLS state, and a request body and a response body stream both ways.
func TestOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.Close()
	defer ln.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.NegotiatedProtocol != "h2" {
			http.Error(w, "no TLS state", http.StatusInternalServerError)
			return
		}
		// Echo the body line by line as it comes: the client sends
		// the next line only once it has read the previous echo.
		fl := http.NewResponseController(w)
		_, _ = io.WriteString(w, r.Proto+"\n")
		_ = fl.Flush()
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
				_ = fl.Flush()
			}
			if err != nil {
				return
			}
		}
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				_ = c.Close()
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.ServeConn(tc, h) }()
		}
	}()
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "https://"+ln.Addr().String()+"/", pr)
	type result struct {
		res *http.Response
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := tr.RoundTrip(req)
		got <- result{res, err}
	}()
	// The response's head comes before the request body has begun.
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.res.Body.Close()
	buf := make([]byte, 64)
	read := func() string {
		n, err := r.res.Body.Read(buf)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if first := read(); first != "HTTP/2.0\n" {
		t.Fatalf("first chunk %q", first)
	}
	for _, line := range []string{"one\n", "two\n", "three\n"} {
		if _, err := io.WriteString(pw, line); err != nil {
			t.Fatal(err)
		}
		if echo := read(); echo != line {
			t.Fatalf("echo %q, want %q", echo, line)
		}
	}
	_ = pw.Close()
	rest, _ := io.ReadAll(r.res.Body)
	if strings.TrimSpace(string(rest)) != "" {
		t.Errorf("after the body: %q", rest)
	}
}
