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
