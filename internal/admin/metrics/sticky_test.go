package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/proxy"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// stubTransport answers every attempt at once with 200, as the server
// the request was sent to, so the proxy's decisions can be driven without
// a network.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader(r.URL.Host)),
		Request:    r,
	}, nil
}

const stickyConf = `
upstream app {
    server 10.0.0.1:80;
    server 10.0.0.2:80;
    sticky cookie srv;
}
server {
    listen 127.0.0.1:0;
    location / { proxy_pass http://app; }
}
`

// TestStickyDecisionsComeFromTheUpstreamsCounters drives persistence
// decisions through the proxy's handler in process (the decisions are
// counted by live.Upstream, which only the proxy writes) and checks that
// the scrape shows exactly those counts, and that the handler reports
// every request to the Observer.
func TestStickyDecisionsComeFromTheUpstreamsCounters(t *testing.T) {
	cfg, err := config.LoadBytes("/etc/limpet.conf", []byte(stickyConf), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cu := cfg.Upstreams[0]
	a, b := newServer(cu.Servers[0].Addr), newServer(cu.Servers[1].Addr)
	up := live.New(cu.Name, live.Policy{Sticky: sticky.NewCookie(cu.Sticky.Cookie)}, []*upstream.Server{a, b})
	m := New(newFakeUpstreams(up), clock)
	h, err := proxy.NewHandler(cfg.Servers, -1, &proxy.Env{
		Upstream:  func(*config.ProxyPass) *live.Upstream { return up },
		Transport: func(*live.Upstream, proxy.Timeouts) http.RoundTripper { return stubTransport{} },
		AccessLog: func(config.AccessLog) (*accesslog.Logger, error) { return nil, nil },
		Observer:  m,
		Now:       clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.CloseUpgrades(context.Background()) })

	get := func(cookie string) {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "srv", Value: cookie})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("cookie %q: status %d", cookie, w.Code)
		}
	}
	for range 3 {
		get("") // new/no_cookie
	}
	get(a.ID)                               // hit
	get(a.ID)                               // hit
	get("0123456789abcdef0123456789abcdef") // new/invalid_cookie
	b.SetDraining(true)
	get(b.ID) // hit/draining
	b.SetDraining(false)
	a.SetDown(true)
	get(a.ID) // reassigned/server_down, to b

	f := scrape(t, m)
	want := map[string]float64{
		"hit": 2, "hit/draining": 1, "new/no_cookie": 3, "new/invalid_cookie": 1,
		"reassigned/server_down": 1,
	}
	for _, label := range sticky.Labels {
		outcome, reason, _ := strings.Cut(label, "/")
		if got := value(t, f, "limpet_sticky_decisions_total", "upstream=app,outcome="+outcome+",reason="+reason); got != want[label] {
			t.Errorf("decisions %q: got %v, want %v", label, got, want[label])
		}
	}
	var observed float64
	for _, mt := range f["limpet_upstream_requests_total"].GetMetric() {
		observed += mt.GetCounter().GetValue()
	}
	if observed != 8 {
		t.Errorf("requests observed through the handler: got %v, want 8", observed)
	}
}
