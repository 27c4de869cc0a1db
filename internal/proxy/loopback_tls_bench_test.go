package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/benchcpu"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/uptls"
)

// BenchmarkLoopbackTLSUpstream is BenchmarkLoopback with the backend
// spoken to over TLS (proxy_pass https://, verification off as nginx's
// default): what TLS to upstreams costs per request on pooled keep-alive
// connections.
func BenchmarkLoopbackTLSUpstream(b *testing.B) {
	backend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "11")
		_, _ = io.WriteString(w, "hello world")
	}))
	b.Cleanup(backend.Close)
	addr := backend.Listener.Addr().String()
	cfg, err := config.LoadBytes("/bench/limpet.conf", []byte(`
upstream backend { server `+addr+`; }
server { listen 127.0.0.1:8080; server_name lb; access_log off;
    location / { proxy_pass https://backend; } }`), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	servers := []*upstream.Server{{ID: upstream.IDFor(addr, ""), Name: addr, Addr: addr, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}}
	up := live.New("backend", live.Policy{}, servers)
	var tr Transport
	h, err := NewHandler(cfg.Servers, -1, &Env{
		Upstream: func(*config.ProxyPass) *live.Upstream { return up },
		TLSTransport: func(_ *live.Upstream, t Timeouts, c *uptls.Client, name string) http.RoundTripper {
			tr = NewTLSTransport(t, 0, c, name)
			return tr
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tr.CloseIdleConnections)
	front := httptest.NewServer(h)
	b.Cleanup(front.Close)
	client := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	b.Cleanup(client.CloseIdleConnections)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/cart?id=1", nil)
			if err != nil {
				b.Error(err)
				return
			}
			req.Host = "lb"
			res, err := client.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}
