//go:build unix

package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/limpet-lb/limpet/internal/browsertest"
	"github.com/limpet-lb/limpet/internal/tlstest"
)

// These tests drive a real limpet process over TLS with real clients
// (curl, h2load, Chromium) and certificates made by the test: issue 11's
// end-to-end checks of TLS termination, HTTP/2 by ALPN and TLS upstreams.

// namedBackend is an application server that answers with its name and
// counts the requests it saw.
type namedBackend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
}

// startNamedBackends starts one plain HTTP backend per name; each answers
// a small HTML page naming itself and the protocol limpet spoke to it.
func startNamedBackends(t *testing.T, names ...string) []*namedBackend {
	t.Helper()
	var bs []*namedBackend
	for _, name := range names {
		b := &namedBackend{name: name}
		b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.hits.Add(1)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<!doctype html><title>%s</title><body>%s</body>", b.name, b.name)
		}))
		t.Cleanup(b.srv.Close)
		bs = append(bs, b)
	}
	return bs
}

// tlsSite is what a TLS test's limpet needs: a CA, a server certificate
// for site.test and 127.0.0.1, and the files holding them.
type tlsSite struct {
	dir      string
	ca       *tlstest.CA
	leaf     *tlstest.Leaf
	crt, key string
	caFile   string
}

func newTLSSite(t *testing.T) *tlsSite {
	t.Helper()
	s := &tlsSite{dir: t.TempDir(), ca: tlstest.NewCA(t, "Test Root")}
	s.leaf = s.ca.Issue(t, "site.test", tlstest.Opts{ECDSA: true, DNS: []string{"site.test"}})
	s.crt, s.key = s.leaf.Write(t, s.dir, "site")
	s.caFile = filepath.Join(s.dir, "ca.pem")
	tlstest.WriteFile(t, s.caFile, s.ca.PEM())
	return s
}

// runLimpetConf starts the limpet binary on conf and waits for addr.
func runLimpetConf(t *testing.T, conf, addr string) *limpetProc {
	t.Helper()
	p := startLimpet(t, buildLimpet(t), t.TempDir(), "-c", writeConf(t, conf))
	waitListening(t, addr)
	return p
}

// runCurl runs curl with args, bounded in time, and returns its stdout;
// a failure (curl's exit code) is returned as an error with its stderr.
func runCurl(t *testing.T, curl string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, append([]string{"-sS", "--max-time", "20"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("curl %v: %w: %s", args, err, stderr.String())
	}
	return string(out), nil
}

// TestCurlHTTP2OverTLS: curl --http2 to a real limpet over HTTPS chooses
// h2 by ALPN; with curl's cookie jar every request after the first stays
// on the server the sticky cookie names, while requests without the jar
// are spread over both servers.
func TestCurlHTTP2OverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	curl := needProgram(t, "curl", "curl")
	site := newTLSSite(t)
	bs := startNamedBackends(t, "a", "b")
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	runLimpetConf(t, fmt.Sprintf(`
upstream backend { server %s; server %s; sticky cookie SERVERID; }
server {
    listen %s ssl;
    http2 on;
    server_name site.test;
    ssl_certificate %s;
    ssl_certificate_key %s;
    access_log off;
    location / { proxy_pass http://backend; }
}
`, bs[0].srv.Listener.Addr(), bs[1].srv.Listener.Addr(), addr, site.crt, site.key), addr)

	url := "https://site.test:" + port + "/"
	base := []string{"--http2", "--cacert", site.caFile, "--resolve", "site.test:" + port + ":127.0.0.1",
		"-w", `\n%{http_version} %{http_code}`}

	// Without a cookie jar, round robin alternates between the servers.
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		out, err := runCurl(t, curl, append(base, url)...)
		if err != nil {
			t.Fatal(err)
		}
		body, proto, ok := strings.Cut(out, "\n")
		if !ok || proto != "2 200" {
			t.Fatalf("curl --http2: version and status %q, want \"2 200\"\n%s", proto, out)
		}
		seen[body] = true
	}
	if len(seen) != 2 {
		t.Fatalf("two requests without a cookie reached %v, want both servers", seen)
	}

	jar := filepath.Join(t.TempDir(), "cookies.txt")
	var first string
	for i := 0; i < 6; i++ {
		out, err := runCurl(t, curl, append(base, "-b", jar, "-c", jar, url)...)
		if err != nil {
			t.Fatal(err)
		}
		body, proto, _ := strings.Cut(out, "\n")
		if proto != "2 200" {
			t.Fatalf("request %d: version and status %q, want \"2 200\"", i, proto)
		}
		if i == 0 {
			first = body
			jarText, err := os.ReadFile(jar)
			if err != nil || !strings.Contains(string(jarText), "\tSERVERID\t") {
				t.Fatalf("curl's jar holds no SERVERID cookie after the first request (%v):\n%s", err, jarText)
			}
		} else if body != first {
			t.Fatalf("request %d with the cookie reached %q, the first reached %q", i, body, first)
		}
	}
}

// TestCurlMutualTLS: with ssl_verify_client on, curl with a client
// certificate the CA issued (--cert/--key) gets through over h2 and sees
// its subject in $ssl_client_s_dn; without one it gets nginx's 400 "No
// required SSL certificate was sent"; with a certificate of another CA,
// 400 "The SSL certificate error".
func TestCurlMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	curl := needProgram(t, "curl", "curl")
	site := newTLSSite(t)
	clientCrt, clientKey := site.ca.Issue(t, "alice", tlstest.Opts{ECDSA: true, Client: true, Org: "Tests"}).Write(t, site.dir, "alice")
	other := tlstest.NewCA(t, "Other Root")
	otherCrt, otherKey := other.Issue(t, "mallory", tlstest.Opts{ECDSA: true, Client: true}).Write(t, site.dir, "mallory")
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	runLimpetConf(t, fmt.Sprintf(`
server {
    listen %s ssl;
    http2 on;
    server_name site.test;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_client_certificate %s;
    ssl_verify_client on;
    access_log off;
    return 200 "$ssl_client_verify $ssl_client_s_dn\n";
}
`, addr, site.crt, site.key, site.caFile), addr)

	url := "https://site.test:" + port + "/"
	base := []string{"--http2", "--cacert", site.caFile, "--resolve", "site.test:" + port + ":127.0.0.1",
		"-w", `%{http_version} %{http_code}`}
	tests := []struct {
		name string
		args []string
		want []string // substrings of the body and the trailing "version status"
	}{
		{"client certificate", []string{"--cert", clientCrt, "--key", clientKey}, []string{"SUCCESS CN=alice,O=Tests\n", "2 200"}},
		{"no certificate", nil, []string{"No required SSL certificate was sent", "2 400"}},
		{"certificate of another CA", []string{"--cert", otherCrt, "--key", otherKey}, []string{"The SSL certificate error", "2 400"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCurl(t, curl, append(append(base, tt.args...), url)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("curl: %q lacks %q", out, w)
				}
			}
			if !strings.HasSuffix(out, tt.want[len(tt.want)-1]) {
				t.Errorf("curl: %q does not end with %q", out, tt.want[len(tt.want)-1])
			}
		})
	}
}

// TestH2loadOverTLS: a bounded h2load run over HTTPS (ALPN h2, several
// clients with concurrent streams) through a real limpet: every request
// succeeds, and since h2load keeps no cookies every request is a new
// assignment, which smooth weighted round robin spreads 3:1 exactly.
func TestH2loadOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	h2load := needProgram(t, "h2load", "nghttp2-client")
	site := newTLSSite(t)
	bs := startNamedBackends(t, "a", "b")
	addr := freePort(t)
	runLimpetConf(t, fmt.Sprintf(`
upstream backend { server %s weight=3; server %s; sticky cookie SERVERID; }
server {
    listen %s ssl;
    http2 on;
    ssl_certificate %s;
    ssl_certificate_key %s;
    access_log off;
    location / { proxy_pass http://backend; }
}
`, bs[0].srv.Listener.Addr(), bs[1].srv.Listener.Addr(), addr, site.crt, site.key), addr)

	const requests = 2000
	s := runH2load(t, h2load, "https://"+addr+"/", requests)
	if !strings.Contains(s, "Application protocol: h2\n") {
		t.Errorf("h2load did not negotiate h2 by ALPN:\n%s", s)
	}
	if a, b := bs[0].hits.Load(), bs[1].hits.Load(); a != requests*3/4 || b != requests/4 {
		t.Errorf("the backends saw a=%d b=%d, want %d and %d (weights 3:1)", a, b, requests*3/4, requests/4)
	}
}

// spkiHash is the base64 SHA-256 of a certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it.
func spkiHash(l *tlstest.Leaf) string {
	sum := sha256.Sum256(l.Cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestChromiumHTTP2Sticky: headless Chromium, trusting the test
// certificate by its key's hash, loads a page through limpet over HTTPS;
// the page itself reports that it came over h2, and the sticky cookie
// keeps the browser on one server over reloads (round robin would
// alternate without it).
func TestChromiumHTTP2Sticky(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	site := newTLSSite(t)
	bctx := browsertest.StartWith(t, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(site.leaf)))
	bs := startNamedBackends(t, "a", "b")
	addr := freePort(t)
	runLimpetConf(t, fmt.Sprintf(`
upstream backend { server %s; server %s; sticky cookie SERVERID; }
server {
    listen %s ssl;
    http2 on;
    ssl_certificate %s;
    ssl_certificate_key %s;
    access_log off;
    location / { proxy_pass http://backend; }
}
`, bs[0].srv.Listener.Addr(), bs[1].srv.Listener.Addr(), addr, site.crt, site.key), addr)

	url := "https://" + addr + "/"
	var first string
	for i := 0; i < 4; i++ {
		nav := chromedp.Navigate(url)
		if i > 0 {
			nav = chromedp.Reload()
		}
		if err := chromedp.Do(bctx, nav); err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
			`[performance.getEntriesByType('navigation')[0].nextHopProtocol, document.body.textContent]`))
		if err != nil || len(got) != 2 {
			t.Fatalf("load %d: the page's protocol and body: %q, %v", i, got, err)
		}
		proto, body := got[0], got[1]
		if proto != "h2" {
			t.Errorf("load %d: nextHopProtocol %q, want h2", i, proto)
		}
		if i == 0 {
			first = body
			if first != "a" && first != "b" {
				t.Fatalf("load %d: body %q is no backend's", i, body)
			}
		} else if body != first {
			t.Errorf("load %d reached %q, the first reached %q", i, body, first)
		}
	}
	cookie, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cookie, "SERVERID=") {
		t.Errorf("the browser holds no SERVERID cookie: %q", cookie)
	}
	if n := bs[0].hits.Load() + bs[1].hits.Load(); n < 4 {
		t.Errorf("the backends saw %d requests for 4 loads", n)
	}
}

// TestTLSUpstreamVerify: proxy_pass https:// through a real limpet to a
// backend with a test certificate for backend.test. With proxy_ssl_verify
// on and the right proxy_ssl_name the request gets through and the
// backend sees that name by SNI; with a wrong name the verification fails
// and limpet answers 502; with proxy_ssl_verify off the wrong name is
// accepted.
func TestTLSUpstreamVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Upstream Root")
	leaf := ca.Issue(t, "backend.test", tlstest.Opts{ECDSA: true, DNS: []string{"backend.test"}})
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, ca.PEM())
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, "backend sni=%s path=%s", r.TLS.ServerName, r.URL.Path)
	}))
	app.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	app.StartTLS()
	t.Cleanup(app.Close)

	addr := freePort(t)
	runLimpetConf(t, fmt.Sprintf(`
upstream secure { server %[1]s; }
server {
    listen %[2]s;
    access_log off;
    proxy_ssl_trusted_certificate %[3]s;
    proxy_ssl_server_name on;
    location /right/ {
        proxy_pass https://secure;
        proxy_ssl_verify on;
        proxy_ssl_name backend.test;
    }
    location /wrong/ {
        proxy_pass https://secure;
        proxy_ssl_verify on;
        proxy_ssl_name other.test;
    }
    location /unverified/ {
        proxy_pass https://%[1]s;
        proxy_ssl_verify off;
        proxy_ssl_name other.test;
    }
}
`, app.Listener.Addr(), addr, caFile), addr)

	c := &http.Client{Timeout: 10 * time.Second}
	tests := []struct {
		path     string
		code     int
		body     string // the body's prefix, for 200
		backends int64  // the backend's count after the request
	}{
		{"/right/x", 200, "backend sni=backend.test path=/right/x", 1},
		{"/wrong/x", 502, "", 1},
		{"/unverified/x", 200, "backend sni=other.test path=/unverified/x", 2},
	}
	for _, tt := range tests {
		code, body, err := get(c, "http://"+addr+tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		if code != tt.code || (tt.code == 200 && body != tt.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
		}
		if n := hits.Load(); n != tt.backends {
			t.Errorf("after GET %s the backend answered %d requests, want %d", tt.path, n, tt.backends)
		}
	}
}
