package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/tlstest"
)

// defaultUpstreamSSL is nginx's proxy_ssl_* defaults.
func defaultUpstreamSSL() UpstreamSSL {
	return UpstreamSSL{VerifyDepth: 1, Name: "$proxy_host", Protocols: []string{"TLSv1.2", "TLSv1.3"}, Ciphers: "DEFAULT", SessionReuse: true}
}

// loadIn writes src as limpet.conf in dir and loads it.
func loadIn(t *testing.T, dir, src string) (*Config, string, error) {
	t.Helper()
	path := filepath.Join(dir, "limpet.conf")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, testOptions)
	return cfg, path, err
}

// TestProxyPassHTTPS: https:// is accepted, with port 443 by default,
// for addresses and upstream blocks.
func TestProxyPassHTTPS(t *testing.T) {
	cfg := mustLoad(t, `upstream app { server 10.0.0.1:8443; }
server {
    location /a/ { proxy_pass https://10.0.0.2; }
    location /b/ { proxy_pass https://10.0.0.3:9443/x/; }
    location /c/ { proxy_pass https://app; }
    location /d/ { proxy_pass http://10.0.0.4; }
}`)
	tests := []struct {
		path, scheme, addr, host string
		upstream                 bool
	}{
		{"/a/", "https", "10.0.0.2:443", "10.0.0.2", false},
		{"/b/", "https", "10.0.0.3:9443", "10.0.0.3:9443", false},
		{"/c/", "https", "", "", true},
		{"/d/", "http", "10.0.0.4:80", "10.0.0.4", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var pp *ProxyPass
			for _, l := range cfg.Servers[0].Locations {
				if l.Path == tt.path {
					pp = l.ProxyPass
				}
			}
			if pp.Scheme != tt.scheme || pp.Addr != tt.addr || pp.Host != tt.host || (pp.Upstream != nil) != tt.upstream {
				t.Errorf("got scheme %q addr %q host %q upstream %v", pp.Scheme, pp.Addr, pp.Host, pp.Upstream != nil)
			}
		})
	}
}

// TestUpstreamSSLSettings: every proxy_ssl_* directive, merged from
// http to location, the files read and relative to the main file.
func TestUpstreamSSLSettings(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	client := ca.Issue(t, "limpet", tlstest.Opts{ECDSA: true, DNS: []string{"limpet"}, NoLoopbackIP: true, Client: true})
	tlstest.WriteFile(t, filepath.Join(dir, "ca.pem"), ca.PEM())
	tlstest.WriteFile(t, filepath.Join(dir, "client.pem"), client.CertPEM)
	tlstest.WriteFile(t, filepath.Join(dir, "client.key"), client.KeyPEM)
	cfg, path, err := loadIn(t, dir, `proxy_ssl_verify on;
proxy_ssl_trusted_certificate ca.pem;
server {
    proxy_ssl_name app.internal;
    proxy_ssl_server_name on;
    proxy_ssl_certificate client.pem;
    proxy_ssl_certificate_key client.key;
    location / {
        proxy_ssl_verify_depth 2;
        proxy_ssl_protocols TLSv1.3;
        proxy_ssl_ciphers HIGH:!aNULL;
        proxy_ssl_session_reuse off;
        proxy_pass https://10.0.0.1;
    }
    location /plain/ {
        proxy_ssl_verify off;
        proxy_pass https://10.0.0.1;
    }
}`)
	if err != nil {
		t.Fatal(err)
	}
	got := settingsOf(t, cfg, "/").SSL
	if got.Trusted == nil || got.Certificate == nil || got.TrustedDigest == "" {
		t.Fatalf("files not read: %+v", got)
	}
	want := UpstreamSSL{
		Verify: true, VerifyDepth: 2, Trusted: got.Trusted, TrustedFile: "ca.pem", TrustedDigest: got.TrustedDigest,
		ServerName: true, Name: "app.internal", NamePos: Pos{File: path, Line: 4},
		Certificate: got.Certificate, CertificateFile: "client.pem", CertificateKeyFile: "client.key",
		Protocols: []string{"TLSv1.3"}, Ciphers: "HIGH:!aNULL", CiphersPos: Pos{File: path, Line: 11}, SessionReuse: false,
	}
	if !equalSSL(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if !got.Trusted.Equal(ca.Pool()) {
		t.Error("trusted pool is not the CA's")
	}
	if plain := settingsOf(t, cfg, "/plain/").SSL; plain.Verify || plain.Trusted != nil || plain.Certificate == nil {
		t.Errorf("/plain/ got %+v", plain)
	}
	// The server level keeps its own, unread: it does not proxy.
	if srv := settingsOf(t, cfg).SSL; srv.Verify != true || srv.Name != "app.internal" || srv.Trusted != nil {
		t.Errorf("server got %+v", srv)
	}
}

// equalSSL compares two UpstreamSSL values field by field, the pools and
// certificates by pointer.
func equalSSL(a, b UpstreamSSL) bool {
	return a.Verify == b.Verify && a.VerifyDepth == b.VerifyDepth && a.Trusted == b.Trusted &&
		a.TrustedFile == b.TrustedFile && a.TrustedDigest == b.TrustedDigest && a.ServerName == b.ServerName &&
		a.Name == b.Name && a.NamePos == b.NamePos && a.Certificate == b.Certificate &&
		a.CertificateFile == b.CertificateFile && a.CertificateKeyFile == b.CertificateKeyFile &&
		strings.Join(a.Protocols, " ") == strings.Join(b.Protocols, " ") && a.Ciphers == b.Ciphers &&
		a.CiphersPos == b.CiphersPos && a.SessionReuse == b.SessionReuse
}

// TestUpstreamSSLErrors: nginx's errors, at the line nginx names.
func TestUpstreamSSLErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	leaf := ca.Issue(t, "x", tlstest.Opts{ECDSA: true, DNS: []string{"x"}, NoLoopbackIP: true})
	other := ca.Issue(t, "y", tlstest.Opts{ECDSA: true, DNS: []string{"y"}, NoLoopbackIP: true})
	tlstest.WriteFile(t, filepath.Join(dir, "ca.pem"), ca.PEM())
	tlstest.WriteFile(t, filepath.Join(dir, "leaf.pem"), leaf.CertPEM)
	tlstest.WriteFile(t, filepath.Join(dir, "leaf.key"), leaf.KeyPEM)
	tlstest.WriteFile(t, filepath.Join(dir, "other.key"), other.KeyPEM)
	tlstest.WriteFile(t, filepath.Join(dir, "junk.pem"), []byte("not a certificate\n"))
	tests := []struct{ name, src, want string }{
		{"verify without trusted", "server { location / {\n proxy_ssl_verify on;\n proxy_pass https://10.0.0.1; } }",
			`no proxy_ssl_trusted_certificate for proxy_ssl_verify in FILE:2`},
		{"certificate without key", "server {\n proxy_ssl_certificate leaf.pem;\n location / { proxy_pass https://10.0.0.1; } }",
			`no "proxy_ssl_certificate_key" is defined for certificate "leaf.pem" in FILE:2`},
		{"key of another certificate", "server {\n proxy_ssl_certificate leaf.pem;\n proxy_ssl_certificate_key other.key;\n location / { proxy_pass https://10.0.0.1; } }",
			`cannot load certificate "DIR/leaf.pem" with key "DIR/other.key": tls: private key does not match public key in FILE:2`},
		{"missing trusted file", "server { location / {\n proxy_ssl_verify on;\n proxy_ssl_trusted_certificate nope.pem;\n proxy_pass https://10.0.0.1; } }",
			`cannot load trusted certificate "DIR/nope.pem": open DIR/nope.pem: no such file or directory in FILE:3`},
		{"trusted file without certificates", "server { location / {\n proxy_ssl_verify on;\n proxy_ssl_trusted_certificate junk.pem;\n proxy_pass https://10.0.0.1; } }",
			`cannot load trusted certificate "DIR/junk.pem": no PEM certificate in it in FILE:3`},
		{"duplicate", "server {\n proxy_ssl_name a;\n proxy_ssl_name b;\n}", `"proxy_ssl_name" directive is duplicate in FILE:3`},
		{"bad flag", "proxy_ssl_verify yes;", `invalid value "yes" in "proxy_ssl_verify" directive, it must be "on" or "off" in FILE:1`},
		{"bad depth", "proxy_ssl_verify_depth deep;", `"proxy_ssl_verify_depth" directive invalid value in FILE:1`},
		{"SSLv3", "proxy_ssl_protocols SSLv3 TLSv1.2;", `the "SSLv3" protocol of "proxy_ssl_protocols" is not supported by limpet (Go's TLS has no SSL 2 or 3) in FILE:1`},
		{"unknown protocol", "proxy_ssl_protocols TLSv2;", `invalid value "TLSv2" in "proxy_ssl_protocols" directive in FILE:1`},
		{"crl", "proxy_ssl_crl crl.pem;", `the "proxy_ssl_crl" directive is not supported by limpet (Go's TLS client checks no revocation lists) in FILE:1`},
		{"password file", "server {\n proxy_ssl_password_file pw;\n}", `the "proxy_ssl_password_file" directive is not supported by limpet (limpet reads unencrypted keys only) in FILE:2`},
		{"conf command", "proxy_ssl_conf_command Options PrioritizeChaCha;", `the "proxy_ssl_conf_command" directive is not supported by limpet (it passes commands to OpenSSL, which limpet does not use) in FILE:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := loadIn(t, dir, tt.src)
			want := strings.ReplaceAll(strings.ReplaceAll(tt.want, "FILE", path), "DIR", dir)
			if err == nil || err.Error() != want {
				t.Fatalf("source:\n%s\nerror %v\nwant  %s", tt.src, err, want)
			}
		})
	}
}

// TestUpstreamSSLFilesOnlyForHTTPS: as in nginx, the files are read
// only where a location proxies over https: a broken file that no https
// location uses is no error.
func TestUpstreamSSLFilesOnlyForHTTPS(t *testing.T) {
	dir := t.TempDir()
	tlstest.WriteFile(t, filepath.Join(dir, "junk.pem"), []byte("junk\n"))
	_, _, err := loadIn(t, dir, `proxy_ssl_verify on;
proxy_ssl_trusted_certificate junk.pem;
server { location / { proxy_pass http://10.0.0.1; } }`)
	if err != nil {
		t.Fatal(err)
	}
}

// TestProxyPassVariablesConfig: a proxy_pass with variables keeps its
// target for the request, and takes the resolver of its level, else the
// nearest enclosing one; the resolvers it uses are no longer listed as
// ignored, the others still are.
func TestProxyPassVariablesConfig(t *testing.T) {
	cfg := mustLoad(t, `resolver 10.0.0.53;
server {
    resolver 10.0.0.54 valid=5s;
    resolver_timeout 3s;
    location /a/ { proxy_pass http://$host:8080/x$request_uri; }
    location /b/ {
        resolver 10.0.0.55;
        location /b/c/ { proxy_pass https://$arg_app; }
    }
}
server {
    location / { proxy_pass $http_x_scheme://$http_x_app; }
}
server {
    resolver 10.0.0.56;
    location / { proxy_pass http://10.0.0.1; }
}`)
	find := func(srv int, paths ...string) *ProxyPass {
		locs := cfg.Servers[srv].Locations
		var l *Location
		for _, p := range paths {
			for _, c := range locs {
				if c.Path == p {
					l = c
				}
			}
			locs = l.Locations
		}
		return l.ProxyPass
	}
	tests := []struct {
		name    string
		pp      *ProxyPass
		target  string
		ns      string
		timeout time.Duration
	}{
		{"server's resolver", find(0, "/a/"), "http://$host:8080/x$request_uri", "10.0.0.54:53", 3 * time.Second},
		{"location's resolver, server's timeout", find(0, "/b/", "/b/c/"), "https://$arg_app", "10.0.0.55:53", 3 * time.Second},
		{"http's resolver", find(1, "/"), "$http_x_scheme://$http_x_app", "10.0.0.53:53", DefaultResolverTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pp := tt.pp
			if pp.Target != tt.target || pp.Resolver == nil || pp.Resolver.Addrs[0] != tt.ns || pp.ResolverTimeout != tt.timeout {
				t.Errorf("target %q resolver %+v timeout %v", pp.Target, pp.Resolver, pp.ResolverTimeout)
			}
		})
	}
	var ignored []string
	for _, ig := range cfg.Ignored {
		if ig.Name == "resolver" || ig.Name == "resolver_timeout" {
			ignored = append(ignored, ig.Pos.String()[strings.LastIndexByte(ig.Pos.String(), ':'):])
		}
	}
	if strings.Join(ignored, " ") != ":15" {
		t.Errorf("ignored resolvers at %v, want only the last server's (:15)", ignored)
	}
}
