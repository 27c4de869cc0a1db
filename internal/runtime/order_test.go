package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/tlstest"
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
log_format up '$upstream_addr|$upstream_status|$status|$uri|$sticky_reason|$request_time';
upstream app { server {{app}}; }
upstream pages { server {{pages}}; sticky cookie PAGES; }
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
	// $sticky_reason is the last upstream's decision; $request_time
	// the whole request's.
	want := []string{
		both + "|404 : 200|404|/pages/missing.html|new/no_cookie|",
		both + "|404 : 200|200|/named/y|new/no_cookie|",
	}
	got := readLog(t, lb, final)
	for i := range got {
		if j := strings.LastIndexByte(got[i], '|'); j >= 0 && i < len(want) {
			if rt := got[i][j+1:]; !regexp.MustCompile(`^[0-9]+\.[0-9]{3}$`).MatchString(rt) {
				t.Errorf("line %d: $request_time %q", i, rt)
			}
			got[i] = got[i][:j+1]
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
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

// sendTarget sends one request as written, on a connection of its own, and
// reads the response: for request targets a Go client would clean.
func sendTarget(t *testing.T, addr, target, host string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// limpet's own answers go through error_page as nginx's special response
// handler sends them: before a location is chosen with the server's
// error_page (a URI that climbs above the root, a plain HTTP request on a
// TLS port with nginx's documented `error_page 497 https://...` pattern),
// later with the location's (a body over client_max_body_size, a `return`
// in a location's rewrite script).
func TestLimpetsAnswersGoThroughErrorPage(t *testing.T) {
	be := newBackend(t, "be")
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	crt, key := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true}).Write(t, dir, "a")
	plain := startLimpet(t, `
server {
    listen 127.0.0.1:0; access_log off;
    error_page 400 /bad.html;
    location = /bad.html { internal; return 200 "custom bad request"; }
    location /up/ { client_max_body_size 10; error_page 413 /big.html; proxy_pass http://{{be}}; }
    location = /big.html { return 200 "custom too large"; }
    location /gone/ { set $x 1; return 404; error_page 404 /nf.html; }
    location = /nf.html { return 200 "custom not found"; }
}`, "{{be}}", be.addr())
	tlsLB := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl; server_name a.test; access_log off;
    ssl_certificate {{crt}}; ssl_certificate_key {{key}};
    error_page 497 https://$host$request_uri;
    location / { proxy_pass http://{{be}}; }
}`, "{{crt}}", crt, "{{key}}", key, "{{be}}", be.addr())
	plainAddr := strings.TrimPrefix(plain.url, "http://")
	tlsAddr := strings.TrimPrefix(tlsLB.url, "http://")

	t.Run("400 of a URI above the root: the server's error_page", func(t *testing.T) {
		res, body := sendTarget(t, plainAddr, "/../etc/passwd", "b")
		if res.StatusCode != 400 || body != "custom bad request" {
			t.Errorf("%d %q, want 400 %q", res.StatusCode, body, "custom bad request")
		}
	})
	t.Run("497: nginx's https redirect", func(t *testing.T) {
		res, _ := sendTarget(t, tlsAddr, "/cart?id=7", "a.test")
		if res.StatusCode != 302 || res.Header.Get("Location") != "https://a.test/cart?id=7" {
			t.Errorf("%d Location %q, want 302 %q", res.StatusCode, res.Header.Get("Location"), "https://a.test/cart?id=7")
		}
	})
	t.Run("413: the location's error_page", func(t *testing.T) {
		res, body := do(t, &http.Client{}, mustRequest(t, http.MethodPost, plain.url+"/up/x", strings.Repeat("b", 100)))
		if res.StatusCode != 413 || body != "custom too large" {
			t.Errorf("%d %q, want 413 %q", res.StatusCode, body, "custom too large")
		}
	})
	t.Run("return in a location's script: its error_page", func(t *testing.T) {
		res, body := get(t, &http.Client{}, plain.url+"/gone/x")
		if res.StatusCode != 404 || body != "custom not found" {
			t.Errorf("%d %q, want 404 %q", res.StatusCode, body, "custom not found")
		}
	})
	if n := be.hitCount(); n != 0 {
		t.Errorf("the backend got %d requests, want 0", n)
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// try_files' fallback, a named location and `rewrite ... last` are logged
// by the location that answered, as the error_page case above.
func TestRedirectedRequestsLoggedWhereAnswered(t *testing.T) {
	dir := t.TempDir()
	first, final := filepath.Join(dir, "first.log"), filepath.Join(dir, "final.log")
	lb := startLimpet(t, `
log_format where '$uri $status';
server {
    listen 127.0.0.1:0; access_log off; root {{root}};
    location /tf/ { try_files $uri /answer/tf; access_log {{first}} where; }
    location /named/ { try_files $uri @answer; access_log {{first}} where; }
    location /old/ { rewrite ^/old/(.*)$ /answer/$1 last; access_log {{first}} where; }
    location /answer/ { return 200 "answer"; access_log {{final}} where; }
    location @answer { return 200 "named"; access_log {{final}} where; }
}`, "{{root}}", dir, "{{first}}", first, "{{final}}", final)
	c := &http.Client{}
	for _, path := range []string{"/tf/missing", "/named/missing", "/old/x"} {
		if res, _ := get(t, c, lb.url+path); res.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200", path, res.StatusCode)
		}
	}
	if lines := readLog(t, lb, first); len(lines) != 0 {
		t.Errorf("the first locations' log has %q, want nothing", lines)
	}
	want := "/answer/tf 200\n/named/missing 200\n/answer/x 200"
	if got := strings.Join(readLog(t, lb, final), "\n"); got != want {
		t.Errorf("the answering locations' log:\n%s\nwant:\n%s", got, want)
	}
}
