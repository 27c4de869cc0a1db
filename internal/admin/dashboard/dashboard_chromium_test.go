package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/limpet-lb/limpet/internal/browsertest"
)

// chromium starts the test's headless Chromium (see browsertest.Start).
func chromium(t *testing.T) context.Context { return browsertest.Start(t) }

// tab opens a new tab of the browser for a subtest, and fails the test if
// the page throws an uncaught exception or breaks its security policy.
func tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	var (
		mu       sync.Mutex // guards problems
		problems []string
		done     = make(chan struct{})
	)
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, p := range problems {
			t.Errorf("page console: %s", p)
		}
	})
	return ctx
}

// run runs browser actions and fails the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is true in the page.
func waitFor(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// fakeAPI is a small stand-in for the runtime API: one upstream,
// "backend", with two servers, whose counters grow at every read and whose
// draining PATCHes are recorded.
type fakeAPI struct {
	readOnly bool // answer PATCH with 405, as `api write=off` does

	mu       sync.Mutex // guards what follows
	removed  bool       // server 0 was removed
	draining [2]bool
	reads    int
	patches  []string // "PATH BODY"
	// sent are the header fields of the PATCHes that the API's write
	// checks read, "Content-Type|Origin|Sec-Fetch-Site".
	sent []string
}

func (a *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /9/http/upstreams", a.upstreams)
	mux.HandleFunc("PATCH /9/http/upstreams/{name}/servers/{id}", a.patch)
	return mux
}

func (a *fakeAPI) upstreams(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reads++
	peers := make([]map[string]any, 0, 2)
	for i := range 2 {
		if i == 0 && a.removed {
			continue
		}
		state := "up"
		if a.draining[i] {
			state = "draining"
		}
		requests := 1000*(i+1) + a.reads*(7-3*i)
		// Like the real API, every server has its pinned users' figures.
		lp := map[string]any{"id": fmt.Sprintf("%032x", i+1), "draining_pinned": map[string]any{
			"requests": 40, "requests_per_second": 2.5,
			"last_seen": time.Now().Add(-3 * time.Second).UTC().Format(time.RFC3339),
		}}
		peers = append(peers, map[string]any{
			"id":            i,
			"server":        fmt.Sprintf("10.0.0.%d:8080", i+1),
			"name":          fmt.Sprintf("app%d.internal:8080", i+1),
			"backup":        false,
			"weight":        1,
			"state":         state,
			"active":        2 - i,
			"requests":      requests,
			"responses":     map[string]int{"1xx": 0, "2xx": requests - 3, "3xx": 0, "4xx": 1, "5xx": 2*i + 1, "total": requests},
			"fails":         i,
			"unavail":       0,
			"health_checks": map[string]any{"checks": 120, "fails": i, "unhealthy": 0, "last_passed": true},
			"downtime":      0,
			"selected":      time.Now().UTC().Format(time.RFC3339),
			"limpet":        lp,
		})
	}
	body := map[string]any{
		"backend": map[string]any{
			"peers": peers, "keepalive": 0, "zombies": 0, "zone": "backend",
			"limpet": map[string]any{"sticky": map[string]int{
				"hit": 940, "hit/draining": 12, "new/no_cookie": 40, "new/invalid_cookie": 2,
				"reassigned/server_down": 0, "reassigned/server_unavailable": 3, "reassigned/server_unhealthy": 0,
				"reassigned/server_failed": 1, "reassigned/server_removed": 2,
			}},
		},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (a *fakeAPI) patch(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.patches = append(a.patches, r.URL.Path+" "+string(body))
	a.sent = append(a.sent, r.Header.Get("Content-Type")+"|"+r.Header.Get("Origin")+"|"+r.Header.Get("Sec-Fetch-Site"))
	w.Header().Set("Content-Type", "application/json")
	if a.readOnly {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = io.WriteString(w, `{"error":{"status":405,"text":"method disabled","code":"MethodDisabled"}}`)
		return
	}
	var req struct{ Drain *bool }
	id := r.PathValue("id")
	if err := json.Unmarshal(body, &req); err != nil || req.Drain == nil || r.PathValue("name") != "backend" || (id != "0" && id != "1") {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"status":400,"text":"bad request","code":"BadRequest"}}`)
		return
	}
	a.draining[id[0]-'0'] = *req.Drain
	_, _ = io.WriteString(w, `{}`)
}

func (a *fakeAPI) patchesSeen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.patches)
}

func (a *fakeAPI) headersSent() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.sent)
}

// serve serves the dashboard at /dashboard/ and the API at /api, as the
// runtime does with their locations' prefixes stripped.
func serve(t *testing.T, apiBase string, api *fakeAPI) string {
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", New(apiBase)))
	if api != nil {
		mux.Handle("/api/", http.StripPrefix("/api", api.handler()))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/dashboard/"
}

const (
	row1   = `document.querySelector('section[data-upstream="backend"] tr.server[data-server-id="1"]')`
	state1 = row1 + `.querySelector('.state').textContent`
)

func TestDashboardInChromium(t *testing.T) {
	browser := chromium(t)

	t.Run("shows the servers and drains one", func(t *testing.T) {
		api := &fakeAPI{}
		ctx := tab(t, browser)
		page := serve(t, "/api", api)
		run(t, ctx, "load", chromedp.Navigate(page))
		waitFor(t, ctx, `document.querySelectorAll('section[data-upstream="backend"] tr.server').length === 2`)

		states := eval[[]string](t, ctx, `[...document.querySelectorAll('tr.server .state')].map(e => e.textContent)`)
		if !slices.Equal(states, []string{"up", "up"}) {
			t.Errorf("states shown: %q, want both up", states)
		}
		addrs := eval[[]string](t, ctx, `[...document.querySelectorAll('tr.server .server-addr')].map(e => e.textContent)`)
		if !slices.Equal(addrs, []string{"10.0.0.1:8080", "10.0.0.2:8080"}) {
			t.Errorf("servers shown: %q", addrs)
		}
		// 952 hits of 1,000 decisions; req/s appears after two reads.
		if got := eval[string](t, ctx, `document.querySelector('.hit-ratio').textContent`); got != "95.2%" {
			t.Errorf("hit ratio: %q, want 95.2%%", got)
		}
		if got := eval[string](t, ctx, `document.querySelector('li.break[data-reason="new/no_cookie"] .break-count').textContent`); got != "40" {
			t.Errorf("no_cookie count: %q, want 40", got)
		}
		waitFor(t, ctx, row1+`.querySelector('.rps').textContent !== '—'`)
		if got := eval[string](t, ctx, row1+`.querySelector('.errors').textContent`); got != "4" { // 3 5xx + 1 fail
			t.Errorf("errors of server 1: %q, want 4", got)
		}

		run(t, ctx, "click Drain", chromedp.Click(chromedp.CSS(`tr.server[data-server-id="1"] button.drain`)))
		waitFor(t, ctx, state1+` === 'draining'`)
		if got, want := api.patchesSeen(), []string{`/9/http/upstreams/backend/servers/1 {"drain":true}`}; !slices.Equal(got, want) {
			t.Errorf("PATCHes: %q, want %q", got, want)
		}
		// What the API's write checks need: a JSON body, and the page's
		// own origin, even to a browser without Sec-Fetch-Site (the page's
		// no-referrer policy would make it "null").
		if got, want := api.headersSent(), []string{"application/json|" + strings.TrimSuffix(page, "/dashboard/") + "|same-origin"}; !slices.Equal(got, want) {
			t.Errorf("PATCH header fields (Content-Type|Origin|Sec-Fetch-Site): %q, want %q", got, want)
		}
		if got := eval[string](t, ctx, row1+`.querySelector('.pinned').textContent`); !strings.Contains(got, "2.5 req/s") || !strings.Contains(got, "last seen") {
			t.Errorf("pinned users of the draining server: %q", got)
		}
		if got := eval[string](t, ctx, `document.querySelector('tr.server[data-server-id="0"] .state').textContent`); got != "up" {
			t.Errorf("the other server's state: %q, want up", got)
		}
		if got := eval[string](t, ctx, `document.querySelector('tr.server[data-server-id="0"] .pinned').textContent`); got != "—" {
			t.Errorf("pinned users shown for a server that is not draining: %q", got)
		}
		waitFor(t, ctx, row1+`.querySelector('button.undrain') !== null`)

		if os.Getenv("LIMPET_SCREENSHOT") == "1" {
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			if err := os.WriteFile("/tmp/limpet-dashboard.png", png, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		run(t, ctx, "click Undrain", chromedp.Click(chromedp.CSS(`tr.server[data-server-id="1"] button.undrain`)))
		waitFor(t, ctx, state1+` === 'up'`)
		if got := api.patchesSeen(); len(got) != 2 || got[1] != `/9/http/upstreams/backend/servers/1 {"drain":false}` {
			t.Errorf("PATCHes after Undrain: %q", got)
		}

		// A server removed at run time leaves the page.
		api.mu.Lock()
		api.removed = true
		api.mu.Unlock()
		waitFor(t, ctx, `document.querySelectorAll('tr.server').length === 1 && `+row1+` !== null`)
	})

	t.Run("an unreachable API shows in the status", func(t *testing.T) {
		ctx := tab(t, browser)
		run(t, ctx, "load", chromedp.Navigate(serve(t, "/api", nil))) // no API behind /api: 404
		waitFor(t, ctx, `document.getElementById('status').dataset.status === 'error'`)
		if got := eval[string](t, ctx, `document.getElementById('status-text').textContent`); !strings.Contains(got, "404") {
			t.Errorf("status text %q does not say what failed", got)
		}
	})

	t.Run("read-only API disables the buttons", func(t *testing.T) {
		api := &fakeAPI{readOnly: true}
		ctx := tab(t, browser)
		run(t, ctx, "load", chromedp.Navigate(serve(t, "/api/", api))) // a trailing slash works too
		waitFor(t, ctx, row1+` !== null`)
		run(t, ctx, "click Drain", chromedp.Click(chromedp.CSS(`tr.server[data-server-id="1"] button.drain`)))
		waitFor(t, ctx, `[...document.querySelectorAll('tr.server button')].every(b => b.disabled)`)
		if title := eval[string](t, ctx, row1+`.querySelector('button').title`); !strings.Contains(title, "write=on") {
			t.Errorf("disabled button's tooltip %q does not mention write=on", title)
		}
		if hidden := eval[bool](t, ctx, `document.getElementById('readonly-notice').hidden`); hidden {
			t.Errorf("no read-only notice shown")
		}
		if got := eval[string](t, ctx, state1); got != "up" {
			t.Errorf("state after a refused drain: %q, want up", got)
		}
		if got, want := api.patchesSeen(), []string{`/9/http/upstreams/backend/servers/1 {"drain":true}`}; !slices.Equal(got, want) {
			t.Errorf("PATCHes: %q, want %q", got, want)
		}
	})

	t.Run("without an API the page says how to add one", func(t *testing.T) {
		ctx := tab(t, browser)
		run(t, ctx, "load", chromedp.Navigate(serve(t, "", nil)))
		waitFor(t, ctx, `!document.getElementById('no-api').hidden`)
		if got := eval[string](t, ctx, `document.getElementById('no-api').textContent`); !strings.Contains(got, "api write=on;") {
			t.Errorf("no-API panel: %q", got)
		}
	})
}
