package runtime

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// opsConf is the design notes' upstream with the operator's tools: an
// active health check, the runtime API with writes, and limpet's debug
// header so each response says its persistence decision.
const opsConf = `
match healthy { status 200; body ~ "ok"; }
upstream backend {
    zone backend 64k;
    server {{app1}};
    server {{app2}};
    sticky cookie SERVERID expires=1h path=/;
}
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    sticky_debug_header on;
    location / {
        proxy_pass http://backend;
        health_check interval=100ms fails=2 passes=2 uri=/healthz match=healthy;
    }
    location /api/ {
        api write=on;
        allow 127.0.0.1;
        deny all;
    }
}`

// healthyBackend is a backend whose /healthz can be switched off.
func healthyBackend(t *testing.T, name string) (*backend, *atomic.Bool) {
	b := newBackend(t, name)
	var sick atomic.Bool
	b.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if sick.Load() {
				w.WriteHeader(503)
				return
			}
			_, _ = w.Write([]byte("ok"))
			return
		}
		_, _ = w.Write([]byte(name))
	})
	return b, &sick
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A server that starts failing its health check is taken out within
// interval × fails, its users are moved with reassigned/server_unhealthy,
// and it rejoins after `passes` good checks.
func TestHealthCheckReassigns(t *testing.T) {
	app1, sick1 := healthyBackend(t, "app-01")
	app2, _ := healthyBackend(t, "app-02")
	lb := startLimpet(t, opsConf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	pinned := "SERVERID=" + upstream.IDFor(app1.addr(), "")
	if _, body := get(t, newClient(t), lb.url+"/", "Cookie", pinned); body != "app-01" {
		t.Fatalf("pinned user served by %q", body)
	}

	sick1.Store(true)
	start := time.Now()
	s1 := lb.rt.Upstream("backend").Pool().Lookup(upstream.IDFor(app1.addr(), ""))
	eventually(t, 2*time.Second, "app-01 unhealthy", func() bool { return s1.State(time.Now()) == upstream.StateUnhealthy })
	// interval 100ms × fails 2 is about 200ms; the slack is for a busy
	// machine, the bound still tells a broken threshold (10 fails would
	// take a second).
	if took := time.Since(start); took > time.Second {
		t.Errorf("taken out after %v; interval 100ms × fails 2 should take about 200ms", took)
	}
	res, body := get(t, newClient(t), lb.url+"/", "Cookie", pinned)
	if body != "app-02" || res.Header.Get("X-Limpet-Sticky") != "reassigned/server_unhealthy" || serverIDCookie(res) == nil {
		t.Errorf("pinned user of an unhealthy server: %q, decision %q, Set-Cookie %q; want app-02, reassigned/server_unhealthy, a new cookie",
			body, res.Header.Get("X-Limpet-Sticky"), res.Header["Set-Cookie"])
	}
	for range 6 {
		if _, body := get(t, newClient(t), lb.url+"/"); body != "app-02" {
			t.Fatalf("a new user went to the unhealthy server")
		}
	}
	// The checker logs just after it changes the state the test saw.
	eventually(t, 2*time.Second, "the transition logged", func() bool {
		return strings.Contains(lb.errLog.String(), "upstream server is unhealthy")
	})

	sick1.Store(false)
	eventually(t, 2*time.Second, "app-01 healthy again", func() bool { return s1.State(time.Now()) == upstream.StateUp })
	res, body = get(t, newClient(t), lb.url+"/", "Cookie", pinned)
	if body != "app-01" || res.Header.Get("X-Limpet-Sticky") != "hit" {
		t.Errorf("after recovery: %q %q, want app-01 and hit", body, res.Header.Get("X-Limpet-Sticky"))
	}
	if n := strings.Count(lb.errLog.String(), "upstream server is unhealthy"); n != 1 {
		t.Errorf("the unhealthy transition was logged %d times, want once", n)
	}
}

// apiJSON sends an API request and decodes the JSON answer.
func apiJSON(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, text := do(t, newClient(t), req)
	var v map[string]any
	if text != "" && strings.HasPrefix(strings.TrimSpace(text), "{") {
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			t.Fatalf("%s %s: not JSON: %v\n%s", method, url, err, text)
		}
	}
	return res.StatusCode, v
}

// A drained server keeps its pinned users and gets no new ones; the API
// changes take effect at once and a bad write changes nothing.
func TestDrainThroughTheAPI(t *testing.T) {
	app1, _ := healthyBackend(t, "app-01")
	app2, _ := healthyBackend(t, "app-02")
	lb := startLimpet(t, opsConf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	servers := lb.url + "/api/9/http/upstreams/backend/servers/"
	pinned := "SERVERID=" + upstream.IDFor(app1.addr(), "")

	// Bad writes: unknown field, bad JSON, unknown server, unknown
	// upstream. Each is refused and nothing changes.
	bad := []struct {
		method, url, body string
		status            int
	}{
		{"PATCH", servers + "0", `{"drain":true,"colour":"red"}`, 400},
		{"PATCH", servers + "0", `{"drain":`, 415},
		{"PATCH", servers + "99", `{"drain":true}`, 404},
		{"PATCH", lb.url + "/api/9/http/upstreams/nope/servers/0", `{"drain":true}`, 404},
		{"PATCH", servers + "0", `{"weight":0}`, 400},
	}
	for _, b := range bad {
		status, v := apiJSON(t, b.method, b.url, b.body)
		if status != b.status || v["error"] == nil {
			t.Errorf("%s %s %s: %d %v, want %d with an error object", b.method, b.url, b.body, status, v, b.status)
		}
	}
	s1 := lb.rt.Upstream("backend").Pool().Lookup(upstream.IDFor(app1.addr(), ""))
	if s1.State(time.Now()) != upstream.StateUp || s1.Weight != 1 {
		t.Fatalf("rejected writes changed the server: state %s weight %d", s1.State(time.Now()), s1.Weight)
	}

	// Drain app-01: at once, its pinned user stays, new users go to app-02.
	if status, _ := apiJSON(t, "PATCH", servers+"0", `{"drain":true}`); status != 200 {
		t.Fatalf("drain: status %d", status)
	}
	res, body := get(t, newClient(t), lb.url+"/", "Cookie", pinned)
	if body != "app-01" || res.Header.Get("X-Limpet-Sticky") != "hit/draining" {
		t.Errorf("pinned user of a draining server: %q %q, want app-01 hit/draining", body, res.Header.Get("X-Limpet-Sticky"))
	}
	for range 6 {
		if _, body := get(t, newClient(t), lb.url+"/"); body != "app-02" {
			t.Fatal("a new user went to the draining server")
		}
	}
	status, v := apiJSON(t, "GET", lb.url+"/api/9/http/upstreams/backend", "")
	if status != 200 {
		t.Fatalf("GET upstream: %d", status)
	}
	peers, _ := v["peers"].([]any)
	if len(peers) != 2 || peers[0].(map[string]any)["state"] != "draining" {
		t.Fatalf("API peers %v, want app-01 draining", peers)
	}

	// Undrain: new users reach app-01 again.
	apiJSON(t, "PATCH", servers+"0", `{"drain":false}`)
	seen := map[string]bool{}
	for range 4 {
		_, body := get(t, newClient(t), lb.url+"/")
		seen[body] = true
	}
	if !seen["app-01"] {
		t.Error("after undrain no new user reached app-01")
	}
}

// The API's protection: allow/deny in order (here only 127.0.0.1), and a
// location without write=on refuses writes with 405 MethodDisabled.
func TestAPIProtection(t *testing.T) {
	app1, _ := healthyBackend(t, "app-01")
	app2, _ := healthyBackend(t, "app-02")
	conf := strings.Replace(opsConf, "allow 127.0.0.1;", "allow 127.0.0.2;", 1)
	conf = strings.Replace(conf, "api write=on;", "api;", 1)
	lb := startLimpet(t, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	if res, _ := get(t, newClient(t), lb.url+"/api/9/http/upstreams"); res.StatusCode != 403 {
		t.Errorf("a client outside allow: %d, want 403", res.StatusCode)
	}
	c := clientFrom(t, "127.0.0.2")
	req, _ := http.NewRequest(http.MethodPatch, lb.url+"/api/9/http/upstreams/backend/servers/0", strings.NewReader(`{"drain":true}`))
	res, text := do(t, c, req)
	if res.StatusCode != 405 || !strings.Contains(text, "MethodDisabled") {
		t.Errorf("a write without write=on: %d %s, want 405 MethodDisabled", res.StatusCode, text)
	}
	if s := lb.rt.Upstream("backend").Pool().Primary[0]; s.Draining() {
		t.Error("the refused write drained the server")
	}
}
