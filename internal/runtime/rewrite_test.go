package runtime

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

// TestRewriteMapIf runs the rewrite and map modules through a whole
// limpet with real backends: the redirect to https, rewrite with each
// flag, the cycle limit, captures of locations, server_name, map and if,
// map with hostnames and regexes picking an upstream, set and if with
// return, and an if block that proxies elsewhere.
func TestRewriteMapIf(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s", r.URL.RequestURI())
	})
	other := newBackend(t, "other")
	other.setHandler(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "other %s conn=%s", r.URL.RequestURI(), r.Header.Get("X-Conn"))
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hosts.map"), []byte("included.test  other;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := startLimpet(t, `
upstream app { server {{app}}; }
upstream other { server {{other}}; }
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
map $host $pool {
    hostnames;
    default app;
    *.other.test other;
    .wild.test other;
    shop.* other;
    include {{dir}}/hosts.map;
}
map $uri $section {
    default none;
    ~^/sec/(?<part>[a-z]+)/(\d+)$ "$part-$2";
    ~*^/CASE/ caseless;
}
map "$arg_a:$arg_b" $pair { default no; "1:2" yes; }
server {
    listen 127.0.0.1:0;
    server_name redirect.test;
    access_log off;
    return 301 https://$host$request_uri;
}
server {
    listen 127.0.0.1:0;
    server_name ~^(?<sub>[a-z]+)\.named\.test$ ~^(www)\.digits\.test$;
    access_log off;
    location / { return 200 "sub=$sub 1=$1"; }
}
server {
    listen 127.0.0.1:0 default_server;
    server_name main.test;
    access_log off;
    rewrite ^/old/(.*)$ /new/$1;
    location /new/ { return 200 "new $uri $args"; }
    location /pool/ { return 200 "pool=$pool conn=$connection_upgrade"; }
    location /conn/ { proxy_set_header X-Conn $connection_upgrade; proxy_pass http://other; }
    location /php/ { rewrite ^/php/(.*)$ /index.php?q=$1 last; }
    location = /index.php { return 200 "php $args"; }
    location /keep/ { rewrite ^/keep/(.*)$ /kept/$1 last; }
    location /kept/ { return 200 "kept $uri $args"; }
    location /drop/ { rewrite ^/drop/(.*)$ /kept/$1? last; }
    location /brk/ { rewrite ^/brk/(.*)$ /inner/$1 break; proxy_pass http://app/ignored/; }
    location /red/ { rewrite ^/red/(.*)$ /target/$1 redirect; }
    location /perm/ { rewrite ^/perm/(.*)$ /target/$1 permanent; }
    location /abs/ { rewrite ^ http://elsewhere.test/x; }
    location /loop/ { rewrite ^/loop/(.*)$ /loop/$1 last; }
    location ~ ^/u/(\d+)$ { return 200 "user $1"; }
    location ~ ^/n/(?<id>\d+)$ { proxy_pass http://app; proxy_set_header X-Id $id; }
    location /sec/ { return 200 "section $section part=$part"; }
    location /CASE/ { return 200 "section $section"; }
    location /pair { return 200 $pair; }
    location /set/ {
        set $deny "";
        if ($arg_user = bob) { set $deny yes; }
        if ($deny) { return 403; }
        if ($http_x_agent ~* ^(curl|wget)/(?<ver>[0-9.]+)) { return 200 "agent $1 $ver"; }
        if ($arg_x !~ ^ok$) { return 400 "not ok"; }
        return 200 "allowed";
    }
    location /evil/ {
        add_header X-Where location;
        if ($arg_to = other) {
            add_header X-Where if;
            proxy_pass http://other;
        }
        proxy_pass http://app;
    }
    location /brkdir/ { set $a one; break; return 200 "not reached"; }
    location /brkafter/ { set $a one; if ($a) { break; } return 200 "not reached"; }
    location /order/ { set $v first; return 200 $v; }
    location /named/ { rewrite ^/named/(?<word>\w+)$ /kept/$word?w=$word last; }
    location /esc/ { rewrite ^/esc/(.*)$ /kept/$1?q=$1 last; }
    location /esc2/ { rewrite ^(.*)$ $1?from=$1; return 200 "uri:$uri args:$args"; }
    location /to/ { rewrite ^ $arg_r? redirect; }
    location /ifhdr/ { if ($arg_deny) { add_header X-Denied yes always; return 403; } return 200 ok; }
}
server {
    listen 127.0.0.1:0;
    server_name serverif.test;
    access_log off;
    if ($http_x_block) { return 403 "blocked by the server"; }
    if ($request_method = POST) { rewrite ^ /post last; }
    location / { return 200 "uri $uri"; }
}
server {
    listen 127.0.0.1:0;
    server_name lonereturn.test;
    access_log off;
    return 200 "lone $pool";
    location / { return 404; }
}`, "{{app}}", app.addr(), "{{other}}", other.addr(), "{{dir}}", dir)
	c := newClient(t)

	// limpet's own relative redirects are made absolute, with the port
	// limpet listens on (absolute_redirect and port_in_redirect, on).
	port := lb.url[strings.LastIndexByte(lb.url, ':'):]
	tests := []struct {
		name     string
		host     string
		path     string
		header   []string
		status   int
		body     string
		location string
		hdr      map[string]string
	}{
		{name: "return 301 https://$host$request_uri", host: "redirect.test", path: "/a/b?c=d",
			status: 301, location: "https://redirect.test/a/b?c=d"},
		{name: "server-level rewrite before the location", path: "/old/x?y=1", status: 200, body: "new /new/x y=1"},
		{name: "map with hostnames: a wildcard", host: "a.other.test", path: "/pool/p", status: 200, body: "pool=other conn=close"},
		{name: "map: .wild.test matches the bare name", host: "wild.test", path: "/pool/", status: 200, body: "pool=other conn=close"},
		{name: "map: .wild.test matches a subdomain", host: "a.b.wild.test", path: "/pool/", status: 200, body: "pool=other conn=close"},
		{name: "map: tail wildcard", host: "shop.example", path: "/pool/", status: 200, body: "pool=other conn=close"},
		{name: "map: included file, caseless", host: "Included.TEST", path: "/pool/", status: 200, body: "pool=other conn=close"},
		{name: "map: default", host: "main.test", path: "/pool/", status: 200, body: "pool=app conn=close"},
		{name: "map $connection_upgrade proxied", path: "/conn/", header: []string{"Upgrade", "h2c"},
			status: 200, body: "other /conn/ conn=upgrade"},
		{name: "rewrite last to /index.php?q=$1", path: "/php/a/b", status: 200, body: "php q=a/b"},
		{name: "rewrite last appends the arguments", path: "/php/a?z=1", status: 200, body: "php q=a&z=1"},
		{name: "rewrite last keeps the arguments", path: "/keep/k?z=1", status: 200, body: "kept /kept/k z=1"},
		{name: "rewrite ... ? drops the arguments", path: "/drop/k?z=1", status: 200, body: "kept /kept/k "},
		{name: "rewrite break: the whole new URI is proxied", path: "/brk/x?q=1", status: 200, body: "app /inner/x?q=1"},
		{name: "rewrite redirect", path: "/red/x?q=1", status: 302, location: "http://main.test" + port + "/target/x?q=1"},
		{name: "rewrite permanent", path: "/perm/x", status: 301, location: "http://main.test" + port + "/target/x"},
		{name: "rewrite to http:// redirects", path: "/abs/", status: 302, location: "http://elsewhere.test/x"},
		{name: "the cycle limit", path: "/loop/x", status: 500},
		{name: "regex location capture", path: "/u/42", status: 200, body: "user 42"},
		{name: "named capture of a location proxied in a header", path: "/n/7", status: 200, body: "app /n/7"},
		{name: "server_name named capture", host: "abc.named.test", path: "/", status: 200, body: "sub=abc 1=abc"},
		{name: "server_name positional capture", host: "www.digits.test", path: "/", status: 200, body: "sub= 1=www"},
		{name: "map regex with named and positional captures", path: "/sec/abc/12", status: 200, body: "section abc-12 part=abc"},
		{name: "map caseless regex", path: "/CASE/", status: 200, body: "section caseless"},
		{name: "map of a complex value", path: "/pair?a=1&b=2", status: 200, body: "yes"},
		{name: "map of a complex value, no match", path: "/pair?a=1", status: 200, body: "no"},
		{name: "set and if with return", path: "/set/?user=bob", status: 403},
		{name: "if regex captures", path: "/set/", header: []string{"X-Agent", "Curl/8.1"}, status: 200, body: "agent Curl 8.1"},
		{name: "if !~", path: "/set/?x=no", status: 400, body: "not ok"},
		{name: "falls through to return", path: "/set/?x=ok", status: 200, body: "allowed"},
		{name: "if block proxies elsewhere with its own add_header", path: "/evil/a?to=other", status: 200,
			body: "other /evil/a?to=other conn=", hdr: map[string]string{"X-Where": "if"}},
		{name: "condition false: the location's own", path: "/evil/a", status: 200, body: "app /evil/a",
			hdr: map[string]string{"X-Where": "location"}},
		{name: "break stops the rewrite directives", path: "/brkdir/", status: 404},
		{name: "break inside if", path: "/brkafter/", status: 404},
		{name: "return runs in order with set", path: "/order/", status: 200, body: "first"},
		{name: "named capture of a rewrite", path: "/named/abc?z=1", status: 200, body: "kept /kept/abc w=abc&z=1"},
		{name: "a capture in the arguments is escaped when the URI was", path: "/esc/a%26b?z=1", status: 200, body: "kept /kept/a&b q=a%26b&z=1"},
		{name: "a capture in the arguments as is when the URI was not", path: "/esc/ab?z=1", status: 200, body: "kept /kept/ab q=ab&z=1"},
		{name: "rewrite without a flag, then return", path: "/esc2/%25?a=b", status: 200, body: "uri:/esc2/% args:from=/esc2/%25&a=b"},
		{name: "a redirect's target is unescaped", path: "/to/?r=http%3A%2F%2Fapp.test%2F%3Fsrc", status: 302, location: "http://app.test/?src"},
		{name: "a redirect keeps CR LF escaped", path: "/to/?r=http%3A%2F%2Fapp.test%2Fa%0D%0AX-Bad:%201", status: 302, location: "http://app.test/a%0D%0AX-Bad:%201"},
		{name: "the if block's add_header on its return", path: "/ifhdr/?deny=1", status: 403, hdr: map[string]string{"X-Denied": "yes"}},
		{name: "without the if, no header", path: "/ifhdr/", status: 200, body: "ok", hdr: map[string]string{"X-Denied": ""}},
		{name: "server-level if", host: "serverif.test", path: "/x", header: []string{"X-Block", "1"}, status: 403, body: "blocked by the server"},
		{name: "a server's lone return answers every request", host: "lonereturn.test", path: "/x", status: 200, body: "lone app"},
		{name: "server-level if not taken", host: "serverif.test", path: "/x", status: 200, body: "uri /x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, lb.url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			if req.Host == "" {
				req.Host = "main.test"
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			res, body := do(t, c, req)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tt.status, body)
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if tt.location != "" && res.Header.Get("Location") != tt.location {
				t.Errorf("Location %q, want %q", res.Header.Get("Location"), tt.location)
			}
			for k, v := range tt.hdr {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
	// The named capture of the regex location reached the backend.
	get(t, c, lb.url+"/n/99")
	if r, _ := app.lastRequest(); r.Header.Get("X-Id") != "99" {
		t.Errorf("X-Id %q, want 99", r.Header.Get("X-Id"))
	}
}

// TestRewriteConfigErrors: what nginx refuses is refused at the line at
// fault, in nginx's words, whether the config package or the compilation
// of variables finds it.
func TestRewriteConfigErrors(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"unknown variable in set", "server { listen 127.0.0.1:0;\nset $a $nope; }", `unknown "nope" variable in %s:2`},
		{"unknown variable in if", "server { listen 127.0.0.1:0;\nif ($nope) { return 403; } }", `unknown "nope" variable in %s:2`},
		{"unknown variable in a map value", "map $host $m {\ndefault $nope; }\nserver { listen 127.0.0.1:0; }", `unknown "nope" variable in %s:2`},
		{"unknown variable in rewrite", "server { listen 127.0.0.1:0; location / {\nrewrite ^ /$nope; } }", `unknown "nope" variable in %s:2`},
		{"unknown variable in a hash key", "upstream u { hash $nope; server 127.0.0.1:1; }\nserver { listen 127.0.0.1:0; }", `unknown "nope" variable in %s:1`},
		{"unknown variable in a limit_req_zone key", "limit_req_zone $nope zone=z:1m rate=1r/s;\nserver { listen 127.0.0.1:0; }", `unknown "nope" variable in %s:1`},
		{"set of a builtin", "server { listen 127.0.0.1:0;\nset $host x; }", `the duplicate "host" variable in %s:2`},
		{"two maps of one variable", "map $host $m { }\nmap $uri $m { }\nserver { listen 127.0.0.1:0; }", `the duplicate "m" variable in %s:2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "limpet.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path, config.Options{})
			if err == nil {
				_, err = New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler)})
			}
			want := fmt.Sprintf(tt.want, path)
			if err == nil || err.Error() != want {
				t.Errorf("error %v, want %s", err, want)
			}
		})
	}
}

// TestRegexCaptureOnly: a configuration whose only use of the new
// machinery is a location's capture in a return or a header still
// records the capture.
func TestRegexCaptureOnly(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location ~ ^/u/(\d+)/(\w+)$ { return 200 "user $1 $2"; }
    location ~ ^/p/(\d+)$ { proxy_set_header X-Id $1; proxy_pass http://app; }
}`, "{{app}}", app.addr())
	c := newClient(t)
	if _, body := get(t, c, lb.url+"/u/42/x"); body != "user 42 x" {
		t.Errorf("body %q, want %q", body, "user 42 x")
	}
	get(t, c, lb.url+"/p/7")
	if r, _ := app.lastRequest(); r.Header.Get("X-Id") != "7" {
		t.Errorf("X-Id %q, want 7", r.Header.Get("X-Id"))
	}
}

// TestIfFileTests: -f, -d, -e, -x and their negations on a path with
// variables, against files the test makes.
func TestIfFileTests(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"file": 0o644, "exec": 0o755} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "file"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	var locs strings.Builder
	for _, op := range []string{"-f", "-d", "-e", "-x"} {
		for _, neg := range []string{"", "!"} {
			fmt.Fprintf(&locs, "    location = /%s%s { if (%s%s {{dir}}/$arg_c) { return 204; } return 200; }\n", neg, op[1:], neg, op)
		}
	}
	lb := startLimpet(t, "server {\n    listen 127.0.0.1:0;\n    access_log off;\n"+locs.String()+"}", "{{dir}}", dir)
	c := newClient(t)
	tests := []struct {
		loc  string
		yes  []string // the names the test holds for
		none []string
	}{
		{"f", []string{"file", "exec", "link"}, []string{"dir", "missing"}},
		{"d", []string{"dir"}, []string{"file", "missing"}},
		{"e", []string{"file", "dir", "link"}, []string{"missing"}},
		{"x", []string{"exec", "dir"}, []string{"file", "missing"}},
	}
	for _, tt := range tests {
		for _, neg := range []bool{false, true} {
			for _, set := range []struct {
				names []string
				holds bool
			}{{tt.yes, true}, {tt.none, false}} {
				for _, name := range set.names {
					holds := set.holds != neg
					loc := tt.loc
					if neg {
						loc = "!" + loc
					}
					want := 200
					if holds {
						want = 204
					}
					if res, _ := get(t, c, lb.url+"/"+loc+"?c="+name); res.StatusCode != want {
						t.Errorf("%s on %s: %d, want %d", loc, name, res.StatusCode, want)
					}
				}
			}
		}
	}
}
