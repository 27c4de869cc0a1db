package uptls

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/tlstest"
)

func TestCipherSuites(t *testing.T) {
	tests := []struct {
		list    string
		want    []uint16 // nil with wantErr "": Go's defaults
		has     []uint16 // must be among the result
		hasNot  []uint16 // must not be
		wantErr string
	}{
		{list: "DEFAULT"},
		{list: "ECDHE-RSA-AES128-GCM-SHA256", want: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{list: "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305",
			want: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}},
		{list: "HIGH:!aNULL:!MD5", has: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
			hasNot: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA}},
		{list: "EECDH+AESGCM:EDH+AESGCM", has: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			hasNot: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}},
		{list: "HIGH:!kRSA", hasNot: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, has: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}},
		// Mozilla's intermediate list: its DHE suites Go lacks select nothing.
		{list: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-CHACHA20-POLY1305",
			want: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{list: "TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256", want: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{list: "ALL:-ECDHE:@STRENGTH", hasNot: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, has: []uint16{tls.TLS_RSA_WITH_AES_256_GCM_SHA384}},
		{list: "DES-CBC3-SHA", want: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}},
		{list: "ECDHE-RSA-AES128-GCM-SHA257", wantErr: `unknown cipher "ECDHE-RSA-AES128-GCM-SHA257"`},
		{list: "HIGH:NOPE", wantErr: `unknown cipher "NOPE"`},
		{list: "DHE-RSA-AES128-GCM-SHA256", wantErr: `no cipher match in "DHE-RSA-AES128-GCM-SHA256"`},
		{list: "HIGH:!HIGH", wantErr: `no cipher match in "HIGH:!HIGH"`},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			got, err := CipherSuites(tt.list)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil || (tt.has == nil && tt.hasNot == nil) {
				if !slices.Equal(got, tt.want) {
					t.Errorf("got %x, want %x", got, tt.want)
				}
			}
			for _, id := range tt.has {
				if !slices.Contains(got, id) {
					t.Errorf("%s missing from %x", tls.CipherSuiteName(id), got)
				}
			}
			for _, id := range tt.hasNot {
				if slices.Contains(got, id) {
					t.Errorf("%s in %x", tls.CipherSuiteName(id), got)
				}
			}
		})
	}
}

// server is a loopback TLS server that completes handshakes and records
// the SNI each carried.
func server(t *testing.T, cert tls.Certificate) (addr string, sni <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(c, cfg)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if tc.Handshake() == nil {
				ch <- tc.ConnectionState().ServerName
			}
			_ = tc.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String(), ch
}

func TestHandshakeVerification(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	other := tlstest.NewCA(t, "other CA")
	good := ca.Issue(t, "app.internal", tlstest.Opts{ECDSA: true, DNS: []string{"app.internal"}}).TLS() // and 127.0.0.1, for "IP name"
	chained := ca.Intermediate(t, "intermediate").Issue(t, "app.internal", tlstest.Opts{ECDSA: true, DNS: []string{"app.internal"}, NoLoopbackIP: true}).TLS()
	expired := ca.Issue(t, "app.internal", tlstest.Opts{ECDSA: true, DNS: []string{"app.internal"}, NoLoopbackIP: true,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).TLS()
	tests := []struct {
		name    string
		cert    tls.Certificate
		ssl     config.UpstreamSSL
		tlsName string
		wantErr string
		wantSNI string
	}{
		{name: "verify off takes anything", cert: good, ssl: config.UpstreamSSL{}, tlsName: "whatever"},
		{name: "trusted, right name", cert: good, ssl: config.UpstreamSSL{Verify: true, Trusted: ca.Pool(), VerifyDepth: 1}, tlsName: "app.internal"},
		{name: "name with a port", cert: good, ssl: config.UpstreamSSL{Verify: true, Trusted: ca.Pool(), VerifyDepth: 1}, tlsName: "app.internal:8443"},
		{name: "IP name", cert: good, ssl: config.UpstreamSSL{Verify: true, Trusted: ca.Pool(), VerifyDepth: 1}, tlsName: "127.0.0.1"},
		{name: "wrong name", cert: good, ssl: config.UpstreamSSL{Verify: true, Trusted: ca.Pool(), VerifyDepth: 1}, tlsName: "backend",
			wantErr: `upstream SSL certificate does not match "backend" while SSL handshaking to upstream`},
		{name: "untrusted", cert: good, ssl: config.UpstreamSSL{Verify: true, Trusted: other.Pool(), VerifyDepth: 1}, tlsName: "app.internal",
			wantErr: `upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream`},
		{name: "expired", cert: expired, ssl: config.UpstreamSSL{Verify: true, Trusted: ca.Pool(), VerifyDepth: 1}, tlsName: "app.internal",
			wantErr: `upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream`},
		{name: "chain too long for depth 1", cert: chained, ssl: config.UpstreamSSL{Verify: true, Trusted: ca.Pool(), VerifyDepth: 1}, tlsName: "app.internal",
			wantErr: `upstream SSL certificate verify error: (22:certificate chain too long) while SSL handshaking to upstream`},
		{name: "chain within depth 2", cert: chained, ssl: config.UpstreamSSL{Verify: true, Trusted: ca.Pool(), VerifyDepth: 2}, tlsName: "app.internal"},
		{name: "SNI sent when asked", cert: good, ssl: config.UpstreamSSL{ServerName: true}, tlsName: "app.internal:443", wantSNI: "app.internal"},
		{name: "no SNI for an IP", cert: good, ssl: config.UpstreamSSL{ServerName: true}, tlsName: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, sni := server(t, tt.cert)
			tt.ssl.Ciphers = "DEFAULT"
			tt.ssl.Protocols = []string{"TLSv1.2", "TLSv1.3"}
			c, err := New(&tt.ssl)
			if err != nil {
				t.Fatal(err)
			}
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tc, err := c.Handshake(ctx, nc, tt.tlsName)
			if tt.wantErr != "" {
				var ue *Error
				if err == nil || err.Error() != tt.wantErr || !errors.As(err, &ue) {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			if got := <-sni; got != tt.wantSNI {
				t.Errorf("SNI %q, want %q", got, tt.wantSNI)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	pos := config.Pos{File: "/etc/limpet.conf", Line: 7}
	_, err := New(&config.UpstreamSSL{Ciphers: "FOO", CiphersPos: pos})
	want := `SSL_CTX_set_cipher_list("FOO") failed (unknown cipher "FOO") in /etc/limpet.conf:7`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	if !strings.Contains(err.Error(), "limpet.conf:7") {
		t.Fatal("no position")
	}
}
