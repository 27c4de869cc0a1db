package proxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/limit"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// cannedTransport answers every request with the same small response, so
// a benchmark measures limpet's own request path and nothing of a network
// or a backend.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    200,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"2"}},
		ContentLength: 2,
		Body:          io.NopCloser(strings.NewReader("ok")),
		Request:       r,
	}, nil
}

// RoundTripForward is how the proxy calls h1's transport, which takes the
// context and the header apart from the request: the benchmark sends
// requests as production does.
func (t cannedTransport) RoundTripForward(_ context.Context, r *http.Request, _ *h1.Forward) (*http.Response, error) {
	return t.RoundTrip(r)
}

// benchWriter is a ResponseWriter that keeps nothing between requests.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

// The methods http.ResponseController finds on net/http's own writer.
func (w *benchWriter) Flush()                           {}
func (w *benchWriter) SetWriteDeadline(time.Time) error { return nil }
func (w *benchWriter) SetReadDeadline(time.Time) error  { return nil }

// BenchmarkStickyHitPath runs a returning user's request (valid SERVERID
// cookie, the design notes' proxy_set_header lines, metrics off, access
// log off) through the handler to a canned upstream: limpet's own cost
// per request on the cookie-hit path.
func BenchmarkStickyHitPath(b *testing.B) { benchmarkStickyHit(b, "off", "", nil) }

// BenchmarkStickyNewClient is BenchmarkStickyHitPath for a new user,
// without the cookie: the balancer chooses, and the response sets it.
func BenchmarkStickyNewClient(b *testing.B) { benchmarkSticky(b, "off", "", nil, false) }

// BenchmarkStickyHitPathLogged is the same with the access log on, to a
// writer that discards: the cost of logging itself.
func BenchmarkStickyHitPathLogged(b *testing.B) { benchmarkStickyHit(b, "/dev/null", "", nil) }

// BenchmarkStickyHitPathCombined logs in nginx's combined format instead
// of limpet's JSON line.
func BenchmarkStickyHitPathCombined(b *testing.B) {
	benchmarkStickyHit(b, "/dev/null combined", "", nil)
}

// BenchmarkStickyHitPathUpstreamFormat logs a format of the upstream
// variables, which are formatted per request.
func BenchmarkStickyHitPathUpstreamFormat(b *testing.B) {
	benchmarkStickyHit(b, "/dev/null up", "log_format up '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent $request_time $upstream_addr $upstream_status $upstream_response_time $sticky_reason';\n", nil)
}

// benchmarkStickyHit runs the sticky-hit path with the access log to
// accessLog; extra is written at http level (limit zones), and limits
// compiles the limit directives (nil: none).
func benchmarkStickyHit(b *testing.B, accessLog, extra string, limits func(config.Limits) (*limit.Requests, *limit.Conns, error)) {
	benchmarkSticky(b, accessLog, extra, limits, true)
}

// benchmarkSticky is benchmarkStickyHit for a returning user (cookie) or
// a new one.
func benchmarkSticky(b *testing.B, accessLog, extra string, limits func(config.Limits) (*limit.Requests, *limit.Conns, error), cookie bool) {
	cfg, err := config.LoadBytes("/bench/limpet.conf", []byte(extra+`
upstream backend { server 127.0.0.1:9001; server 127.0.0.1:9002; sticky cookie SERVERID expires=1h path=/; }
server { listen 127.0.0.1:8080; server_name lb; access_log `+accessLog+`;
    location / { proxy_pass http://backend;
        proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; } }`),
		config.Options{LookupHost: func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	cu := cfg.Upstreams[0]
	var servers []*upstream.Server
	for _, cs := range cu.Servers {
		servers = append(servers, &upstream.Server{ID: upstream.IDFor(cs.Addr, ""), Name: cs.Name, Addr: cs.Addr, Weight: 1, MaxFails: 1, FailTimeout: cs.FailTimeout})
	}
	up := live.New("backend", live.Policy{Sticky: sticky.NewCookie(cu.Sticky.Cookie)}, servers)
	logger := accesslog.New(io.Discard)
	b.Cleanup(func() { _ = logger.Close() })
	h, err := NewHandler(cfg.Servers, -1, &Env{
		Upstream:  func(*config.ProxyPass) *live.Upstream { return up },
		Transport: func(*live.Upstream, Timeouts) http.RoundTripper { return cannedTransport{} },
		AccessLog: func(config.AccessLog) (*accesslog.Logger, error) { return logger, nil },
		Limits:    limits,
	})
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://lb/cart?id=1", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.RequestURI = "/cart?id=1"
	req.Header.Set("Cookie", "_ga=1")
	if cookie {
		req.Header.Set("Cookie", "_ga=1; SERVERID="+servers[0].ID)
	}
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
}
