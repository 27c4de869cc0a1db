package proxy

import (
	"context"
	"net/http"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// BenchmarkAuthRequest runs a request through auth_request (a proxied
// subrequest that answers 200) to a canned upstream, with and without an
// auth_request_set, beside the same request without auth_request: the
// cost of the subrequest on limpet's side.
func BenchmarkAuthRequest(b *testing.B) {
	for _, bc := range []struct{ name, auth string }{
		{"off", ""},
		{"on", "auth_request /_auth;"},
		{"set", "auth_request /_auth; auth_request_set $user $upstream_http_content_type; proxy_set_header X-User $user;"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg, err := config.LoadBytes("/bench/limpet.conf", []byte(`
upstream backend { server 127.0.0.1:9001; }
server { listen 127.0.0.1:8080; server_name lb; access_log off;
    location / { `+bc.auth+` proxy_pass http://backend; }
    location = /_auth { internal; proxy_pass_request_body off; proxy_pass http://backend; } }`),
				config.Options{LookupHost: func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }})
			if err != nil {
				b.Fatal(err)
			}
			g, err := CompileVariables(cfg)
			if err != nil {
				b.Fatal(err)
			}
			cs := cfg.Upstreams[0].Servers[0]
			up := live.New("backend", live.Policy{}, []*upstream.Server{{ID: upstream.IDFor(cs.Addr, ""), Name: cs.Name, Addr: cs.Addr, Weight: 1, MaxFails: 1, FailTimeout: cs.FailTimeout}})
			h, err := NewHandler(cfg.Servers, -1, &Env{
				Upstream:  func(*config.ProxyPass) *live.Upstream { return up },
				Transport: func(*live.Upstream, Timeouts) http.RoundTripper { return cannedTransport{} },
				Vars:      g,
			})
			if err != nil {
				b.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://lb/cart?id=1", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.RequestURI = "/cart?id=1"
			req.Header.Set("Cookie", "session=1")
			req.Header.Set("User-Agent", "wrk")
			w := &benchWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}
