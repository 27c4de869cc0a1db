package proxy

import (
	"context"
	"net/http"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// BenchmarkRewritePath is a proxied request through the rewrite phase
// real configurations have: the $connection_upgrade map in a header, a
// set and an if, and a rewrite ... break that changes the URI. Against
// BenchmarkStickyHitPath it shows what the rewrite phase costs; a
// configuration without these directives does not pay it.
func BenchmarkRewritePath(b *testing.B) {
	cfg, err := config.LoadBytes("/bench/limpet.conf", []byte(`
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
upstream backend { server 127.0.0.1:9001; }
server { listen 127.0.0.1:8080; server_name lb; access_log off;
    location / {
        set $blocked "";
        if ($http_user_agent ~* ^badbot) { set $blocked 1; }
        if ($blocked) { return 403; }
        rewrite ^/cart$ /basket break;
        proxy_pass http://backend;
        proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr; } }`),
		config.Options{LookupHost: func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := CompileVariables(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cs := cfg.Upstreams[0].Servers[0]
	up := live.New("backend", live.Policy{}, []*upstream.Server{{ID: upstream.IDFor(cs.Addr, ""), Name: cs.Name, Addr: cs.Addr, Weight: 1, MaxFails: 1, FailTimeout: cs.FailTimeout}})
	var sent string
	h, err := NewHandler(cfg.Servers, -1, &Env{
		Upstream: func(*config.ProxyPass) *live.Upstream { return up },
		Transport: func(*live.Upstream, Timeouts) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent = r.URL.Path
				return cannedTransport{}.RoundTrip(r)
			})
		},
		Vars: reg,
	})
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://lb/cart?id=1", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.RequestURI = "/cart?id=1"
	req.Header.Set("User-Agent", "wrk")
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 || sent != "/basket" {
			b.Fatalf("status %d, path %q", w.code, sent)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
