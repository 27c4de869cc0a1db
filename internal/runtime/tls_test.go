package runtime

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/tlstest"
)

// tlsDo makes one request over a new TLS connection to addr and returns
// the response, its body and the connection's state.
func tlsDo(t *testing.T, addr string, cfg *tls.Config, host, path string) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: false}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequest("GET", "https://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (SNI %q): %v", path, cfg.ServerName, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// handshake dials addr and runs a TLS handshake, returning its state or
// the handshake's error.
func handshake(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

// TestTLSSNI: the certificate is chosen by SNI among three server blocks
// as nginx chooses the virtual server (exact, wildcard, regex), the
// default server's without SNI or for an unknown name, and the request's
// virtual server is still chosen by Host.
func TestTLSSNI(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	names := map[string]string{}
	for _, n := range []string{"default", "exact", "wild", "regex"} {
		c, k := ca.Issue(t, n+".cert", tlstest.Opts{ECDSA: true}).Write(t, dir, n)
		names[n+"_crt"], names[n+"_key"] = c, k
	}
	conf := `
server {
    listen 127.0.0.1:0 ssl default_server;
    server_name default.test;
    ssl_certificate {{default_crt}};
    ssl_certificate_key {{default_key}};
    return 200 "default $ssl_server_name";
}
server {
    listen 127.0.0.1:0 ssl;
    server_name a.test;
    ssl_certificate {{exact_crt}};
    ssl_certificate_key {{exact_key}};
    return 200 "exact $ssl_server_name";
}
server {
    listen 127.0.0.1:0 ssl;
    server_name *.b.test;
    ssl_certificate {{wild_crt}};
    ssl_certificate_key {{wild_key}};
    return 200 "wild $ssl_server_name";
}
server {
    listen 127.0.0.1:0 ssl;
    server_name ~^c\d+\.test$;
    ssl_certificate {{regex_crt}};
    ssl_certificate_key {{regex_key}};
    return 200 "regex $ssl_server_name";
}`
	var repl []string
	for k, v := range names {
		repl = append(repl, "{{"+k+"}}", v)
	}
	l := startLimpet(t, conf, repl...)
	addr := strings.TrimPrefix(l.url, "http://")
	tests := []struct {
		sni, host, cert, body string
	}{
		{"a.test", "a.test", "exact.cert", "exact a.test"},
		{"x.y.b.test", "x.y.b.test", "wild.cert", "wild x.y.b.test"},
		{"c42.test", "c42.test", "regex.cert", "regex c42.test"},
		{"unknown.test", "unknown.test", "default.cert", "default unknown.test"},
		{"", "a.test", "default.cert", "exact "}, // no SNI: the default's certificate, Host chooses the server
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			// The certificates name no host: what matters is
			// which one is served. An empty ServerName sends no SNI
			// to an IP address.
			cfg := &tls.Config{InsecureSkipVerify: true, ServerName: tt.sni}
			resp, body := tlsDo(t, addr, cfg, tt.host, "/")
			if got := resp.TLS.PeerCertificates[0].Subject.CommonName; got != tt.cert {
				t.Errorf("certificate %q, want %q", got, tt.cert)
			}
			if body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
		})
	}
}

// TestTLSCertificateKinds: an RSA and an ECDSA pair side by side; each
// client gets the one it supports. The chain's intermediate is served.
func TestTLSCertificateKinds(t *testing.T) {
	dir := t.TempDir()
	root := tlstest.NewCA(t, "Test Root")
	inter := root.Intermediate(t, "Test Intermediate")
	rc, rk := inter.Issue(t, "rsa.cert", tlstest.Opts{DNS: []string{"a.test"}}).Write(t, dir, "rsa")
	ec, ek := inter.Issue(t, "ecdsa.cert", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "ecdsa")
	l := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl;
    server_name a.test;
    ssl_certificate {{ec}};
    ssl_certificate_key {{ek}};
    ssl_certificate {{rc}};
    ssl_certificate_key {{rk}};
    ssl_protocols TLSv1.2 TLSv1.3;
    return 200 "$ssl_protocol $ssl_cipher";
}`, "{{rc}}", rc, "{{rk}}", rk, "{{ec}}", ec, "{{ek}}", ek)
	addr := strings.TrimPrefix(l.url, "http://")
	tests := []struct {
		name   string
		suites []uint16
		max    uint16
		cert   string
		body   string
	}{
		{"RSA-only client", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, tls.VersionTLS12, "rsa.cert", "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"},
		{"ECDSA-only client", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, tls.VersionTLS12, "ecdsa.cert", "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"},
		{"TLS 1.3 client", nil, tls.VersionTLS13, "ecdsa.cert", "TLSv1.3 TLS_AES_128_GCM_SHA256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Only the root is trusted: the intermediate must come
			// from the server.
			cfg := &tls.Config{RootCAs: root.Pool(), ServerName: "a.test", CipherSuites: tt.suites, MaxVersion: tt.max}
			resp, body := tlsDo(t, addr, cfg, "", "/")
			if got := resp.TLS.PeerCertificates[0].Subject.CommonName; got != tt.cert {
				t.Errorf("certificate %q, want %q", got, tt.cert)
			}
			if n := len(resp.TLS.PeerCertificates); n != 2 {
				t.Errorf("%d certificates served, want the leaf and the intermediate", n)
			}
			if body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
		})
	}
}

// TestTLSProtocolsCiphers: ssl_protocols and ssl_ciphers restrict what a
// handshake may choose.
func TestTLSProtocolsCiphers(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{DNS: []string{"a.test"}}).Write(t, dir, "a")
	tests := []struct {
		name     string
		settings string
		client   *tls.Config
		fails    bool
	}{
		{"TLSv1.3 only refuses TLS 1.2", "ssl_protocols TLSv1.3;", &tls.Config{MaxVersion: tls.VersionTLS12}, true},
		{"TLSv1.3 only takes TLS 1.3", "ssl_protocols TLSv1.3;", &tls.Config{MinVersion: tls.VersionTLS13}, false},
		{"TLSv1.2 only refuses TLS 1.3", "ssl_protocols TLSv1.2;", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"default refuses TLS 1.1", "", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, true},
		{"cipher list refuses others", "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384;",
			&tls.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, true},
		{"cipher list takes its own", "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384;",
			&tls.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}}, false},
		{"keywords with exclusions", "ssl_protocols TLSv1.2; ssl_ciphers HIGH:!aNULL:!MD5:!AESGCM;",
			&tls.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, true},
		{"keywords joined by +", "ssl_protocols TLSv1.2; ssl_ciphers EECDH+CHACHA20;",
			&tls.Config{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}, false},
		{"curves restrict the key exchange", "ssl_ecdh_curve secp384r1;",
			&tls.Config{CurvePreferences: []tls.CurveID{tls.X25519}}, true},
		{"curves take their own", "ssl_ecdh_curve X25519:secp384r1;",
			&tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP384}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLimpet(t, "server {\n listen 127.0.0.1:0 ssl;\n ssl_certificate "+c+";\n ssl_certificate_key "+k+";\n "+tt.settings+"\n return 200 ok;\n}")
			cfg := tt.client.Clone()
			cfg.RootCAs, cfg.ServerName = ca.Pool(), "a.test"
			_, err := handshake(t, strings.TrimPrefix(l.url, "http://"), cfg)
			if tt.fails && err == nil {
				t.Fatal("handshake succeeded, want it refused")
			}
			if !tt.fails && err != nil {
				t.Fatalf("handshake: %v", err)
			}
		})
	}
}

// TestTLSTicketKeys: limpets that read the same ssl_session_ticket_key
// files resume each other's sessions; a new key put first still lets the
// old one decrypt, and without the old key the session is not resumed.
func TestTLSTicketKeys(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "a")
	oldKey, newKey := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	tlstest.WriteFile(t, oldKey, []byte(strings.Repeat("o", 80)))
	tlstest.WriteFile(t, newKey, []byte(strings.Repeat("n", 48)))
	conf := func(keys ...string) string {
		s := "server {\n listen 127.0.0.1:0 ssl;\n server_name a.test;\n ssl_certificate " + c + ";\n ssl_certificate_key " + k + ";\n"
		for _, f := range keys {
			s += " ssl_session_ticket_key " + f + ";\n"
		}
		return s + " return 200 $ssl_session_reused;\n}"
	}
	a := startLimpet(t, conf(oldKey))
	b := startLimpet(t, conf(oldKey))
	rotated := startLimpet(t, conf(newKey, oldKey))
	other := startLimpet(t, conf(newKey))
	addr := func(l *limpet) string { return strings.TrimPrefix(l.url, "http://") }
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(map[uint16]string{tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}[version], func(t *testing.T) {
			type step struct {
				l    *limpet
				want string
			}
			// Each run starts with an empty client cache; each
			// step's ticket is the next one's.
			runs := [][]step{
				{{a, "."}, {b, "r"}, {rotated, "r"}}, // the same key on another instance, then the old key after a rotation
				{{a, "."}, {other, "."}},             // a limpet without the key: a full handshake
				{{rotated, "."}, {other, "r"}},       // the new key encrypts
			}
			for i, run := range runs {
				cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", ClientSessionCache: tls.NewLRUClientSessionCache(8), MinVersion: version, MaxVersion: version}
				for j, st := range run {
					resp, body := tlsDo(t, addr(st.l), cfg, "", "/")
					if body != st.want || resp.TLS.DidResume != (st.want == "r") {
						t.Fatalf("run %d step %d: $ssl_session_reused %q (resumed %v), want %q", i, j, body, resp.TLS.DidResume, st.want)
					}
				}
			}
		})
	}
}

// TestTLSClientCertificates: ssl_verify_client on, optional and
// optional_no_ca, and the variables of the client's certificate.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	clientCA := tlstest.NewCA(t, "Client CA")
	otherCA := tlstest.NewCA(t, "Other CA")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "a")
	caFile := filepath.Join(dir, "clients.pem")
	tlstest.WriteFile(t, caFile, clientCA.PEM())
	alice := clientCA.Issue(t, "alice", tlstest.Opts{ECDSA: true, Client: true, Org: "Limpet Test"})
	mallory := otherCA.Issue(t, "mallory", tlstest.Opts{ECDSA: true, Client: true})
	expired := clientCA.Issue(t, "old", tlstest.Opts{ECDSA: true, Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	fingerprint := func(l *tlstest.Leaf) string {
		sum := sha1.Sum(l.Cert.Raw)
		return hex.EncodeToString(sum[:])
	}
	tests := []struct {
		mode   string
		client *tlstest.Leaf
		status int
		body   string
	}{
		{"on", alice, 200, "SUCCESS|CN=alice,O=Limpet Test|CN=Client CA|" + fingerprint(alice)},
		{"on", nil, 400, "No required SSL certificate was sent"},
		{"on", mallory, 400, "The SSL certificate error"},
		{"on", expired, 400, "The SSL certificate error"},
		{"optional", alice, 200, "SUCCESS|CN=alice,O=Limpet Test|CN=Client CA|" + fingerprint(alice)},
		{"optional", nil, 200, "NONE|||"},
		{"optional", mallory, 400, "The SSL certificate error"},
		{"optional_no_ca", mallory, 200, "FAILED:unable to get local issuer certificate|CN=mallory|CN=Other CA|" + fingerprint(mallory)},
		{"optional_no_ca", expired, 400, "The SSL certificate error"},
	}
	limpets := map[string]*limpet{}
	for _, mode := range []string{"on", "optional", "optional_no_ca"} {
		limpets[mode] = startLimpet(t, "server {\n listen 127.0.0.1:0 ssl;\n ssl_certificate "+c+";\n ssl_certificate_key "+k+
			";\n ssl_client_certificate "+caFile+";\n ssl_verify_client "+mode+";\n ssl_verify_depth 1;\n"+
			" return 200 \"$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_fingerprint\";\n}")
	}
	for _, tt := range tests {
		name := tt.mode + " "
		if tt.client == nil {
			name += "none"
		} else {
			name += tt.client.Cert.Subject.CommonName
		}
		t.Run(name, func(t *testing.T) {
			l := limpets[tt.mode]
			cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}
			if cl := tt.client; cl != nil {
				// Sent whatever CAs the server names, as a client
				// with one certificate does.
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return &tls.Certificate{Certificate: [][]byte{cl.Cert.Raw}, PrivateKey: cl.Key, Leaf: cl.Cert}, nil
				}
			}
			resp, body := tlsDo(t, strings.TrimPrefix(l.url, "http://"), cfg, "", "/")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 && body != tt.body || tt.status != 200 && !strings.Contains(body, "<center>"+tt.body+"</center>") {
				t.Errorf("body %q, want %q", body, tt.body)
			}
		})
	}
}

// TestTLSProxy: a request over TLS reaches the backend with
// X-Forwarded-Proto https ($scheme), and $https is on.
func TestTLSProxy(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "a")
	be := newBackend(t, "b1")
	l := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl;
    ssl_certificate {{c}};
    ssl_certificate_key {{k}};
    location / {
        proxy_pass http://{{be}};
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-HTTPS $https;
    }
}`, "{{c}}", c, "{{k}}", k, "{{be}}", be.addr())
	resp, body := tlsDo(t, strings.TrimPrefix(l.url, "http://"), &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}, "", "/x")
	if resp.StatusCode != 200 || body != "b1" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	r, _ := be.lastRequest()
	if got := r.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", got)
	}
	if got := r.Header.Get("X-HTTPS"); got != "on" {
		t.Errorf("$https %q, want on", got)
	}
}

// TestTLSPlainRequest: a plain HTTP request on a TLS socket gets nginx's
// 497 page, and the failed handshake is counted.
func TestTLSPlainRequest(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true}).Write(t, dir, "a")
	l := startLimpet(t, "server {\n listen 127.0.0.1:0 ssl;\n ssl_certificate "+c+";\n ssl_certificate_key "+k+";\n return 200 ok;\n}")
	resp, err := http.Get(l.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "The plain HTTP request was sent to HTTPS port") {
		t.Fatalf("status %d body %q", resp.StatusCode, b)
	}
	if n := l.rt.tlsFailures.Load(); n != 1 {
		t.Errorf("%d handshake failures counted, want 1", n)
	}
	// And the metrics say so.
	rec := httptest.NewRecorder()
	l.rt.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "limpet_tls_handshake_failures_total 1") {
		t.Errorf("metrics lack limpet_tls_handshake_failures_total 1")
	}
}

// TestTLSReload: a reload with a new certificate serves it on the kept
// socket.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c1, k1 := ca.Issue(t, "first", tlstest.Opts{ECDSA: true}).Write(t, dir, "first")
	c2, k2 := ca.Issue(t, "second", tlstest.Opts{ECDSA: true}).Write(t, dir, "second")
	conf := func(c, k string) string {
		return "server {\n listen 127.0.0.1:{{port}} ssl;\n ssl_certificate " + c + ";\n ssl_certificate_key " + k + ";\n return 200 ok;\n}"
	}
	port := freePort(t)
	l := startLimpet(t, conf(c1, k1), "{{port}}", port)
	addr := strings.TrimPrefix(l.url, "http://")
	cn := func() string {
		st, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		return st.PeerCertificates[0].Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("certificate %q before the reload", got)
	}
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(conf(c2, k2), "{{port}}", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.rt.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "second" {
		t.Fatalf("certificate %q after the reload, want second", got)
	}
}

// TestTLSClientCertificateHost: the request's virtual server (by Host)
// decides ssl_verify_client, and a request for a verifying server on a
// connection whose SNI chose another gets 421, as in nginx.
func TestTLSClientCertificateHost(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	clientCA := tlstest.NewCA(t, "Client CA")
	pub, pubKey := ca.Issue(t, "public.test", tlstest.Opts{ECDSA: true, DNS: []string{"public.test"}}).Write(t, dir, "public")
	priv, privKey := ca.Issue(t, "private.test", tlstest.Opts{ECDSA: true, DNS: []string{"private.test"}}).Write(t, dir, "private")
	caFile := filepath.Join(dir, "clients.pem")
	tlstest.WriteFile(t, caFile, clientCA.PEM())
	l := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl;
    server_name public.test;
    ssl_certificate {{pub}};
    ssl_certificate_key {{pubkey}};
    return 200 "public";
}
server {
    listen 127.0.0.1:0 ssl;
    server_name private.test;
    ssl_certificate {{priv}};
    ssl_certificate_key {{privkey}};
    ssl_client_certificate {{ca}};
    ssl_verify_client on;
    return 200 "private";
}`, "{{pub}}", pub, "{{pubkey}}", pubKey, "{{priv}}", priv, "{{privkey}}", privKey, "{{ca}}", caFile)
	addr := strings.TrimPrefix(l.url, "http://")
	alice := clientCA.Issue(t, "alice", tlstest.Opts{ECDSA: true, Client: true})
	withCert := &tls.Config{RootCAs: ca.Pool(), ServerName: "private.test", Certificates: []tls.Certificate{{Certificate: [][]byte{alice.Cert.Raw}, PrivateKey: alice.Key}}}
	tests := []struct {
		name   string
		cfg    *tls.Config
		host   string
		status int
		body   string
	}{
		{"SNI public, Host public", &tls.Config{RootCAs: ca.Pool(), ServerName: "public.test"}, "public.test", 200, "public"},
		{"SNI public, Host private", &tls.Config{RootCAs: ca.Pool(), ServerName: "public.test"}, "private.test", 421, "421 Misdirected Request"},
		{"SNI private without certificate", &tls.Config{RootCAs: ca.Pool(), ServerName: "private.test"}, "private.test", 400, "No required SSL certificate was sent"},
		{"SNI private with certificate", withCert, "private.test", 200, "private"},
		{"SNI private, Host public", withCert, "public.test", 200, "public"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tlsDo(t, addr, tt.cfg, tt.host, "/")
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("status %d body %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}

// TestTLSRejectHandshake: a default server with ssl_reject_handshake on
// needs no certificate and refuses the handshakes that reach it: those
// without SNI or naming no other server.
func TestTLSRejectHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "a")
	l := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl default_server;
    ssl_reject_handshake on;
}
server {
    listen 127.0.0.1:0 ssl;
    server_name a.test;
    ssl_certificate {{c}};
    ssl_certificate_key {{k}};
    return 200 ok;
}`, "{{c}}", c, "{{k}}", k)
	addr := strings.TrimPrefix(l.url, "http://")
	if _, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}); err != nil {
		t.Errorf("a.test: %v", err)
	}
	for _, sni := range []string{"b.test", ""} {
		if _, err := handshake(t, addr, &tls.Config{InsecureSkipVerify: true, ServerName: sni}); err == nil {
			t.Errorf("SNI %q: handshake succeeded, want it refused", sni)
		}
	}
}
