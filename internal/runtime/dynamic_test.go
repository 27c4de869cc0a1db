package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/proxy"
	"github.com/limpet-lb/limpet/internal/tlstest"
)

// TestProxyPassVariables: the container pattern. The host of a
// proxy_pass with variables is an upstream block when one has that name
// (and no port is written), an IP address as it is, or a name the
// location's resolver resolves (inherited from http); with no resolver
// the request fails with nginx's 502 and words. A URI part replaces the
// whole request URI; without one the client's is sent as it came.
func TestProxyPassVariables(t *testing.T) {
	blockApp := newBackend(t, "block")
	named := newBackend(t, "named")
	dns := startDNSServer(t)
	_, namedPort, _ := net.SplitHostPort(named.addr())
	dns.SetA("app.test", 60, "127.0.0.1")
	lb := startLimpet(t, `
resolver {{dns}} valid=30s;
upstream app { server {{block}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://$http_x_app; }
    location /v2/ { proxy_pass http://$http_x_app/fixed/path?q=1; }
    location /nodns/ {
        resolver_timeout 5s;
        proxy_pass http://$http_x_app;
    }
    # The container pattern: the target set in the configuration.
    location /set/ {
        set $app app.test:{{port}};
        proxy_pass http://$app;
    }
    # And chosen by a map, naming an upstream block or a resolved host.
    location /map/ { proxy_pass http://$pool; }
}
map $arg_pool $pool {
    default app;
    named   app.test:{{port}};
}`, "{{dns}}", dns.Addr, "{{block}}", blockApp.addr(), "{{port}}", namedPort)
	bare := startLimpet(t, `
upstream app { server {{block}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://$http_x_app; }
}`, "{{block}}", blockApp.addr())
	noResolver := bare.url
	tests := []struct {
		name, url, app string
		status         int
		backend        *backend
		uri            string
	}{
		{name: "upstream block", url: lb.url + "/a?b=c", app: "app", status: 200, backend: blockApp, uri: "/a?b=c"},
		{name: "upstream name in another case", url: lb.url + "/a", app: "APP", status: 200, backend: blockApp, uri: "/a"},
		{name: "IP address", url: lb.url + "/ip/%2F?x", app: named.addr(), status: 200, backend: named, uri: "/ip/%2F?x"},
		{name: "resolved name", url: lb.url + "/r", app: "app.test:" + namedPort, status: 200, backend: named, uri: "/r"},
		{name: "URI part replaces the URI", url: lb.url + "/v2/anything?z=9", app: "app.test:" + namedPort, status: 200, backend: named, uri: "/fixed/path?q=1"},
		{name: "unknown name", url: lb.url + "/u", app: "nope.test:" + namedPort, status: 502},
		{name: "no resolver", url: noResolver + "/n", app: "app.test:" + namedPort, status: 502},
		{name: "no resolver, IP address", url: noResolver + "/n", app: named.addr(), status: 200, backend: named, uri: "/n"},
		{name: "no resolver, upstream block", url: noResolver + "/n", app: "app", status: 200, backend: blockApp, uri: "/n"},
		{name: "set names a resolved host", url: lb.url + "/set/x", status: 200, backend: named, uri: "/set/x"},
		{name: "map names an upstream block", url: lb.url + "/map/x", status: 200, backend: blockApp, uri: "/map/x"},
		{name: "map names a resolved host", url: lb.url + "/map/y?pool=named", status: 200, backend: named, uri: "/map/y?pool=named"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, newClient(t), tt.url, "X-App", tt.app)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d body %q, want %d\n%s", res.StatusCode, body, tt.status, lb.errLog.String())
			}
			if tt.backend == nil {
				return
			}
			if body != tt.backend.name {
				t.Fatalf("served by %q, want %q", body, tt.backend.name)
			}
			last, _ := tt.backend.lastRequest()
			if last.RequestURI != tt.uri {
				t.Errorf("the backend got %q, want %q", last.RequestURI, tt.uri)
			}
			want := strings.ToLower(tt.app)
			if want == "" { // the target came from set or map
				want = "app.test:" + namedPort
			}
			if tt.backend == named && last.Host != want {
				t.Errorf("Host %q, want %q ($proxy_host)", last.Host, want)
			}
		})
	}
	log := lb.errLog.String() + bare.errLog.String()
	for _, want := range []string{"no resolver defined to resolve app.test", "nope.test could not be resolved (3: Host not found)"} {
		if !strings.Contains(log, want) {
			t.Errorf("error log lacks %q:\n%s", want, log)
		}
	}
}

// TestProxyPassVariablesCache: a resolved name is asked again only when
// its answer expires, not per request.
func TestProxyPassVariablesCache(t *testing.T) {
	app := newBackend(t, "app")
	dns := startDNSServer(t)
	_, port, _ := net.SplitHostPort(app.addr())
	dns.SetA("app.test", 3600, "127.0.0.1")
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    resolver {{dns}};
    location / { proxy_pass http://app.test:$arg_port; }
}`, "{{dns}}", dns.Addr)
	c := newClient(t)
	for i := range 5 {
		if res, body := get(t, c, lb.url+"/?port="+port); res.StatusCode != 200 || body != "app" {
			t.Fatalf("request %d: status %d body %q\n%s", i, res.StatusCode, body, lb.errLog.String())
		}
	}
	// One lookup may ask for A and AAAA records.
	if udp, tcp := dns.Queries(); udp+tcp > 2 {
		t.Errorf("%d queries for 5 requests, want one lookup", udp+tcp)
	}
}

// TestProxyPassVariablesHTTPS: https with variables: the name verified is
// each target's $proxy_host unless proxy_ssl_name says otherwise.
func TestProxyPassVariablesHTTPS(t *testing.T) {
	f := newTLSFixture(t)
	app := newTLSBackend(t, f, "app", []string{"127.0.0.1"}, nil)
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate {{ca}};
    location / { proxy_pass https://$arg_to; }
    location /named/ {
        proxy_ssl_name app.internal;
        proxy_pass https://$arg_to;
    }
}`, "{{ca}}", f.caFile)
	if res, body := get(t, newClient(t), lb.url+"/?to="+app.addr()); res.StatusCode != 200 || body != "app" {
		t.Fatalf("status %d body %q\n%s", res.StatusCode, body, lb.errLog.String())
	}
	if res, _ := get(t, newClient(t), lb.url+"/named/?to="+app.addr()); res.StatusCode != 502 {
		t.Fatalf("a certificate for 127.0.0.1 taken for app.internal: status %d", res.StatusCode)
	}
}

// TestProxyPassVariableScheme: with the scheme from a variable too, the
// whole URL is read per request, as nginx reads it: http and https
// alike, and a URL that is neither fails with nginx's 500.
func TestProxyPassVariableScheme(t *testing.T) {
	f := newTLSFixture(t)
	secure := newTLSBackend(t, f, "secure", []string{"app.internal"}, nil)
	plain := newBackend(t, "plain")
	lb := startLimpet(t, `
upstream app { server {{plain}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass $http_x_scheme://$http_x_app; }
}`, "{{plain}}", plain.addr())
	tests := []struct{ scheme, app, want string }{
		{"https", secure.addr(), "secure"},
		{"http", plain.addr(), "plain"},
		{"HTTP", "app", "plain"},
	}
	for _, tt := range tests {
		if res, body := get(t, newClient(t), lb.url+"/", "X-Scheme", tt.scheme, "X-App", tt.app); res.StatusCode != 200 || body != tt.want {
			t.Errorf("%s://%s: status %d body %q, want %s\n%s", tt.scheme, tt.app, res.StatusCode, body, tt.want, lb.errLog.String())
		}
	}
	if res, _ := get(t, newClient(t), lb.url+"/", "X-Scheme", "ftp", "X-App", "app"); res.StatusCode != 500 {
		t.Errorf("ftp: status %d, want 500", res.StatusCode)
	}
	if want := `invalid URL prefix in \"ftp://app\"`; !strings.Contains(lb.errLog.String(), want) {
		t.Errorf("error log lacks %s:\n%s", want, lb.errLog.String())
	}
}

// TestProxyPassVariablesErrors: an unknown variable is nginx's error at
// the proxy_pass line.
func TestProxyPassVariablesErrors(t *testing.T) {
	conf := "server {\n    listen 127.0.0.1:0;\n    location / {\n        proxy_pass http://$nope;\n    }\n}\n"
	path := filepath.Join(t.TempDir(), "limpet.conf")
	tlstest.WriteFile(t, path, []byte(conf))
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler)})
	if want := `unknown "nope" variable in ` + path + ":4"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}

// closeCounter is a transport that counts how often its idle
// connections were closed.
type closeCounter struct {
	http.RoundTripper
	closed atomic.Int32
}

func (c *closeCounter) CloseIdleConnections() { c.closed.Add(1) }

// TestDynamicTargetsBounded: the upstreams made on the fly are at most
// maxDynamicTargets, the least recently used dropped first, and those
// unused for dynamicIdle are dropped when another is made; a dropped
// one's idle connections are closed.
func TestDynamicTargetsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	made := map[string]*closeCounter{}
	ts := &targets{
		named: map[[2]string]namedTarget{},
		now:   func() time.Time { return now },
		newTrans: func(scheme, host string) proxy.Transport {
			c := &closeCounter{}
			made[fmt.Sprint(len(made))] = c
			return c
		},
	}
	target := func(port int) *live.Upstream {
		t.Helper()
		u, _, made, err := ts.Target(context.Background(), "http", "127.0.0.1", fmt.Sprint(port))
		if err != nil || !made {
			t.Fatal(made, err)
		}
		return u
	}
	first := target(1)
	for p := 2; p <= maxDynamicTargets; p++ {
		now = now.Add(time.Second)
		target(p)
	}
	now = now.Add(time.Second)
	if target(1) != first {
		t.Fatal("a cached target was made again")
	}
	now = now.Add(time.Second)
	target(maxDynamicTargets + 1) // port 2 is now the least recently used
	if ts.n != maxDynamicTargets {
		t.Fatalf("%d targets, want %d", ts.n, maxDynamicTargets)
	}
	if _, ok := ts.cache.Load("http://127.0.0.1:2"); ok {
		t.Error("the least recently used target was kept")
	}
	if made["1"].closed.Load() != 1 {
		t.Error("the dropped target's idle connections were not closed")
	}
	now = now.Add(dynamicIdle + time.Second)
	target(maxDynamicTargets + 2)
	if ts.n != 1 {
		t.Errorf("%d targets after %v unused, want 1", ts.n, dynamicIdle)
	}
}

// TestProxyPassVariablesMetrics: requests to an upstream block found by
// a variable are in the metrics under its name; those to upstreams made
// on the fly are not, since a client chooses their names.
func TestProxyPassVariablesMetrics(t *testing.T) {
	block := newBackend(t, "block")
	other := newBackend(t, "other")
	lb := startLimpet(t, `
upstream app { server {{block}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://$http_x_app; }
    location = /metrics { metrics; }
}`, "{{block}}", block.addr())
	c := newClient(t)
	for _, app := range []string{"app", other.addr()} {
		if res, _ := get(t, c, lb.url+"/", "X-App", app); res.StatusCode != 200 {
			t.Fatalf("%s: status %d", app, res.StatusCode)
		}
	}
	_, body := get(t, c, lb.url+"/metrics")
	if !strings.Contains(body, `limpet_upstream_requests_total{code_class="2xx",server="`+block.addr()+`",upstream="app"}`) {
		t.Errorf("no series for the upstream block:\n%s", body)
	}
	if strings.Contains(body, other.addr()) {
		t.Errorf("a series for an upstream made on the fly:\n%s", body)
	}
}
