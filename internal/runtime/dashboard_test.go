package runtime

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/limpet-lb/limpet/internal/browsertest"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// dashboardConf serves an upstream of two servers, the runtime API with
// writes, and the dashboard, as an operator would configure them.
const dashboardConf = `
upstream backend { server {{app1}}; server {{app2}}; sticky cookie SERVERID; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://backend; }
    location /api/ { api write=on; }
    location /dashboard/ { dashboard; }
}`

// The dashboard, in a real headless Chromium, against limpet's real API:
// it loads, shows both servers of the upstream, and a click on Drain
// drains the server in limpet.
func TestDashboardDrainsThroughTheAPI(t *testing.T) {
	bctx := browsertest.Start(t)
	app1, _ := healthyBackend(t, "app-01")
	app2, _ := healthyBackend(t, "app-02")
	lb := startLimpet(t, dashboardConf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())

	rows := `document.querySelectorAll('section[data-upstream="backend"] tr.server')`
	first := `document.querySelector('section[data-upstream="backend"] tr.server[data-server-id="0"]')`
	if err := chromedp.Do(bctx,
		chromedp.Navigate(lb.url+"/dashboard/"),
		chromedp.Poll[chromedp.Void](rows+`.length === 2`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("the dashboard did not show both servers: %v", err)
	}
	states, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...`+rows+`].map(r => r.querySelector('.state').textContent)`))
	if err != nil || len(states) != 2 || states[0] != "up" || states[1] != "up" {
		t.Fatalf("states shown %q (%v), want both up", states, err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`section[data-upstream="backend"] tr.server[data-server-id="0"] button.drain`)),
		chromedp.Poll[chromedp.Void](first+`.querySelector('.state').textContent === 'draining'`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("clicking Drain: %v", err)
	}
	s := lb.rt.Upstream("backend").Pool().ByAPIID(0)
	if s.State(time.Now()) != upstream.StateDraining {
		t.Errorf("after the click the server is %q in limpet, want draining", s.State(time.Now()))
	}
}
