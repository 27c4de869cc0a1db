package runtime

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// nginx answers a lone `return` in its rewrite phase, before the access
// phase (allow/deny, auth_basic) and the limits (PREACCESS): a level
// whose only rewrite directive is `return` answers whoever asks. The
// same rules in front of a proxy_pass still refuse, so the test tells
// the order, not a rule that does nothing.
func TestLoneReturnAnswersBeforeAccessAndLimits(t *testing.T) {
	be := newBackend(t, "be")
	lb := startLimpet(t, `
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
server {
    listen 127.0.0.1:0; access_log off;
    location /deny/ { deny all; return 200 "ret"; }
    location /auth/ { auth_basic "ops"; auth_basic_user_file {{htpasswd}}; return 200 "ret"; }
    location /limit/ { limit_req zone=one; return 200 "ret"; }
    location /deny-proxy/ { deny all; proxy_pass http://{{be}}; }
    location /auth-proxy/ { auth_basic "ops"; auth_basic_user_file {{htpasswd}}; proxy_pass http://{{be}}; }
}
server {
    listen 127.0.0.1:0; access_log off; server_name other;
    deny all;
    return 200 "server ret";
}`, "{{htpasswd}}", htpasswd(t, "ops", "pw"), "{{be}}", be.addr())
	tests := []struct {
		path, host string
		want       int
		body       string
	}{
		{"/deny/", "", 200, "ret"},
		{"/auth/", "", 200, "ret"},
		{"/limit/", "", 200, "ret"},
		{"/limit/", "", 200, "ret"}, // past rate=1r/m
		{"/limit/", "", 200, "ret"},
		{"/deny-proxy/", "", 403, ""},
		{"/auth-proxy/", "", 401, ""},
	}
	c := &http.Client{}
	for _, tt := range tests {
		res, body := get(t, c, lb.url+tt.path)
		if res.StatusCode != tt.want || (tt.body != "" && body != tt.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, res.StatusCode, body, tt.want, tt.body)
		}
	}
	// The second server, by its name on the same address.
	req, _ := http.NewRequest(http.MethodGet, lb.url+"/", nil)
	req.Host = "other"
	if res, body := do(t, c, req); res.StatusCode != 200 || body != "server ret" {
		t.Errorf("server-level return with deny all: %d %q, want 200 %q", res.StatusCode, body, "server ret")
	}
	if n := be.hitCount(); n != 0 {
		t.Errorf("the backend got %d requests, want 0 (refused before proxying)", n)
	}
}

// A request that an intercepted error sends to a location that proxies
// again is logged once, by the access_log of the location that finished
// it (nginx's r->loc_conf at the log phase), and its upstream fields list
// both exchanges, " : " between them as nginx's $upstream_addr: in a
// log_format of the user's and in limpet's JSON line alike.
func TestInternalRedirectLogsWithTheFinalLocation(t *testing.T) {
	app, pages := newBackend(t, "app"), newBackend(t, "pages")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	dir := t.TempDir()
	first, final, jsonLog := filepath.Join(dir, "first.log"), filepath.Join(dir, "final.log"), filepath.Join(dir, "json.log")
	lb := startLimpet(t, `
log_format up '$upstream_addr|$upstream_status|$status|$uri';
upstream app { server {{app}}; }
upstream pages { server {{pages}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location /app/ {
        proxy_pass http://app;
        proxy_intercept_errors on;
        error_page 404 /pages/missing.html;
        access_log {{first}} up;
    }
    location /pages/ {
        proxy_pass http://pages;
        access_log {{final}} up;
        access_log {{json}};
    }
    location /named/ {
        proxy_pass http://app;
        proxy_intercept_errors on;
        error_page 404 = @pages;
        access_log {{first}} up;
    }
    location @pages { proxy_pass http://pages; access_log {{final}} up; }
}`, "{{app}}", app.addr(), "{{pages}}", pages.addr(), "{{first}}", first, "{{final}}", final, "{{json}}", jsonLog)
	c := &http.Client{}
	if res, body := get(t, c, lb.url+"/app/x"); res.StatusCode != 404 || body != "pages" {
		t.Fatalf("GET /app/x: %d %q, want 404 with the pages backend's body", res.StatusCode, body)
	}
	if res, body := get(t, c, lb.url+"/named/y"); res.StatusCode != 200 || body != "pages" {
		t.Fatalf("GET /named/y: %d %q, want the named location's 200", res.StatusCode, body)
	}
	if lines := readLog(t, lb, first); len(lines) != 0 {
		t.Errorf("the first location's log has %q, want nothing", lines)
	}
	both := app.addr() + " : " + pages.addr()
	want := []string{
		both + "|404 : 200|404|/pages/missing.html",
		both + "|404 : 200|200|/named/y",
	}
	if got := readLog(t, lb, final); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("final location's log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	lines := readLog(t, lb, jsonLog)
	if len(lines) != 1 {
		t.Fatalf("json log: %q, want one line", lines)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatalf("json log %q: %v", lines[0], err)
	}
	if e["upstream"] != both || e["upstream_status"] != "404 : 200" || e["status"] != float64(404) {
		t.Errorf("json line %s: want upstream %q, upstream_status %q, status 404", lines[0], both, "404 : 200")
	}
}

// nginx applies set_real_ip_from twice: in POST_READ with the server's
// settings, before the server's rewrite phase (so a server's `if` and a
// map of $remote_addr see the client), and in PREACCESS with the
// location's, after the location's rewrite phase (a `return` there still
// sees the peer) and again after an internal redirect, unless the address
// was replaced already.
func TestRealIPPhases(t *testing.T) {
	app, pages := newBackend(t, "app"), newBackend(t, "pages")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	lb := startLimpet(t, `
map $remote_addr $who { 203.0.113.7 real; default peer; }
server {
    listen 127.0.0.1:0; access_log off; server_name srv;
    set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;
    if ($remote_addr = 203.0.113.9) { return 403 "blocked by the server"; }
    location / { return 200 "$who $remote_addr"; }
}
server {
    listen 127.0.0.1:0; access_log off; server_name loc;
    if ($remote_addr = 203.0.113.9) { return 403 "blocked by the server"; }
    location /ret/ { set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; return 200 "$who $remote_addr"; }
    location /real/ {
        set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;
        proxy_set_header X-Real-IP $remote_addr; proxy_pass http://{{pages}};
    }
    location /first/ { proxy_pass http://{{app}}; proxy_intercept_errors on; error_page 404 =200 /real/page; }
}`, "{{app}}", app.addr(), "{{pages}}", pages.addr())
	c := &http.Client{}
	tests := []struct {
		name, host, path, xff string
		status                int
		body, realIP          string // realIP: X-Real-IP at the pages backend
	}{
		{"server: map sees the client", "srv", "/", "203.0.113.7", 200, "real 203.0.113.7", ""},
		{"server: its if sees the client", "srv", "/", "203.0.113.9", 403, "blocked by the server", ""},
		{"server: no header", "srv", "/", "", 200, "peer 127.0.0.1", ""},
		{"location: return before PREACCESS sees the peer", "loc", "/ret/", "203.0.113.7", 200, "peer 127.0.0.1", ""},
		{"location: the server's if sees the peer", "loc", "/real/x", "203.0.113.9", 200, "pages", "203.0.113.9"},
		{"location after an internal redirect", "loc", "/first/x", "203.0.113.9", 200, "pages", "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, lb.url+tt.path, nil)
			req.Host = tt.host
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			res, body := do(t, c, req)
			if res.StatusCode != tt.status || body != tt.body {
				t.Errorf("%d %q, want %d %q", res.StatusCode, body, tt.status, tt.body)
			}
			if tt.realIP != "" {
				if r, _ := pages.lastRequest(); r == nil || r.Header.Get("X-Real-IP") != tt.realIP {
					t.Errorf("the backend's X-Real-IP: %v, want %q", r, tt.realIP)
				}
			}
		})
	}
}
