package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestControl(t *testing.T) {
	app1, app2 := startBackend(t, "app-01"), startBackend(t, "app-02")
	srv := httptest.NewServer(NewControl([]*Backend{app1, app2}, WithLBURL("http://127.0.0.1:8080/")))
	defer srv.Close()
	c := newClient(t)

	statusJSON := func(r1, r2 bool) string {
		return fmt.Sprintf(`[{"name":"app-01","addr":%q,"running":%v},{"name":"app-02","addr":%q,"running":%v}]`+"\n",
			app1.Addr(), r1, app2.Addr(), r2)
	}
	steps := []struct {
		name, method, path string
		wantCode           int
		wantBody           string // exact, unless empty
		wantLocation       string
		wantRunning        bool // app-01's state afterwards
	}{
		{"status", "GET", "/status", 200, statusJSON(true, true), "", true},
		{"stop", "POST", "/backends/app-01/stop", 303, "stopped app-01\n", "../../", false},
		{"status after stop", "GET", "/status", 200, statusJSON(false, true), "", false},
		{"stop again", "POST", "/backends/app-01/stop", 409, "stop app-01: backend is not running\n", "", false},
		{"start", "POST", "/backends/app-01/start", 303, "started app-01\n", "../../", true},
		{"start again", "POST", "/backends/app-01/start", 409, "start app-01: backend is already running\n", "", true},
		{"unknown stop", "POST", "/backends/app-09/stop", 404, "unknown backend \"app-09\"\n", "", true},
		{"unknown start", "POST", "/backends/app-09/start", 404, "unknown backend \"app-09\"\n", "", true},
		{"unknown action", "POST", "/backends/app-01/reboot", 404, "404 page not found\n", "", true},
		{"stop by GET", "GET", "/backends/app-01/stop", 405, "Method Not Allowed\n", "", true},
		{"status after all", "GET", "/status", 200, statusJSON(true, true), "", true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, body := do(t, c, s.method, srv.URL+s.path, acceptBrowser, nil)
			if resp.StatusCode != s.wantCode || body != s.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, s.wantCode, s.wantBody)
			}
			if got := resp.Header.Get("Location"); got != s.wantLocation {
				t.Fatalf("Location = %q, want %q", got, s.wantLocation)
			}
			if app1.Running() != s.wantRunning {
				t.Fatalf("app-01 Running() = %v, want %v", app1.Running(), s.wantRunning)
			}
			if s.path == "/status" {
				if got := resp.Header.Get("Content-Type"); got != "application/json" {
					t.Fatalf("Content-Type = %q, want application/json", got)
				}
				var st []backendStatus
				if err := json.Unmarshal([]byte(body), &st); err != nil || len(st) != 2 {
					t.Fatalf("status JSON %q: %v", body, err)
				}
			}
		})
	}
	if !app2.Running() {
		t.Fatal("app-02 was touched")
	}
}

func TestControlStopIsAFailure(t *testing.T) {
	app1 := startBackend(t, "app-01")
	srv := httptest.NewServer(NewControl([]*Backend{app1}))
	defer srv.Close()
	c := newClient(t)
	do(t, c, "POST", srv.URL+"/backends/app-01/stop", acceptBrowser, nil)
	hc := &http.Client{Timeout: 2 * time.Second}
	if resp, err := hc.Get(baseURL(app1) + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("stopped backend still answers")
	}
}

func TestControlPage(t *testing.T) {
	app1, app2 := startBackend(t, "app-01"), startBackend(t, "app-02")
	if err := app2.Stop(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    []ControlOption
		want    []string
		notWant []string
	}{
		{
			name: "with LB URL",
			opts: []ControlOption{WithLBURL("http://127.0.0.1:8080/")},
			want: []string{
				`<a href="http://127.0.0.1:8080/" target="_blank" rel="noopener">http://127.0.0.1:8080/</a>`,
				"<strong>app-01</strong>", "<code>" + app1.Addr() + "</code>",
				`<span class="state running">running</span>`,
				`<form method="post" action="backends/app-01/stop">`,
				"<strong>app-02</strong>", "<code>" + app2.Addr() + "</code>",
				`<span class="state stopped">stopped</span>`,
				`<form method="post" action="backends/app-02/start">`,
				"Open the app in another tab, note the server, stop it here, reload the app: limpet moves you to the other server and sets a new SERVERID cookie; your visit count starts again because the session lived in the stopped server's memory.",
			},
			notWant: []string{`action="backends/app-01/start"`, `action="backends/app-02/stop"`, "<script", "<link", " src="},
		},
		{
			name:    "without LB URL",
			want:    []string{"<strong>app-01</strong>"},
			notWant: []string{"The app, through limpet"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(NewControl([]*Backend{app1, app2}, tt.opts...))
			defer srv.Close()
			resp, body := do(t, newClient(t), "GET", srv.URL+"/", acceptBrowser, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}

// The relative form actions and redirect keep working under a prefix.
func TestControlUnderPrefix(t *testing.T) {
	app1 := startBackend(t, "app-01")
	mux := http.NewServeMux()
	mux.Handle("/demo/", http.StripPrefix("/demo", NewControl([]*Backend{app1})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := &http.Client{Timeout: 5 * time.Second} // follows the 303 like a browser
	defer c.CloseIdleConnections()
	resp, err := c.Post(srv.URL+"/demo/backends/app-01/stop", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/demo/" {
		t.Fatalf("after stop: %d at %q, want 200 at /demo/", resp.StatusCode, resp.Request.URL.Path)
	}
	if app1.Running() {
		t.Fatal("app-01 still running")
	}
}
