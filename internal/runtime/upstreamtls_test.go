package runtime

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/tlstest"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// tlsBackend is an HTTPS application server for the tests of TLS to
// upstreams: it answers with its name and records what each request's
// TLS connection was (SNI, resumption, the client's certificate), and
// counts the connections it accepted.
type tlsBackend struct {
	name  string
	srv   *httptest.Server
	conns atomic.Int64 // TLS connections accepted

	mu      sync.Mutex // guards states
	states  []tls.ConnectionState
	handler http.HandlerFunc // optional behaviour instead of the default answer
	probes  chan *http.Request
}

// tlsFixture is a CA and the files limpet's configuration names.
type tlsFixture struct {
	ca, other *tlstest.CA
	dir       string
	caFile    string // the CA's certificate
	otherFile string // another CA's
	client    string // a client certificate the CA signed, and its key
	clientKey string
}

func newTLSFixture(t *testing.T) *tlsFixture {
	f := &tlsFixture{ca: tlstest.NewCA(t, "limpet test CA"), other: tlstest.NewCA(t, "another CA"), dir: t.TempDir()}
	f.caFile = filepath.Join(f.dir, "ca.pem")
	tlstest.WriteFile(t, f.caFile, f.ca.PEM())
	f.otherFile = filepath.Join(f.dir, "other.pem")
	tlstest.WriteFile(t, f.otherFile, f.other.PEM())
	cl := f.ca.Issue(t, "limpet-client", tlstest.Opts{ECDSA: true, DNS: []string{"limpet-client"}, NoLoopbackIP: true, Client: true})
	f.client, f.clientKey = cl.Write(t, f.dir, "client")
	return f
}

// newTLSBackend starts an HTTPS server whose certificate the fixture's
// CA signed for names, those that are addresses as IP subjectAltNames
// (and no other address); cfg, if set, shapes its TLS (client
// certificates).
func newTLSBackend(t *testing.T, f *tlsFixture, name string, names []string, cfg func(*tls.Config)) *tlsBackend {
	t.Helper()
	b := &tlsBackend{name: name, probes: make(chan *http.Request, 64)}
	o := tlstest.Opts{ECDSA: true, NoLoopbackIP: true}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			o.IPs = append(o.IPs, ip)
		} else {
			o.DNS = append(o.DNS, n)
		}
	}
	leaf := f.ca.Issue(t, names[0], o)
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
	if cfg != nil {
		cfg(b.srv.TLS)
	}
	// The handshakes limpet refuses are the tests' point, not news.
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	b.srv.StartTLS()
	t.Cleanup(func() { b.srv.CloseClientConnections(); b.srv.Close() })
	return b
}

func (b *tlsBackend) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	b.mu.Lock()
	b.states = append(b.states, *r.TLS)
	h := b.handler
	b.mu.Unlock()
	if r.URL.Path == "/healthz" {
		b.probes <- r
	}
	w.Header().Set("X-Served-By", b.name)
	if h != nil {
		h(w, r)
		return
	}
	_, _ = io.WriteString(w, b.name)
}

func (b *tlsBackend) addr() string { return b.srv.Listener.Addr().String() }

// last returns the TLS state of the latest request.
func (b *tlsBackend) last(t *testing.T) tls.ConnectionState {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.states) == 0 {
		t.Fatal("no request reached the backend")
	}
	return b.states[len(b.states)-1]
}

func (b *tlsBackend) requests() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.states)
}

// TestUpstreamTLSVerification: proxy_ssl_verify off takes any
// certificate; on, the chain must lead to the trusted CA and the
// certificate must match proxy_ssl_name ($proxy_host by default), or the
// request fails with 502 and nginx's words in the error log. SNI is sent
// only with proxy_ssl_server_name on.
func TestUpstreamTLSVerification(t *testing.T) {
	f := newTLSFixture(t)
	app := newTLSBackend(t, f, "app", []string{"app.internal"}, nil)
	tests := []struct {
		name     string
		settings string // the location's proxy_ssl_* lines
		pass     string // the proxy_pass target after https://
		status   int
		sni      string
		errLog   string
	}{
		{name: "verify off, any name", pass: "backend", status: 200},
		{name: "verify off, address", pass: "{{app}}", status: 200},
		{name: "trusted CA, name set", settings: "proxy_ssl_verify on; proxy_ssl_trusted_certificate {{ca}}; proxy_ssl_name app.internal;", pass: "backend", status: 200},
		{name: "trusted CA, $proxy_host does not match", settings: "proxy_ssl_verify on; proxy_ssl_trusted_certificate {{ca}};", pass: "backend", status: 502,
			errLog: `upstream SSL certificate does not match \"backend\" while SSL handshaking to upstream`},
		{name: "an address does not match", settings: "proxy_ssl_verify on; proxy_ssl_trusted_certificate {{ca}};", pass: "{{app}}", status: 502,
			errLog: `upstream SSL certificate does not match \"127.0.0.1\" while SSL handshaking to upstream`},
		{name: "untrusted chain", settings: "proxy_ssl_verify on; proxy_ssl_trusted_certificate {{other}}; proxy_ssl_name app.internal;", pass: "backend", status: 502,
			errLog: `upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream`},
		{name: "name from a variable", settings: "proxy_ssl_verify on; proxy_ssl_trusted_certificate {{ca}}; proxy_ssl_name $http_x_backend;", pass: "backend", status: 200},
		{name: "SNI on", settings: "proxy_ssl_server_name on; proxy_ssl_name app.internal;", pass: "backend", status: 200, sni: "app.internal"},
		{name: "SNI on, $proxy_host", settings: "proxy_ssl_server_name on;", pass: "backend", status: 200, sni: "backend"},
		{name: "SNI off by default", settings: "proxy_ssl_name app.internal;", pass: "backend", status: 200, sni: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        `+tt.settings+`
        proxy_pass https://`+tt.pass+`;
    }
}`, "{{app}}", app.addr(), "{{ca}}", f.caFile, "{{other}}", f.otherFile)
			before := app.requests()
			res, body := get(t, newClient(t), lb.url+"/x", "X-Backend", "app.internal")
			if res.StatusCode != tt.status {
				t.Fatalf("status %d (%q), want %d; error log:\n%s", res.StatusCode, body, tt.status, lb.errLog.String())
			}
			if tt.status != 200 {
				if app.requests() != before {
					t.Error("the request reached the server")
				}
				if !strings.Contains(lb.errLog.String(), tt.errLog) {
					t.Errorf("error log lacks %s:\n%s", tt.errLog, lb.errLog.String())
				}
				return
			}
			if body != "app" {
				t.Errorf("body %q", body)
			}
			if got := app.last(t).ServerName; got != tt.sni {
				t.Errorf("SNI %q, want %q", got, tt.sni)
			}
		})
	}
}

// TestUpstreamTLSClientCertificate: an upstream that requires a client
// certificate refuses limpet without proxy_ssl_certificate, and gets the
// configured one with it.
func TestUpstreamTLSClientCertificate(t *testing.T) {
	f := newTLSFixture(t)
	app := newTLSBackend(t, f, "app", []string{"app.internal"}, func(c *tls.Config) {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = f.ca.Pool()
	})
	conf := `
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        %s
        proxy_pass https://{{app}};
    }
}`
	lb := startLimpet(t, fmt.Sprintf(conf, ""), "{{app}}", app.addr())
	if res, _ := get(t, newClient(t), lb.url+"/"); res.StatusCode != 502 {
		t.Fatalf("without a client certificate: status %d, want 502", res.StatusCode)
	}
	// In TLS 1.3 the server refuses the certificate after the client's
	// handshake is done: the refusal comes with the response, as it does
	// to nginx ("SSL_read() failed ... alert certificate required").
	if want := "tls: certificate required"; !strings.Contains(lb.errLog.String(), want) {
		t.Errorf("error log lacks %q:\n%s", want, lb.errLog.String())
	}
	lb = startLimpet(t, fmt.Sprintf(conf, "proxy_ssl_certificate {{cert}}; proxy_ssl_certificate_key {{key}};"),
		"{{app}}", app.addr(), "{{cert}}", f.client, "{{key}}", f.clientKey)
	res, body := get(t, newClient(t), lb.url+"/")
	if res.StatusCode != 200 || body != "app" {
		t.Fatalf("with a client certificate: status %d body %q\n%s", res.StatusCode, body, lb.errLog.String())
	}
	if peer := app.last(t).PeerCertificates; len(peer) == 0 || peer[0].DNSNames[0] != "limpet-client" {
		t.Errorf("the server saw client certificates %v", peer)
	}
}

// TestUpstreamTLSKeepalive: requests reuse pooled TLS connections as
// they reuse plain ones: one connection carries them all.
func TestUpstreamTLSKeepalive(t *testing.T) {
	f := newTLSFixture(t)
	app := newTLSBackend(t, f, "app", []string{"app.internal"}, nil)
	lb := startLimpet(t, `
upstream backend { server {{app}}; keepalive 8; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass https://backend; }
}`, "{{app}}", app.addr())
	c := newClient(t)
	for i := range 20 {
		if res, body := get(t, c, lb.url+"/"); res.StatusCode != 200 || body != "app" {
			t.Fatalf("request %d: status %d body %q", i, res.StatusCode, body)
		}
	}
	if n := app.conns.Load(); n != 1 {
		t.Errorf("%d TLS connections for 20 sequential requests, want 1", n)
	}
}

// TestUpstreamTLSSessionReuse: with proxy_ssl_session_reuse on (the
// default) a new connection resumes the previous one's session; off, it
// never does. The server closes every connection after its response, so
// each request makes a new one.
func TestUpstreamTLSSessionReuse(t *testing.T) {
	for _, tt := range []struct {
		setting string
		resumed bool
	}{{"", true}, {"proxy_ssl_session_reuse off;", false}} {
		t.Run(fmt.Sprint(tt.resumed), func(t *testing.T) {
			f := newTLSFixture(t)
			app := newTLSBackend(t, f, "app", []string{"app.internal"}, nil)
			app.srv.Config.SetKeepAlivesEnabled(false)
			lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { `+tt.setting+` proxy_pass https://{{app}}; }
}`, "{{app}}", app.addr())
			c := newClient(t)
			for i := range 3 {
				if res, _ := get(t, c, lb.url+"/"); res.StatusCode != 200 {
					t.Fatalf("request %d: status %d", i, res.StatusCode)
				}
				if got := app.last(t).DidResume; got != (tt.resumed && i > 0) {
					t.Errorf("request %d: DidResume %v", i, got)
				}
			}
			if n := app.conns.Load(); n != 3 {
				t.Errorf("%d connections, want 3", n)
			}
		})
	}
}

// TestUpstreamTLSRetryAndSticky: a server whose certificate fails
// verification is an upstream error like a refused connection: counted
// against it, and the request (even a POST: nothing was sent) goes to the
// next server, whose cookie the client then gets and follows.
func TestUpstreamTLSRetryAndSticky(t *testing.T) {
	f := newTLSFixture(t)
	good := newTLSBackend(t, f, "good", []string{"app.internal"}, nil)
	bad := newTLSBackend(t, f, "bad", []string{"elsewhere.internal"}, nil)
	lb := startLimpet(t, `
upstream backend {
    server {{bad}} max_fails=1 fail_timeout=1h;
    server {{good}};
    sticky cookie SERVERID;
}
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {{ca}};
        proxy_ssl_name app.internal;
        proxy_pass https://backend;
    }
}`, "{{bad}}", bad.addr(), "{{good}}", good.addr(), "{{ca}}", f.caFile)
	c := newClient(t)
	req, _ := http.NewRequest(http.MethodPost, lb.url+"/form", strings.NewReader("a=1"))
	res, body := do(t, c, req)
	if res.StatusCode != 200 || body != "good" {
		t.Fatalf("POST: status %d body %q\n%s", res.StatusCode, body, lb.errLog.String())
	}
	if bad.requests() != 0 {
		t.Error("a request reached the server that failed verification")
	}
	want := `upstream SSL certificate does not match \"app.internal\" while SSL handshaking to upstream`
	if !strings.Contains(lb.errLog.String(), want) {
		t.Errorf("error log lacks %s:\n%s", want, lb.errLog.String())
	}
	cookie := ""
	for _, ck := range res.Cookies() {
		if ck.Name == "SERVERID" {
			cookie = ck.Value
		}
	}
	if cookie != upstream.IDFor(good.addr(), "") {
		t.Fatalf("cookie %q, want the good server's", cookie)
	}
	for i := range 5 {
		if _, body := get(t, c, lb.url+"/"); body != "good" {
			t.Fatalf("request %d served by %q", i, body)
		}
	}
	if n := good.conns.Load(); n != 1 {
		t.Errorf("the good server saw %d connections, want 1 (keep-alive)", n)
	}
}

// TestUpstreamTLSHealthCheck: a health check of an https upstream probes
// over TLS with the location's settings (the name verified and sent), as
// NGINX Plus does; a server failing verification is marked unhealthy.
func TestUpstreamTLSHealthCheck(t *testing.T) {
	f := newTLSFixture(t)
	good := newTLSBackend(t, f, "good", []string{"app.internal"}, nil)
	bad := newTLSBackend(t, f, "bad", []string{"elsewhere.internal"}, nil)
	lb := startLimpet(t, `
upstream backend {
    zone backend 64k;
    server {{good}};
    server {{bad}};
}
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {{ca}};
        proxy_ssl_name app.internal;
        proxy_ssl_server_name on;
        proxy_pass https://backend;
        health_check interval=50ms uri=/healthz;
    }
}`, "{{good}}", good.addr(), "{{bad}}", bad.addr(), "{{ca}}", f.caFile)
	select {
	case r := <-good.probes:
		if r.TLS == nil || r.TLS.ServerName != "app.internal" {
			t.Errorf("probe's TLS %+v", r.TLS)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no health check reached the server")
	}
	st := lb.rt.cur.Load().byName["backend"].Load()
	var badServer *upstream.Server
	for _, s := range st.Pool.All() {
		if s.Addr == bad.addr() {
			badServer = s
		}
	}
	eventually(t, 10*time.Second, "the server failing verification unhealthy", func() bool {
		return badServer.Health() == upstream.HealthUnhealthy
	})
	if bad.requests() != 0 {
		t.Error("a probe reached the server that failed verification")
	}
}

// TestUpstreamTLSWebSocket: an upgrade goes over TLS too (the standard
// transport with limpet's TLS client) and relays both ways.
func TestUpstreamTLSWebSocket(t *testing.T) {
	f := newTLSFixture(t)
	app := newTLSBackend(t, f, "app", []string{"app.internal"}, nil)
	app.handler = echoWebSocket
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {{ca}};
        proxy_ssl_name app.internal;
        proxy_pass https://{{app}};
    }
}`, "{{app}}", app.addr(), "{{ca}}", f.caFile)
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 101 {
		t.Fatalf("status %d\n%s", res.StatusCode, lb.errLog.String())
	}
	fmt.Fprintf(conn, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo hello\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if !app.last(t).HandshakeComplete {
		t.Error("the upgrade did not go over TLS")
	}
}

// TestUpstreamTLSConfigErrors: what cannot be built is an error at
// start (and so in `limpet -t`), at the directive's line.
func TestUpstreamTLSConfigErrors(t *testing.T) {
	conf := "server {\n    listen 127.0.0.1:0;\n    location / {\n        proxy_ssl_ciphers ECDHE-RSA-AES128-GCM-SHA257;\n        proxy_pass https://127.0.0.1:1;\n    }\n}\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "limpet.conf")
	tlstest.WriteFile(t, path, []byte(conf))
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler)})
	want := `SSL_CTX_set_cipher_list("ECDHE-RSA-AES128-GCM-SHA257") failed (unknown cipher "ECDHE-RSA-AES128-GCM-SHA257") in ` + filepath.Clean(path) + ":4"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant  %s", err, want)
	}
}

// TestUpstreamTLSReload: a reload that changes no TLS setting keeps the
// pooled TLS connections; one that changes a setting (here the name)
// makes new ones, verified for the new settings.
func TestUpstreamTLSReload(t *testing.T) {
	f := newTLSFixture(t)
	app := newTLSBackend(t, f, "app", []string{"app.internal", "other.internal"}, nil)
	conf := `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {{ca}};
        proxy_ssl_name {{name}};
        proxy_pass https://backend;
    }
}`
	repl := []string{"{{app}}", app.addr(), "{{ca}}", f.caFile}
	lb := startLimpet(t, conf, append(repl, "{{name}}", "app.internal")...)
	c := newClient(t)
	check := func(step string, conns int64) {
		t.Helper()
		if res, body := get(t, c, lb.url+"/"); res.StatusCode != 200 || body != "app" {
			t.Fatalf("%s: status %d body %q\n%s", step, res.StatusCode, body, lb.errLog.String())
		}
		if n := app.conns.Load(); n != conns {
			t.Errorf("%s: %d connections, want %d", step, n, conns)
		}
	}
	check("before", 1)
	if err := lb.reload(t, conf, append(repl, "{{name}}", "app.internal")...); err != nil {
		t.Fatal(err)
	}
	check("after a reload that changed nothing", 1)
	if err := lb.reload(t, conf, append(repl, "{{name}}", "other.internal")...); err != nil {
		t.Fatal(err)
	}
	check("after a reload that changed the name", 2)
}

// TestImplicitUpstreamsBySchemePort: proxy_pass http://HOST and
// https://HOST without ports are two servers (ports 80 and 443), not one.
func TestImplicitUpstreamsBySchemePort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "limpet.conf")
	tlstest.WriteFile(t, path, []byte(`server {
    listen 127.0.0.1:0;
    location /a/ { proxy_pass http://127.0.0.1; }
    location /b/ { proxy_pass https://127.0.0.1; }
}`))
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rt.Shutdown(context.Background()) }()
	p := rt.cur.Load()
	var addrs []string
	for _, name := range p.implicitOrder {
		addrs = append(addrs, p.implicit[name].Pool().All()[0].Addr)
	}
	if strings.Join(addrs, " ") != "127.0.0.1:80 127.0.0.1:443" {
		t.Errorf("implicit servers %v, want 127.0.0.1:80 and 127.0.0.1:443", addrs)
	}
}

// TestUpstreamTLSHandshakeTimeout: a server that accepts the connection
// but never answers the handshake times out within
// proxy_connect_timeout, as nginx bounds its handshake: 504 when no other
// server is left, and the next server under proxy_next_upstream timeout.
func TestUpstreamTLSHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	stop := make(chan struct{})
	held.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	t.Cleanup(func() { close(stop); _ = ln.Close(); held.Wait() })
	f := newTLSFixture(t)
	good := newTLSBackend(t, f, "good", []string{"app.internal"}, nil)
	conf := `
upstream backend { server {{mute}}; %s }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_connect_timeout 200ms;
        proxy_next_upstream error timeout;
        proxy_pass https://backend;
    }
}`
	lb := startLimpet(t, fmt.Sprintf(conf, ""), "{{mute}}", ln.Addr().String())
	if res, _ := get(t, newClient(t), lb.url+"/"); res.StatusCode != 504 {
		t.Fatalf("status %d, want 504\n%s", res.StatusCode, lb.errLog.String())
	}
	want := "upstream timed out (110: Connection timed out) while SSL handshaking to upstream"
	if !strings.Contains(lb.errLog.String(), want) {
		t.Errorf("error log lacks %q:\n%s", want, lb.errLog.String())
	}
	lb = startLimpet(t, fmt.Sprintf(conf, "server {{good}};"), "{{mute}}", ln.Addr().String(), "{{good}}", good.addr())
	for i := range 3 {
		if res, body := get(t, newClient(t), lb.url+"/"); res.StatusCode != 200 || body != "good" {
			t.Fatalf("request %d: status %d body %q", i, res.StatusCode, body)
		}
	}
}
