package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/benchcpu"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// BenchmarkLoopback sends requests through a real net/http server running
// the handler, limpet's upstream transport with nginx's default timeouts
// and a backend, all on loopback: unlike BenchmarkStickyHitPath, every
// deadline the request path sets lands on a real socket. cpu-ns/op is the
// CPU time of the whole process (client, limpet and backend) per request.
func BenchmarkLoopback(b *testing.B) { benchmarkLoopback(b, "") }

// BenchmarkLoopbackPost is the same with a small request body, which
// client_body_timeout bounds.
func BenchmarkLoopbackPost(b *testing.B) {
	benchmarkLoopback(b, `{"user":"someone","items":[1,2,3],"note":"a small JSON body"}`)
}

func benchmarkLoopback(b *testing.B, payload string) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "11")
		_, _ = io.WriteString(w, "hello world")
	}))
	b.Cleanup(backend.Close)
	addr := backend.Listener.Addr().String()

	cfg, err := config.LoadBytes("/bench/limpet.conf", []byte(`
upstream backend { server `+addr+`; }
server { listen 127.0.0.1:8080; server_name lb; access_log off;
    location / { proxy_pass http://backend; } }`), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	servers := []*upstream.Server{{ID: upstream.IDFor(addr, ""), Name: addr, Addr: addr, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}}
	up := live.New("backend", live.Policy{}, servers)
	tr := NewTransport(Timeouts{Connect: 60 * time.Second, Read: 60 * time.Second, Send: 60 * time.Second}, 0)
	b.Cleanup(tr.CloseIdleConnections)
	h, err := NewHandler(cfg.Servers, -1, &Env{
		Upstream:  func(*config.ProxyPass) *live.Upstream { return up },
		Transport: func(*live.Upstream, Timeouts) http.RoundTripper { return tr },
	})
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(h)
	b.Cleanup(front.Close)

	client := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	b.Cleanup(client.CloseIdleConnections)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	b.RunParallel(func(pb *testing.PB) {
		r := strings.NewReader(payload)
		for pb.Next() {
			var body io.Reader
			method := http.MethodGet
			if payload != "" {
				r.Reset(payload)
				body, method = r, http.MethodPost
			}
			req, err := http.NewRequestWithContext(ctx, method, front.URL+"/cart?id=1", body)
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
