package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestResponseHeaderErrors: the response-header directives refuse what
// nginx refuses, in its words, at the directive's line.
func TestResponseHeaderErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"redirect default before proxy_pass", "server { location / {\n proxy_redirect default;\n proxy_pass http://127.0.0.1; } }", `"proxy_redirect default" should be placed after the "proxy_pass" directive in FILE:2`},
		{"redirect default in server", "server {\n proxy_redirect default;\n}", `"proxy_redirect default" should be placed after the "proxy_pass" directive in FILE:2`},
		{"redirect bad word", "proxy_redirect on;", `invalid parameter "on" in FILE:1`},
		{"redirect off twice", "proxy_redirect off;\nproxy_redirect off;", `"proxy_redirect" directive is duplicate in FILE:2`},
		{"redirect after off", "proxy_redirect off;\nproxy_redirect / /x/;", `"proxy_redirect" directive is duplicate in FILE:2`},
		{"off after a redirect", "proxy_redirect / /x/;\nproxy_redirect off;", `"proxy_redirect" directive is duplicate in FILE:2`},
		{"redirect bad regex", "proxy_redirect ~(a /;", `invalid regular expression "(a": missing closing ) in FILE:1`},
		{"cookie_path bad word", "proxy_cookie_path on;", `invalid parameter "on" in FILE:1`},
		{"cookie_domain off twice", "proxy_cookie_domain off;\nproxy_cookie_domain off;", `"proxy_cookie_domain" directive is duplicate in FILE:2`},
		{"cookie_flags unknown flag", "proxy_cookie_flags sid secure samesite=always;", `invalid parameter "samesite=always" in FILE:1`},
		{"cookie_flags bad word", "proxy_cookie_flags on;", `invalid parameter "on" in FILE:1`},
		{"expires bad", "expires soon;", `"expires" directive invalid value in FILE:1`},
		{"expires modified epoch", "expires modified epoch;", `"expires" directive invalid value in FILE:1`},
		{"expires daily past a day", "expires @25h;", `"expires" directive daily time value must be less than 24 hours in FILE:1`},
		{"expires daily with modified", "expires modified @10h;", `"expires" directive daily time cannot be used with "modified" parameter in FILE:1`},
		{"expires twice", "expires 1h;\nexpires 2h;", `"expires" directive is duplicate in FILE:2`},
		{"expires bad first word", "expires later 1h;", `"expires" directive invalid value in FILE:1`},
		{"status_zone twice", "server {\n status_zone a;\n status_zone b;\n}", `"status_zone" directive is duplicate in FILE:3`},
		{"status_zone at http", "status_zone a;", `"status_zone" directive is not allowed here in FILE:1`},
		{"proxy_ignore_client_abort twice", "proxy_ignore_client_abort off;\nproxy_ignore_client_abort on;", `"proxy_ignore_client_abort" directive is duplicate in FILE:2`},
		{"status_zone with variables", "server { status_zone $host; }", `variables in "status_zone" are not supported by limpet in FILE:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.src)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("source:\n%s\nerror %v\nwant  %s", tt.src, err, want)
			}
		})
	}
}

// TestIgnoreClientAbortOff: off, what limpet does, loads without a word.
func TestIgnoreClientAbortOff(t *testing.T) {
	if cfg := mustLoad(t, "proxy_ignore_client_abort off;"); len(cfg.Warnings)+len(cfg.Ignored) != 0 {
		t.Errorf("warnings %v, ignored %v", cfg.Warnings, cfg.Ignored)
	}
}

// TestResponseHeaderSettings: what each level ends up with, inherited as
// nginx inherits it.
func TestResponseHeaderSettings(t *testing.T) {
	cfg := mustLoad(t, `
proxy_hide_header X-Powered-By;
proxy_cookie_flags ~ secure;
expires 1h;
server {
    status_zone site;
    proxy_pass_header Server;
    location /a/ { proxy_pass http://127.0.0.1/b/; }
    location /off/ { proxy_pass http://127.0.0.1; proxy_redirect off; expires off; }
    location /own/ {
        proxy_pass http://127.0.0.1;
        proxy_redirect default;
        proxy_redirect ~*^http://x/(.*) /$1;
        proxy_hide_header X-Other;
        status_zone own;
    }
    location /plain/ { return 200; }
}`)
	srv := cfg.Servers[0]
	at := func(p string) ResponseHeaders {
		for _, l := range srv.Locations {
			if l.Path == p {
				return l.Proxy.Response
			}
		}
		t.Fatalf("no location %s", p)
		return ResponseHeaders{}
	}
	hidden := []string{"Date", "X-Pad", "X-Accel-Expires", "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset", "X-Powered-By"}
	a := at("/a/")
	if !reflect.DeepEqual(a.Hide, hidden) {
		t.Errorf("hide %q, want %q", a.Hide, hidden)
	}
	if len(a.Redirects) != 1 || a.Redirects[0].Pattern != "http://127.0.0.1/b/" || a.Redirects[0].Replacement != "/a/" {
		t.Errorf("default redirect %+v", a.Redirects)
	}
	if a.Expires.Off || a.Expires.Time != time.Hour || len(a.CookieFlags) != 1 {
		t.Errorf("inherited %+v", a)
	}
	// The server's zone counts the server; a location is in a zone only
	// by its own status_zone.
	if srv.Proxy.Response.StatusZone != "site" || a.StatusZone != "" {
		t.Errorf("zones %q %q", srv.Proxy.Response.StatusZone, a.StatusZone)
	}
	if off := at("/off/"); off.Redirects != nil || !off.Expires.Off {
		t.Errorf("off %+v", off)
	}
	own := at("/own/")
	if len(own.Redirects) != 2 || own.Redirects[0].Pattern != "http://127.0.0.1/" || own.Redirects[1].Regexp == nil || !own.Redirects[1].Regexp.MatchString("HTTP://X/y") {
		t.Errorf("own redirects %+v", own.Redirects)
	}
	// proxy_hide_header at this level replaces the outer list; the
	// server's proxy_pass_header is still inherited.
	if want := []string{"Date", "X-Pad", "X-Accel-Expires", "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset", "X-Other"}; !reflect.DeepEqual(own.Hide, want) {
		t.Errorf("own hide %q, want %q", own.Hide, want)
	}
	if own.StatusZone != "own" {
		t.Errorf("zone %q", own.StatusZone)
	}
	if plain := at("/plain/"); plain.Redirects != nil {
		t.Errorf("a location that does not proxy has redirects %+v", plain.Redirects)
	}
}

// TestPassRequestConfig: proxy_method and proxy_pass_request_* inherit
// as nginx merges them, with its errors.
func TestPassRequestConfig(t *testing.T) {
	cfg := mustLoad(t, "proxy_pass_request_body off;\nserver { location / { proxy_method GET; proxy_pass_request_headers off; return 200; } location /b/ { return 200; } }")
	locs := cfg.Servers[0].Locations
	if got, want := locs[0].Proxy.PassRequest, (PassRequest{Method: "GET", NoHeaders: true, NoBody: true}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, want := locs[1].Proxy.PassRequest, (PassRequest{NoBody: true}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for src, want := range map[string]string{
		"proxy_method \"GET /\";":                                   "invalid value \"GET /\" in \"proxy_method\" directive in FILE:1",
		"proxy_method GET;\nproxy_method POST;":                     "\"proxy_method\" directive is duplicate in FILE:2",
		"proxy_pass_request_body off;\nproxy_pass_request_body on;": "\"proxy_pass_request_body\" directive is duplicate in FILE:2",
	} {
		_, path, err := load(t, src)
		if want := strings.ReplaceAll(want, "FILE", path); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", src, err, want)
		}
	}
}
