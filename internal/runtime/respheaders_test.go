package runtime

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// respBackend answers as the paths of the response-header tests ask:
// Location and Refresh fields built from the Host it was sent, the
// application's cookies, fields nginx hides, and caching fields.
func respBackend(t *testing.T) *backend {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Date", "Mon, 01 Jan 2001 00:00:00 GMT")
		h.Set("Server", "app-server/1.0")
		h.Set("X-Pad", "avoid browser bug")
		h.Set("X-Accel-Redirect", "/internal/file")
		h.Set("X-Secret", "s3cret")
		h.Set("Cache-Control", "private")
		h.Set("Last-Modified", "Sat, 01 Jan 2000 00:00:00 GMT")
		switch {
		case strings.HasSuffix(r.URL.Path, "/redirect"):
			// An application that builds absolute redirects from the
			// Host it was given ($proxy_host by default).
			h.Set("Location", "http://"+r.Host+"/login?next=1")
			h.Set("Refresh", "5; url=http://"+r.Host+"/next")
			w.WriteHeader(http.StatusFound)
			return
		case strings.HasSuffix(r.URL.Path, "/internal-redirect"):
			h.Set("Location", "http://shop.internal/cart/42")
			w.WriteHeader(http.StatusFound)
			return
		case strings.HasPrefix(r.URL.Path, "/cookies/"):
			h.Add("Set-Cookie", "session=abc; Path=/internal/app; Domain=.app.internal; HttpOnly")
			h.Add("Set-Cookie", "pref_lang=en; Path=/; Secure; SameSite=None")
			h.Add("Set-Cookie", "other=1; Path=/elsewhere")
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = fmt.Fprint(w, "ok")
	})
	return app
}

// respConf is the limpet in front of respBackend: each location shows
// one rule. The upstream's own sticky cookie has the path the
// proxy_cookie_path rule rewrites, to show limpet's cookie is left alone.
const respConf = `
upstream app {
    server {{app}};
    sticky cookie lb path=/internal/app;
}
server {
    listen 127.0.0.1:0;
    server_name example.test;
    access_log off;
    location / { proxy_pass http://app; }
    location /mapped/ { proxy_pass http://app/; }
    location /pass/ {
        proxy_pass http://app;
        proxy_pass_header Server;
        proxy_hide_header X-Secret;
    }
    location /explicit/ {
        proxy_pass http://app;
        proxy_redirect ~^http://(?<svc>\w+)\.internal/(.*)$ http://$svc.example.com/$2?via=$host;
        proxy_redirect http://app/ /explicit/;
    }
    location /off/ {
        proxy_pass http://app;
        proxy_redirect off;
    }
    location /cookies/ {
        proxy_pass http://app;
        proxy_cookie_flags session secure samesite=strict;
        proxy_cookie_flags ~^PREF_ httponly nosecure samesite=lax;
        proxy_cookie_path /internal/ /;
        proxy_cookie_domain app.internal $host;
    }
    location /expires/ { proxy_pass http://app; expires 1h; }
    location /epoch/ { proxy_pass http://app; expires epoch; }
    location /max/ { proxy_pass http://app; expires max; }
    location /modified/ { proxy_pass http://app; expires modified 1d; }
    location /negative/ { proxy_pass http://app; expires -1; }
    location /variable/ { proxy_pass http://app; expires $arg_e; }
    location /returned { expires 30s; return 200 "own"; }
}`

// TestResponseHeaders runs proxy_hide_header, proxy_pass_header,
// proxy_redirect (default, explicit with a regex, off), proxy_cookie_*
// and expires through a whole limpet with a real backend.
func TestResponseHeaders(t *testing.T) {
	app := respBackend(t)
	lb := startLimpet(t, respConf, "{{app}}", app.addr())
	c := newClient(t)

	tests := []struct {
		name   string
		path   string
		status int
		// want holds the lines of each field checked; nil means absent.
		// ORIGIN is limpet's scheme, host and port: a Location rewritten
		// to a path is made absolute, as nginx's absolute_redirect does
		// (the Refresh field is not).
		want map[string][]string
	}{
		{"nginx's hidden fields stay behind", "/", 200, map[string][]string{
			"Server": nil, "X-Pad": nil, "X-Accel-Redirect": nil, "X-Secret": {"s3cret"}, "X-Served-By": {"app"},
		}},
		{"proxy_pass_header and proxy_hide_header", "/pass/x", 200, map[string][]string{
			"Server": {"app-server/1.0"}, "X-Secret": nil, "X-Pad": nil,
		}},
		{"default redirect without a URI", "/redirect", 302, map[string][]string{
			"Location": {"ORIGIN/login?next=1"}, "Refresh": {"5; url=/next"},
		}},
		{"default redirect with a URI: the location's path", "/mapped/redirect", 302, map[string][]string{
			"Location": {"ORIGIN/mapped/login?next=1"}, "Refresh": {"5; url=/mapped/next"},
		}},
		{"explicit literal", "/explicit/redirect", 302, map[string][]string{
			"Location": {"ORIGIN/explicit/login?next=1"},
		}},
		{"explicit regex with captures and variables", "/explicit/internal-redirect", 302, map[string][]string{
			"Location": {"http://shop.example.com/cart/42?via=example.test"},
		}},
		{"off leaves it alone", "/off/redirect", 302, map[string][]string{
			"Location": {"http://app/login?next=1"}, "Refresh": {"5; url=http://app/next"},
		}},
		{"expires 1h replaces Cache-Control", "/expires/x", 200, map[string][]string{
			"Cache-Control": {"max-age=3600"},
		}},
		{"expires not on a 404", "/expires/missing", 404, map[string][]string{
			"Cache-Control": {"private"}, "Expires": nil,
		}},
		{"expires epoch", "/epoch/x", 200, map[string][]string{
			"Cache-Control": {"no-cache"}, "Expires": {"Thu, 01 Jan 1970 00:00:01 GMT"},
		}},
		{"expires max", "/max/x", 200, map[string][]string{
			"Cache-Control": {"max-age=315360000"}, "Expires": {"Thu, 31 Dec 2037 23:55:55 GMT"},
		}},
		{"expires modified, long past", "/modified/x", 200, map[string][]string{
			"Cache-Control": {"no-cache"}, "Expires": {"Sun, 02 Jan 2000 00:00:00 GMT"},
		}},
		{"expires negative", "/negative/x", 200, map[string][]string{
			"Cache-Control": {"no-cache"},
		}},
		{"expires from a variable", "/variable/x?e=2m", 200, map[string][]string{
			"Cache-Control": {"max-age=120"},
		}},
		{"expires from a variable that says off", "/variable/x?e=off", 200, map[string][]string{
			"Cache-Control": {"private"}, "Expires": nil,
		}},
		{"expires on limpet's own return", "/returned", 200, map[string][]string{
			"Cache-Control": {"max-age=30"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, lb.url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "example.test"
			before := time.Now().Truncate(time.Second)
			res, _ := do(t, c, req)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			origin := "http://example.test:" + lb.url[strings.LastIndexByte(lb.url, ':')+1:]
			for name, want := range tt.want {
				for i := range want {
					want[i] = strings.Replace(want[i], "ORIGIN", origin, 1)
				}
				if got := res.Header.Values(name); !reflect.DeepEqual(got, want) && !(len(got) == 0 && want == nil) {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			// limpet's own Date replaces the upstream's.
			if d, err := http.ParseTime(res.Header.Get("Date")); err != nil || d.Before(before) {
				t.Errorf("Date %q, want limpet's own", res.Header.Get("Date"))
			}
			if cc := res.Header.Get("Cache-Control"); strings.HasPrefix(cc, "max-age=") {
				// Expires agrees with max-age, from the time of the request.
				age, _ := strconv.Atoi(strings.TrimPrefix(cc, "max-age="))
				exp, err := http.ParseTime(res.Header.Get("Expires"))
				if err != nil || exp.Before(before.Add(time.Duration(age)*time.Second)) {
					t.Errorf("Expires %q for %s", res.Header.Get("Expires"), cc)
				}
			}
		})
	}
}

// TestProxyCookieFlags: the application's cookies get the flags, path
// and domain the rules ask for; limpet's own persistence cookie, although
// its path matches proxy_cookie_path, is left as sticky sets it.
func TestProxyCookieFlags(t *testing.T) {
	app := respBackend(t)
	lb := startLimpet(t, respConf, "{{app}}", app.addr())
	req, err := http.NewRequest(http.MethodGet, lb.url+"/cookies/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "example.test"
	res, _ := do(t, newClient(t), req)
	got := res.Header.Values("Set-Cookie")
	var lbCookie string
	var app3 []string
	for _, v := range got {
		if strings.HasPrefix(v, "lb=") {
			lbCookie = v
		} else {
			app3 = append(app3, v)
		}
	}
	want := []string{
		"session=abc; Path=/app; Domain=.example.test; HttpOnly; Secure; SameSite=Strict",
		"pref_lang=en; Path=/; SameSite=Lax; HttpOnly",
		"other=1; Path=/elsewhere",
	}
	if !reflect.DeepEqual(app3, want) {
		t.Errorf("application cookies\n got %q\nwant %q", app3, want)
	}
	if !strings.Contains(lbCookie, "path=/internal/app") {
		t.Errorf("limpet's cookie %q was rewritten", lbCookie)
	}
}

// TestAddTrailer: add_trailer fields follow the last chunk of a chunked
// response, with `always` on any status, and are left off a response of
// known length, as nginx sends them.
func TestAddTrailer(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "2")
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = w.Write([]byte("ok"))
		// A flush before the handler ends makes the body chunked.
		if r.URL.Path != "/sized" {
			http.NewResponseController(w).Flush()
		}
	})
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    add_trailer X-Outer outer;
    location / {
        add_trailer X-Checksum "sum-$uri";
        add_trailer X-Always yes always;
        add_trailer X-Empty "$arg_none";
        proxy_pass http://app;
    }
    location /inherit/ { proxy_pass http://app; }
}`, "{{app}}", app.addr())
	c := newClient(t)
	tests := []struct {
		path string
		want http.Header // the trailers the client reads
	}{
		{"/chunked", http.Header{"X-Checksum": {"sum-/chunked"}, "X-Always": {"yes"}}},
		{"/missing", http.Header{"X-Always": {"yes"}}},
		{"/sized", nil},
		{"/inherit/x", http.Header{"X-Outer": {"outer"}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, c, lb.url+tt.path)
			if body != "ok" {
				t.Fatalf("body %q", body)
			}
			got := res.Trailer
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("trailers %v, want %v (Transfer-Encoding %v)", got, tt.want, res.TransferEncoding)
			}
		})
	}
}
