package runtime

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestErrorPages runs error_page through a whole limpet: to a static
// page, to a named location that proxies, after every upstream failed,
// with proxy_intercept_errors on and off, the =CODE and = rules, a
// named location's own rewrite phase (rewrite, set, return),
// redirects to absolute URLs, recursion and the redirect cycle bound.
func TestErrorPages(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(404)
			fmt.Fprint(w, "app's own 404")
		case strings.HasSuffix(r.URL.Path, "/boom"):
			w.WriteHeader(500)
			fmt.Fprint(w, "app's own 500")
		default:
			fmt.Fprintf(w, "app %s %s", r.Method, r.URL.RequestURI())
		}
	})
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	writeTree(t, www, map[string]string{
		"404.html":         "custom 404 page",
		"50x.html":         "custom 50x page",
		"maintenance.html": "down for maintenance",
	})
	lb := startLimpet(t, `
upstream app { server {{app}}; }
upstream dead { server {{dead}}; }
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
server {
    listen 127.0.0.1:0;
    access_log off;
    root {{www}};
    error_page 404 /404.html;
    error_page 502 503 504 /50x.html;
    location / { }
    location /dead/ { proxy_pass http://dead; }
    location /pass/ { proxy_pass http://app; }
    location /intercept/ { proxy_pass http://app; proxy_intercept_errors on; }
    location /ok/ { error_page 404 =200 /maintenance.html; }
    location /same/ { error_page 404 = @app; }
    location /named/ { error_page 404 @app; }
    location /moved/ { error_page 404 http://example.test/gone; }
    location /perm/ { error_page 404 =301 http://example.test/moved; }
    location /twice/ { error_page 404 /twice/again; }
    location /rec/ { recursive_error_pages on; error_page 404 /rec/again; }
    location /loop/ { try_files $uri /loop/$uri; }
    location /missingpage/ { error_page 404 /nothere.html; }
    location /deny/ { deny all; error_page 403 /404.html; }
    location /limited/ { limit_req zone=one; error_page 503 /50x.html; }
    location /ret/ { return 404; }
    location /e302url/ { error_page 302 http://example.test/new; return 302 "first"; }
    location /e302uri/ { error_page 302 /r302/; return 302 "first"; }
    location /r302/ { return 302 "http://example.test/r?$args"; }
    location @app { proxy_pass http://app; }
    location /nrw/ { error_page 404 = @rw; }
    location @rw { rewrite ^/nrw/(.*)$ /cl/$1 break; proxy_pass http://app; }
    location /nlast/ { error_page 404 = @last; }
    location @last { rewrite ^ /pass/last last; }
    location /nret/ { error_page 404 = @teapot; }
    location @teapot { set $x "one"; return 200 "teapot $x $uri"; }
}`, "{{app}}", app.addr(), "{{dead}}", refusedAddr(t), "{{www}}", www)

	tests := []struct {
		name, method, path string
		status             int
		body               string
		location           string
	}{
		{"to a static page", "GET", "/nope", 404, "custom 404 page", ""},
		{"HEAD keeps its method", "HEAD", "/nope", 404, "", ""},
		{"POST becomes GET for the page", "POST", "/nope", 404, "custom 404 page", ""},
		{"502 after all upstreams failed", "GET", "/dead/x", 502, "custom 50x page", ""},
		{"intercept off: the upstream's 404", "GET", "/pass/missing", 404, "app's own 404", ""},
		{"intercept on: the page", "GET", "/intercept/missing", 404, "custom 404 page", ""},
		{"intercept on, no page for 500", "GET", "/intercept/boom", 500, "app's own 500", ""},
		{"intercept on, success passes", "GET", "/intercept/fine", 200, "app GET /intercept/fine", ""},
		{"=200", "GET", "/ok/x", 200, "down for maintenance", ""},
		{"= takes the named location's status", "GET", "/same/x?q=1", 200, "app GET /same/x?q=1", ""},
		{"named location keeps the error's status", "GET", "/named/x", 404, "app GET /named/x", ""},
		{"named location keeps the method", "POST", "/named/x", 404, "app POST /named/x", ""},
		{"a named location's rewrite ... break", "GET", "/nrw/x?q=1", 200, "app GET /cl/x?q=1", ""},
		{"a named location's rewrite ... last searches again", "GET", "/nlast/x", 200, "app GET /pass/last", ""},
		{"a named location's set and return", "GET", "/nret/x", 200, "teapot one /nret/x", ""},
		{"absolute URL redirects with 302", "GET", "/moved/x", 302, "302 Found", "http://example.test/gone"},
		{"=301 absolute URL", "GET", "/perm/x", 301, "301 Moved Permanently", "http://example.test/moved"},
		{"an error of the error page: built-in page", "GET", "/twice/x", 404, "404 Not Found", ""},
		{"page missing: built-in page", "GET", "/missingpage/x", 404, "404 Not Found", ""},
		{"recursive_error_pages: cycle ends in 500", "GET", "/rec/x", 500, "500 Internal Server Error", ""},
		{"try_files cycle ends in 500", "GET", "/loop/x", 500, "500 Internal Server Error", ""},
		{"403 of deny", "GET", "/deny/x", 403, "custom 404 page", ""},
		{"return 404", "GET", "/ret/x", 404, "custom 404 page", ""},
		{"error_page 302 to a URL: the old Location is gone", "GET", "/e302url/", 302, "302 Found", "http://example.test/new"},
		{"error_page 302 to a return 302", "GET", "/e302uri/?a=1", 302, "302 Found", "http://example.test/r?a=1"},
		{"first request under the limit: no page for 404 here", "GET", "/limited/x", 404, "404 Not Found", ""},
		{"503 of limit_req", "GET", "/limited/x", 503, "custom 50x page", ""},
	}
	c := newClient(t)
	if res, body := get(t, c, lb.url+"/ok/x", "Range", "bytes=0-3"); res.StatusCode != 206 || body != "down" {
		t.Errorf("=200 page with a range: %d %q, want 206 \"down\"", res.StatusCode, body)
	}
	if res, body := get(t, c, lb.url+"/nope", "Range", "bytes=0-3"); res.StatusCode != 404 || body != "custom 404 page" {
		t.Errorf("404 page with a range: %d %q, want the whole page", res.StatusCode, body)
	}
	// A file sent as an error page has nginx's headers of an error: no
	// Last-Modified, no Accept-Ranges; the =200 page keeps both.
	if res, _ := get(t, c, lb.url+"/nope"); res.Header.Get("Last-Modified") != "" || res.Header.Get("Accept-Ranges") != "" || res.Header.Get("Etag") == "" {
		t.Errorf("404 page: Last-Modified %q Accept-Ranges %q ETag %q, want only the ETag", res.Header.Get("Last-Modified"), res.Header.Get("Accept-Ranges"), res.Header.Get("Etag"))
	}
	if res, _ := get(t, c, lb.url+"/ok/x"); res.Header.Get("Last-Modified") == "" || res.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("=200 page: Last-Modified %q Accept-Ranges %q, want both", res.Header.Get("Last-Modified"), res.Header.Get("Accept-Ranges"))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := rawGet(t, lb.url, tt.method, tt.path)
			if res.StatusCode != tt.status {
				t.Fatalf("%s %s: status %d, want %d (body %q)", tt.method, tt.path, res.StatusCode, tt.status, body)
			}
			if tt.body == "" && body != "" || !strings.Contains(body, tt.body) {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if got := res.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
		})
	}
	if !strings.Contains(lb.errLog.String(), "rewrite or internal redirection cycle") {
		t.Errorf("no cycle in the error log:\n%s", lb.errLog.String())
	}
}

// TestHealthCheckInNamedLocation: NGINX Plus's pattern of a named
// location that only holds a health_check (`location @hc { internal;
// proxy_pass ...; health_check; }`) probes the upstream.
func TestHealthCheckInNamedLocation(t *testing.T) {
	probed := make(chan string, 1)
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			select {
			case probed <- r.URL.Path:
			default:
			}
		}
		fmt.Fprint(w, "ok")
	})
	lb := startLimpet(t, `
upstream backend { zone backend 64k; server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://backend; }
    location @hc {
        internal;
        proxy_pass http://backend;
        health_check interval=100ms uri=/healthz;
    }
}`, "{{app}}", app.addr())
	select {
	case <-probed:
	case <-time.After(10 * time.Second):
		t.Fatal("the named location's health_check never probed")
	}
	if res, body := rawGet(t, lb.url, "GET", "/x"); res.StatusCode != 200 || body != "ok" {
		t.Errorf("proxied: %d %q", res.StatusCode, body)
	}
}
