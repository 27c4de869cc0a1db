package runtime

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAbsoluteRedirects: limpet's own relative redirects (return, rewrite
// ... redirect, the slash redirect) are made absolute as nginx's header
// filter makes them, with absolute_redirect, server_name_in_redirect and
// port_in_redirect at each level; absolute targets are left alone.
func TestAbsoluteRedirects(t *testing.T) {
	app := newBackend(t, "app")
	www := t.TempDir()
	writeTree(t, www, map[string]string{"dir/index.html": "d", "off/dir/index.html": "d", "noport/dir/index.html": "d"})
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    server_name primary.test alias.test;
    access_log off;
    root {{www}};
    location = /ret { return 301 /x?y=1; }
    location = /rel { return 302 x; }
    location = /abs { return 302 http://elsewhere.test/x; }
    location /rw/ { rewrite ^/rw/(.*)$ /new/$1 redirect; }
    location /app/ { proxy_pass http://app; }
    location /off/ {
        absolute_redirect off;
        location = /off/ret { return 301 /x; }
        location /off/app/ { proxy_pass http://app; }
    }
    location /name/ {
        server_name_in_redirect on;
        location = /name/ret { return 301 /x; }
    }
    location /noport/ {
        port_in_redirect off;
        location = /noport/ret { return 307 /x; }
    }
}
server {
    listen 127.0.0.1:0;
    server_name server-off.test;
    absolute_redirect off;
    access_log off;
    if ($arg_go) { return 301 /from-server-if; }
    location / { return 301 /x; }
    location /on/ { absolute_redirect on; location = /on/ret { return 301 /x; } }
}`, "{{app}}", app.addr(), "{{www}}", www)
	port := lb.url[strings.LastIndexByte(lb.url, ':'):]
	tests := []struct {
		name, host, path, want string
	}{
		{"return 301 /x: the Host without its port, limpet's port", "Primary.Test:8443", "/ret", "http://primary.test" + port + "/x?y=1"},
		{"the request's Host, not the server's name", "alias.test", "/ret", "http://alias.test" + port + "/x?y=1"},
		{"a target without a leading slash is left as is", "alias.test", "/rel", "x"},
		{"an absolute target is left as is", "alias.test", "/abs", "http://elsewhere.test/x"},
		{"rewrite ... redirect", "alias.test", "/rw/a?b=c", "http://alias.test" + port + "/new/a?b=c"},
		{"the slash redirect", "alias.test", "/app?q=1", "http://alias.test" + port + "/app/?q=1"},
		{"a directory of static files: the Host's name, limpet's port", "alias.test:9999", "/dir", "http://alias.test" + port + "/dir/"},
		{"absolute_redirect off: a directory", "alias.test", "/off/dir", "/off/dir/"},
		{"port_in_redirect off: a directory", "alias.test:1234", "/noport/dir", "http://alias.test/noport/dir/"},
		{"absolute_redirect off", "alias.test", "/off/ret", "/x"},
		{"absolute_redirect off: the slash redirect", "alias.test", "/off/app", "/off/app/"},
		{"server_name_in_redirect on", "alias.test", "/name/ret", "http://primary.test" + port + "/x"},
		{"port_in_redirect off", "alias.test:1234", "/noport/ret", "http://alias.test/x"},
		{"off in the server", "server-off.test", "/", "/x"},
		{"off in the server, a server-level if", "server-off.test", "/?go=1", "/from-server-if"},
		{"on again in a location", "server-off.test", "/on/ret", "http://server-off.test" + port + "/x"},
	}
	c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, lb.url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			res, _ := do(t, c, req)
			if res.StatusCode < 300 || res.StatusCode > 308 {
				t.Fatalf("status %d, want a redirect", res.StatusCode)
			}
			if got := res.Header.Get("Location"); got != tt.want {
				t.Errorf("Location %q, want %q", got, tt.want)
			}
		})
	}

	// HTTP/1.0 without a Host: the address the connection came to.
	t.Run("no Host: the server's address", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(lb.url, "http://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("GET /ret HTTP/1.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := "http://127.0.0.1" + port + "/x?y=1"; res.Header.Get("Location") != want {
			t.Errorf("Location %q, want %q", res.Header.Get("Location"), want)
		}
	})
}

// TestSetArgs: `set $args` changes the arguments the upstream receives
// and those $args, $is_args, $query_string and $arg_NAME read, while
// $request_uri stays the client's request line, as nginx's set handler
// of $args.
func TestSetArgs(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s", r.URL.RequestURI())
	})
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location /add/ { set $args "from=lb&$args"; proxy_pass http://app; }
    location /uri/ { set $args "only=1"; proxy_pass http://app/v2/; }
    location /drop/ { set $args ""; proxy_pass http://app; }
    location /show/ {
        set $args "a=1&b=2";
        return 200 "args=$args is_args=$is_args qs=$query_string a=$arg_a b=$arg_b ruri=$request_uri";
    }
    location /empty/ { set $args ""; return 200 "[$args][$is_args]"; }
    location /then/ {
        set $args "k=v";
        rewrite ^/then/(.*)$ /done/$1 last;
    }
    location /done/ { proxy_pass http://app; }
}`, "{{app}}", app.addr())
	tests := []struct{ path, want string }{
		{"/add/x?q=1", "app /add/x?from=lb&q=1"},
		{"/add/x", "app /add/x?from=lb&"},
		{"/uri/x?q=1", "app /v2/x?only=1"},
		{"/drop/x?q=1", "app /drop/x"},
		{"/show/?z=9", "args=a=1&b=2 is_args=? qs=a=1&b=2 a=1 b=2 ruri=/show/?z=9"},
		{"/empty/?z=9", "[][]"},
		{"/then/p?z=9", "app /done/p?k=v"},
	}
	c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, c, lb.url+tt.path)
			if res.StatusCode != http.StatusOK || body != tt.want {
				t.Errorf("%d %q, want 200 %q", res.StatusCode, body, tt.want)
			}
		})
	}
}

// TestMapInHashKeyAndStickyDomain: a map's value as the key of `hash
// ... consistent` sends every user of one team to one server (an empty
// key would be balanced round-robin instead), and a map in a sticky
// cookie's domain= expands per request.
func TestMapInHashKeyAndStickyDomain(t *testing.T) {
	backends := []*backend{newBackend(t, "b1"), newBackend(t, "b2"), newBackend(t, "b3")}
	lb := startLimpet(t, `
map $http_x_user $team {
    default "";
    ~^(?<name>[a-z]+)-[0-9]+$ $name;
}
map $host $cookie_domain { default ""; ~^www\.(?<base>.+)$ .$base; }
upstream pool { hash $team consistent; server {{b1}}; server {{b2}}; server {{b3}}; }
upstream bycapture { hash $1; server {{b1}}; server {{b2}}; server {{b3}}; }
upstream sticky { server {{b1}}; sticky cookie srv domain=$cookie_domain; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://pool; }
    location /s/ { proxy_pass http://sticky; }
    location ~ ^/t/([a-z]+)/ { proxy_pass http://bycapture; }
}`, "{{b1}}", backends[0].addr(), "{{b2}}", backends[1].addr(), "{{b3}}", backends[2].addr())
	c := newClient(t)
	teams := []string{"red", "green", "blue", "amber", "violet", "teal", "coral", "olive"}
	for _, by := range []struct {
		name string
		get  func(team string, i int) string
	}{
		{"a map's named capture", func(team string, i int) string {
			_, body := get(t, c, lb.url+"/", "X-User", fmt.Sprintf("%s-%d", team, i))
			return body
		}},
		{"a regex location's $1", func(team string, i int) string {
			_, body := get(t, c, fmt.Sprintf("%s/t/%s/%d", lb.url, team, i))
			return body
		}},
	} {
		t.Run(by.name, func(t *testing.T) {
			seen := make(map[string]bool)
			for _, team := range teams {
				first := by.get(team, 1)
				for i := 2; i <= 6; i++ {
					if got := by.get(team, i); got != first {
						t.Errorf("%s %d went to %q, %s 1 to %q: one team, one server", team, i, got, team, first)
					}
				}
				seen[first] = true
			}
			if len(seen) < 2 {
				t.Errorf("%d teams all went to %v: the key does not spread", len(teams), seen)
			}
		})
	}

	req, _ := http.NewRequest(http.MethodGet, lb.url+"/s/", nil)
	req.Host = "www.example.test"
	res, _ := do(t, c, req)
	if sc := res.Header.Get("Set-Cookie"); !strings.Contains(sc, "; domain=.example.test") {
		t.Errorf("Set-Cookie %q, want domain=.example.test from the map", sc)
	}
}

// TestMapKeyedLimitReqAcrossReload: a limit_req zone keyed by a map
// keeps what it counts across a reload that adds a map before it (so
// the key's variable moves to another slot of the new registry), and the
// key then still reads its own map, not the one now in its old slot.
func TestMapKeyedLimitReqAcrossReload(t *testing.T) {
	app := newBackend(t, "app")
	const conf = `
upstream app { server {{app}}; }
%s
map $http_x_client $client { default $http_x_client; "" anonymous; }
limit_req_zone $client zone=perclient:1m rate=1r/m;
server {
    listen {{addr}};
    access_log off;
    %s
    location / { limit_req zone=perclient; proxy_pass http://app; }
}`
	addr := freePort(t)
	repl := []string{"{{app}}", app.addr(), "{{addr}}", addr}
	lb := startLimpet(t, strings.NewReplacer(repl...).Replace(fmt.Sprintf(conf, "", "")))
	c := newClient(t)
	status := func(client string) int {
		t.Helper()
		res, _ := get(t, c, lb.url+"/", "X-Client", client)
		return res.StatusCode
	}
	if got := status("alice"); got != http.StatusOK {
		t.Fatalf("alice's first request: %d, want 200", got)
	}
	if got := status("alice"); got != http.StatusServiceUnavailable {
		t.Fatalf("alice's second request: %d, want 503", got)
	}
	// A map before $client: $client's slot is taken by $shared, whose
	// value is the same for everyone and is read (and kept for the
	// request) before the limit runs.
	if err := lb.reload(t, fmt.Sprintf(conf, `map $uri $shared { default everyone; }`, `set $seen $shared;`), repl...); err != nil {
		t.Fatal(err)
	}
	if got := status("alice"); got != http.StatusServiceUnavailable {
		t.Errorf("alice after the reload: %d, want 503 (the zone kept her state)", got)
	}
	if got := status("bob"); got != http.StatusOK {
		t.Errorf("bob's first request after the reload: %d, want 200 (his own key, not $shared's)", got)
	}
	if got := status("bob"); got != http.StatusServiceUnavailable {
		t.Errorf("bob's second request: %d, want 503", got)
	}
}
