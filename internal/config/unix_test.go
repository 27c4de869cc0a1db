package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUnixUpstreamServers(t *testing.T) {
	long := "/" + strings.Repeat("s", maxUnixPath-1) // exactly the longest path
	tests := []struct {
		name string
		body string // inside upstream u { }, from line 2
		want []UpstreamServer
	}{
		{
			name: "defaults",
			body: "server unix:/var/www/discourse/tmp/sockets/thin.0.sock;",
			want: []UpstreamServer{{Pos: Pos{Line: 2}, Name: "unix:/var/www/discourse/tmp/sockets/thin.0.sock",
				Addr: "unix:/var/www/discourse/tmp/sockets/thin.0.sock", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}},
		},
		{
			name: "every parameter, beside a TCP server",
			body: "server unix:/run/a.sock weight=3 max_fails=2 fail_timeout=5s max_conns=7 route=a slow_start=10s;\n" +
				"server 10.0.0.1:8080 backup;\nserver unix:/run/b.sock down drain;",
			want: []UpstreamServer{
				{Pos: Pos{Line: 2}, Name: "unix:/run/a.sock", Addr: "unix:/run/a.sock", Weight: 3, MaxFails: 2, FailTimeout: 5 * time.Second, MaxConns: 7, Route: "a", SlowStart: 10 * time.Second},
				{Pos: Pos{Line: 3}, Name: "10.0.0.1:8080", Addr: "10.0.0.1:8080", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second, Backup: true},
				{Pos: Pos{Line: 4}, Name: "unix:/run/b.sock", Addr: "unix:/run/b.sock", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second, Down: true, Drain: true},
			},
		},
		{
			// nginx parses the socket as one address already: resolve
			// has nothing to do and the server is static.
			name: "resolve changes nothing",
			body: "server unix:/run/a.sock resolve;",
			want: []UpstreamServer{{Pos: Pos{Line: 2}, Name: "unix:/run/a.sock", Addr: "unix:/run/a.sock", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}},
		},
		{
			name: "a relative path and a colon in the path are kept as written",
			body: "server unix:run/a:b.sock;",
			want: []UpstreamServer{{Pos: Pos{Line: 2}, Name: "unix:run/a:b.sock", Addr: "unix:run/a:b.sock", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}},
		},
		{
			name: "the longest path",
			body: "server unix:" + long + ";",
			want: []UpstreamServer{{Pos: Pos{Line: 2}, Name: "unix:" + long, Addr: "unix:" + long, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "upstream u {\n"+tt.body+"\n}\n")
			var got []UpstreamServer
			for _, s := range cfg.Upstreams[0].Servers {
				one := *s
				one.Pos = noFile(one.Pos)
				got = append(got, one)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if n := len(cfg.Upstreams[0].Resolve); n != 0 {
				t.Errorf("%d servers resolved at run time, want none", n)
			}
		})
	}
}

func TestUnixProxyPass(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		addr   string
		uri    string
		hasURI bool
	}{
		{"no URI", "http://unix:/tmp/app.sock", "unix:/tmp/app.sock", "", false},
		{"empty URI after the colon is none", "http://unix:/tmp/app.sock:", "unix:/tmp/app.sock", "", false},
		{"root URI", "http://unix:/tmp/app.sock:/", "unix:/tmp/app.sock", "/", true},
		{"URI", "http://unix:/tmp/app.sock:/app/v1/", "unix:/tmp/app.sock", "/app/v1/", true},
		{"the path ends at the first colon", "http://unix:/tmp/a:b.sock", "unix:/tmp/a", "b.sock", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, fmt.Sprintf("server {\n    location / {\n        proxy_pass %s;\n    }\n}\n", tt.url))
			pp := cfg.Servers[0].Locations[0].ProxyPass
			want := ProxyPass{Pos: pp.Pos, URL: tt.url, Scheme: "http", Host: tt.addr, Addr: tt.addr, HasURI: tt.hasURI, URI: tt.uri}
			if *pp != want || pp.Pos.Line != 3 {
				t.Errorf("got  %+v\nwant %+v on line 3", *pp, want)
			}
		})
	}
}

func TestUnixProxyPassInRegexLocationWithoutURI(t *testing.T) {
	cfg := mustLoad(t, "server { location ~ ^/api { proxy_pass http://unix:/tmp/app.sock:; } }")
	if pp := cfg.Servers[0].Locations[0].ProxyPass; pp.HasURI || pp.Addr != "unix:/tmp/app.sock" {
		t.Errorf("got %+v", *pp)
	}
}

func TestUnixErrors(t *testing.T) {
	long := "/" + strings.Repeat("s", maxUnixPath)
	tests := []struct {
		name, src, want string
	}{
		{"server without a path", "upstream a {\n server unix:;\n}", `no path in the unix domain socket in upstream "unix:" in FILE:2`},
		{"server with too long a path", "upstream a {\n server unix:" + long + ";\n}", `too long path in the unix domain socket in upstream "unix:` + long + `" in FILE:2`},
		{"server with a bad parameter", "upstream a {\n server unix:/run/a.sock weight=0;\n}", `invalid parameter "weight=0" in FILE:2`},
		{"service without resolve", "upstream a {\n zone a 64k;\n server unix:/run/a.sock service=http;\n}", `service upstream "unix:/run/a.sock" requires "resolve" parameter in FILE:3`},
		{"service with resolve", "upstream a {\n zone a 64k;\n server unix:/run/a.sock service=http resolve;\n}", `service upstream "unix:/run/a.sock" may not have port in FILE:3`},
		{"backup with ip_hash", "upstream a {\n ip_hash;\n server unix:/run/a.sock;\n server unix:/run/b.sock backup;\n}", `invalid parameter "backup" in FILE:4`},
		{"proxy_pass without a path", "server { location / {\n proxy_pass http://unix:;\n} }", `no path in the unix domain socket in upstream "unix:" in FILE:2`},
		{"proxy_pass with a URI but no path", "server { location / {\n proxy_pass http://unix::/app;\n} }", `no path in the unix domain socket in upstream "unix::/app" in FILE:2`},
		{"proxy_pass with too long a path", "server { location / {\n proxy_pass http://unix:" + long + ":/;\n} }", `too long path in the unix domain socket in upstream "unix:` + long + `:/" in FILE:2`},
		{"proxy_pass with a URI in a regex location", "server { location ~ ^/a {\n proxy_pass http://unix:/run/a.sock:/x;\n} }",
			`"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in FILE:2`},
		{"duplicate proxy_pass", "server { location / {\n proxy_pass http://unix:/run/a.sock;\n proxy_pass http://unix:/run/a.sock;\n} }", `"proxy_pass" directive is duplicate in FILE:3`},
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

// `allow unix:` and `deny unix:` are kept as rules for unix-domain
// clients; only the bare "unix:" is one, as in nginx.
func TestUnixAccessRules(t *testing.T) {
	cfg := mustLoad(t, "server {\n allow unix:;\n deny unix:;\n deny all;\n}")
	rules := cfg.Servers[0].Access.Rules
	want := []AccessRule{{Pos: Pos{Line: 2}, Allow: true, Unix: true}, {Pos: Pos{Line: 3}, Unix: true}, {Pos: Pos{Line: 4}, All: true}}
	if len(rules) != len(want) {
		t.Fatalf("rules %+v, want %+v", rules, want)
	}
	for i := range rules {
		if r := rules[i]; noFile(r.Pos) != want[i].Pos || r.Allow != want[i].Allow || r.Unix != want[i].Unix || r.All != want[i].All || r.Prefix.IsValid() {
			t.Errorf("rule %d: %+v, want %+v", i, r, want[i])
		}
	}
}
