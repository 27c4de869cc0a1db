package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// issue returns a certificate for localhost and 127.0.0.1 with key, signed
// by a new authority (ECDSA P-256), and a pool holding that authority.
func issue(t *testing.T, key crypto.Signer) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func ecdsaKey(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// server is a real TLS server on loopback counting the connections it
// accepted and the requests that resumed a session.
type server struct {
	*httptest.Server
	conns, resumed, cookies atomic.Int64
}

func newServer(t *testing.T, cfg *tls.Config, status int) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.DidResume {
			s.resumed.Add(1)
		}
		if r.Header.Get("Cookie") == "SERVERID=app1" {
			s.cookies.Add(1)
		}
		w.Header().Set("Set-Cookie", "SERVERID=app1; Path=/")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("hello\n"))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some cases test
	s.TLS = cfg
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func opts(addr string) options {
	return options{addr: addr, conns: 4, duration: 300 * time.Millisecond, timeout: 5 * time.Second,
		group: tls.X25519, alpn: "http/1.1"}
}

func TestRun(t *testing.T) {
	cert, _ := issue(t, ecdsaKey(t))
	tests := []struct {
		name   string
		cfg    *tls.Config
		status int
		cookie string
		check  func(t *testing.T, s *server, r *result)
	}{
		{"one full handshake per request", &tls.Config{Certificates: []tls.Certificate{cert}}, 200, "",
			func(t *testing.T, s *server, r *result) {
				if r.requests == 0 || r.errors() != 0 {
					t.Fatalf("%d requests, %d errors; want some requests and no error", r.requests, r.errors())
				}
				if got := s.conns.Load(); got != r.requests {
					t.Errorf("the server accepted %d connections for %d requests; want one each", got, r.requests)
				}
				if got := s.resumed.Load(); got != 0 {
					t.Errorf("%d requests came on resumed sessions; want none", got)
				}
				if r.setCookie != r.requests {
					t.Errorf("set_cookie %d, want %d", r.setCookie, r.requests)
				}
				if int64(len(r.latencies)) != r.requests {
					t.Errorf("%d latencies for %d requests", len(r.latencies), r.requests)
				}
			}},
		{"the cookie is sent", &tls.Config{Certificates: []tls.Certificate{cert}}, 200, "SERVERID=app1",
			func(t *testing.T, s *server, r *result) {
				if r.requests == 0 || s.cookies.Load() != r.requests {
					t.Errorf("%d of %d requests carried the cookie", s.cookies.Load(), r.requests)
				}
			}},
		{"error statuses", &tls.Config{Certificates: []tls.Certificate{cert}}, 503, "",
			func(t *testing.T, s *server, r *result) {
				if r.requests == 0 || r.errStatus != r.requests {
					t.Errorf("%d status errors for %d requests; want all", r.errStatus, r.requests)
				}
			}},
		{"a server without TLS 1.3", &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}, 200, "",
			func(t *testing.T, s *server, r *result) {
				if r.requests != 0 || r.errConnect == 0 {
					t.Errorf("%d requests, %d connect errors; want none and some", r.requests, r.errConnect)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg, tt.status)
			o := opts(s.Listener.Addr().String())
			o.cookie = tt.cookie
			r := run(context.Background(), o)
			tt.check(t, s, r)
			line := r.String()
			if !strings.HasPrefix(line, "RESULT requests=") || !strings.Contains(line, " set_cookie=") {
				t.Errorf("result line %q", line)
			}
		})
	}
}

func (r *result) errors() int64 {
	return r.errConnect + r.errRead + r.errWrite + r.errStatus + r.errTimeout
}

func TestRunNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	o := opts(addr)
	o.conns = 1
	r := run(context.Background(), o)
	if r.requests != 0 || r.errConnect == 0 {
		t.Errorf("%d requests, %d connect errors; want none and some", r.requests, r.errConnect)
	}
}

func TestCheck(t *testing.T) {
	ec, ecPool := issue(t, ecdsaKey(t))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert, rsaPool := issue(t, rsaKey)
	tests := []struct {
		name   string
		cfg    *tls.Config
		pool   *x509.CertPool
		alpn   string
		want   string // the line, or a part of the error
		wantOK bool
	}{
		{"http/1.1", &tls.Config{Certificates: []tls.Certificate{ec}}, ecPool, "http/1.1",
			"TLS version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 group=X25519 cert=ECDSA-P256 alpn=http/1.1", true},
		{"h2", &tls.Config{Certificates: []tls.Certificate{ec}, NextProtos: []string{"h2", "http/1.1"}}, ecPool, "h2",
			"TLS version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 group=X25519 cert=ECDSA-P256 alpn=h2", true},
		{"h2 not offered", &tls.Config{Certificates: []tls.Certificate{ec}, NextProtos: []string{"http/1.1"}}, ecPool, "h2",
			"tls handshake with", false},
		{"an RSA certificate", &tls.Config{Certificates: []tls.Certificate{rsaCert}}, rsaPool, "http/1.1",
			"sent a RSA certificate, want ECDSA P-256", false},
		{"another authority", &tls.Config{Certificates: []tls.Certificate{ec}}, rsaPool, "http/1.1",
			"certificate signed by unknown authority", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg, 200)
			o := opts(s.Listener.Addr().String())
			o.alpn = tt.alpn
			line, err := checkOnce(o, tt.pool)
			switch {
			case tt.wantOK && (err != nil || line != tt.want):
				t.Errorf("checkOnce = %q, %v; want %q", line, err, tt.want)
			case !tt.wantOK && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkOnce = %q, %v; want an error with %q", line, err, tt.want)
			}
		})
	}
}
