package runtime

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/tlstest"
	"golang.org/x/net/http2"
)

// TestHTTP2OverTLS: a TLS listener with `http2 on` offers h2 and
// http/1.1 by ALPN; an HTTP/2 client keeps its sticky server exactly as an
// HTTP/1.1 client does, over one connection, and the request's TLS
// variables say which protocol was chosen. Without `http2 on` only
// http/1.1 is offered.
func TestHTTP2OverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "a")
	app1, app2 := newBackend(t, "app1"), newBackend(t, "app2")
	l := startLimpet(t, `
upstream backend {
    server {{app1}};
    server {{app2}};
    sticky cookie SERVERID path=/;
}
server {
    listen 127.0.0.1:0 ssl;
    http2 on;
    ssl_certificate {{c}};
    ssl_certificate_key {{k}};
    access_log off;
    sticky_debug_header on;
    location / {
        proxy_pass http://backend;
        proxy_set_header X-ALPN $ssl_alpn_protocol;
        proxy_set_header X-Proto $server_protocol;
    }
}`, "{{c}}", c, "{{k}}", k, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	h1only := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl;
    ssl_certificate {{c}};
    ssl_certificate_key {{k}};
    access_log off;
    return 200 "$server_protocol";
}`, "{{c}}", c, "{{k}}", k)

	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}
	h1Cfg := tlsCfg.Clone()
	h1Cfg.NextProtos = []string{"http/1.1"}
	addr := strings.TrimPrefix(l.url, "http://")
	for _, tt := range []struct {
		name, want string
		rt         http.RoundTripper
	}{
		{"h2", "HTTP/2.0", &http2.Transport{TLSClientConfig: tlsCfg}},
		{"http/1.1", "HTTP/1.1", &http.Transport{TLSClientConfig: h1Cfg}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			jar, _ := cookiejar.New(nil)
			cl := &http.Client{Transport: tt.rt, Jar: jar, Timeout: 30 * time.Second}
			var first string
			for i := range 6 {
				resp, err := cl.Get("https://" + addr + "/x")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Proto != tt.want {
					t.Fatalf("request %d: %d over %s, want 200 over %s", i, resp.StatusCode, resp.Proto, tt.want)
				}
				reason := resp.Header.Get("X-Limpet-Sticky")
				switch {
				case i == 0:
					first = string(body)
					if reason != "new/no_cookie" {
						t.Errorf("first request: %q, want new/no_cookie", reason)
					}
				case string(body) != first || reason != "hit":
					t.Errorf("request %d: served by %s (%s), want %s (hit)", i, body, reason, first)
				}
			}
			be := app1
			if first == "app2" {
				be = app2
			}
			r, _ := be.lastRequest()
			wantALPN := "h2"
			if tt.want == "HTTP/1.1" {
				wantALPN = "http/1.1"
			}
			if got := r.Header.Get("X-ALPN"); got != wantALPN {
				t.Errorf("$ssl_alpn_protocol %q, want %q", got, wantALPN)
			}
			if got := r.Header.Get("X-Proto"); got != tt.want {
				t.Errorf("$server_protocol %q, want %q", got, tt.want)
			}
		})
	}

	st, err := handshake(t, strings.TrimPrefix(h1only.url, "http://"), &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.NegotiatedProtocol == "h2" {
		t.Errorf("a listener without http2 negotiated h2")
	}
}

// TestTLSRedirectsSayHTTPS: the redirects limpet makes itself on a TLS
// listener (a directory of static files, return with a path) name https
// and leave out the default port's number, over HTTP/2 and HTTP/1.1.
func TestTLSRedirectsSayHTTPS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "a")
	www := t.TempDir()
	writeTree(t, www, map[string]string{"docs/index.html": "docs"})
	l := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl;
    http2 on;
    ssl_certificate {{c}};
    ssl_certificate_key {{k}};
    access_log off;
    root {{www}};
    location = /go { return 302 /there; }
}`, "{{c}}", c, "{{k}}", k, "{{www}}", www)
	addr := strings.TrimPrefix(l.url, "http://")
	port := addr[strings.LastIndexByte(addr, ':'):]
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}
	for _, rt := range []http.RoundTripper{&http2.Transport{TLSClientConfig: tlsCfg}, &http.Transport{TLSClientConfig: tlsCfg}} {
		cl := &http.Client{Transport: rt, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for path, want := range map[string]string{"/docs": "https://a.test" + port + "/docs/", "/go": "https://a.test" + port + "/there"} {
			req, _ := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
			req.Host = "a.test"
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Location"); got != want {
				t.Errorf("%s over %s: Location %q, want %q", path, resp.Proto, got, want)
			}
		}
	}
}
