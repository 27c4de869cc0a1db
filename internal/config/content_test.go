package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestContentHandlers(t *testing.T) {
	tests := []struct {
		name      string
		body      string // inside location / { }, from line 3
		api       *API
		metrics   bool
		dashboard bool
		proxy     bool // the location has proxy_pass
		ret       bool // the location has return
	}{
		{"api, read-only by default", "api;", &API{Pos: Pos{Line: 3}}, false, false, false, false},
		{"api write=on", "api write=on;", &API{Pos: Pos{Line: 3}, Write: true}, false, false, false, false},
		{"api write=off", "\napi write=off;", &API{Pos: Pos{Line: 4}}, false, false, false, false},
		{"metrics", "metrics;", nil, true, false, false, false},
		{"dashboard", "dashboard;", nil, false, true, false, false},
		{"proxy_pass with return: return answers", "proxy_pass http://10.0.0.1;\nreturn 503;", nil, false, false, true, true},
		{"return with proxy_pass", "return 503;\nproxy_pass http://10.0.0.1;", nil, false, false, true, true},
		{"api with origins, normalised as browsers send them", "api write=on origin=https://ops.example.com origin=HTTP://Ops.Example.COM:80 origin=https://[2001:DB8::1]:8443 origin=http://10.0.0.1:8082 origin=https://ops.example.com:443;",
			&API{Pos: Pos{Line: 3}, Write: true, Origins: []string{"https://ops.example.com", "http://ops.example.com", "https://[2001:db8::1]:8443", "http://10.0.0.1:8082"}}, false, false, false, false},
		{"origin before write", "api origin=http://a.example write=off;", &API{Pos: Pos{Line: 3}, Origins: []string{"http://a.example"}}, false, false, false, false},
		{"nested location with another handler", "api;\nlocation /x { metrics; }", &API{Pos: Pos{Line: 3}}, false, false, false, false},
		{"none", "", nil, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "server {\n location / {\n"+tt.body+"\n }\n}")
			loc := cfg.Servers[0].Locations[0]
			api := loc.API
			if api != nil {
				a := *api
				a.Pos = noFile(a.Pos)
				api = &a
			}
			if (api == nil) != (tt.api == nil) || (api != nil && !reflect.DeepEqual(*api, *tt.api)) {
				t.Errorf("API %+v, want %+v", api, tt.api)
			}
			if loc.Metrics != tt.metrics || loc.Dashboard != tt.dashboard ||
				(loc.ProxyPass != nil) != tt.proxy || (loc.Return != nil) != tt.ret {
				t.Errorf("metrics %t dashboard %t proxy_pass %v return %v", loc.Metrics, loc.Dashboard, loc.ProxyPass, loc.Return)
			}
		})
	}
}

// A bad origin= is refused with the value as written; every one of these
// is something a browser never sends as an Origin.
func TestAPIOriginErrors(t *testing.T) {
	for _, origin := range []string{
		"", "ops.example.com", "//ops.example.com", "ftp://ops.example.com", "https://", "https://ops.example.com/",
		"https://ops.example.com/admin", "https://ops.example.com?x", "https://ops.example.com?", "https://ops.example.com#",
		"https://user@ops.example.com", "https://ops.example.com:", "https://ops.example.com:0", "https://ops.example.com:65536",
		"https://ops.example.com:08443", "https://ops.example.com:http", "null", "*", "https://ops example.com",
	} {
		t.Run(origin, func(t *testing.T) {
			_, path, err := load(t, "server { location /api/ {\n api write=on \"origin="+origin+"\";\n} }")
			want := `invalid origin "` + origin + `" in "api" directive, it must be "http://HOST[:PORT]" or "https://HOST[:PORT]" in ` + path + ":2"
			if err == nil || err.Error() != want {
				t.Errorf("error %v\nwant  %s", err, want)
			}
		})
	}
}

// -t warns about every location of the API, the metrics or the dashboard
// that every client may reach, counting access control inherited as
// nginx inherits it.
func TestOpenAdminWarnings(t *testing.T) {
	const open = ` is open to every address: no "allow", "deny" or "auth_basic" applies to location `
	tests := []struct {
		name string
		src  string
		want []string // FILE stands for the file
	}{
		{"api without access control", "server {\n location /api/ { api write=on; }\n}",
			[]string{`"api"` + open + `"/api/" in FILE:2`}},
		{"metrics and dashboard too", "server {\n location = /metrics { metrics; }\n location /dashboard/ {\n dashboard;\n }\n}",
			[]string{`"metrics"` + open + `"= /metrics" in FILE:2`, `"dashboard"` + open + `"/dashboard/" in FILE:3`}},
		{"rules in the location", "server { location /api/ {\n api;\n allow 127.0.0.1;\n deny all;\n} }", nil},
		{"rules inherited from the server", "server {\n allow 127.0.0.1;\n deny all;\n location /api/ { api; }\n location = /metrics { metrics; }\n}", nil},
		{"rules inherited from http", "http {\n deny all;\n server { location /dashboard/ { dashboard; } }\n}", nil},
		{"rules inherited from an enclosing location", "server { location /admin/ {\n allow 10.0.0.0/8;\n deny all;\n location /admin/api/ { api; }\n} }", nil},
		{"auth_basic inherited from the server", "server {\n auth_basic admin;\n auth_basic_user_file api.htpasswd;\n location /api/ { api write=on; }\n}", nil},
		{"explicit allow all", "server { location = /metrics { metrics; allow all; } }", nil},
		{"auth_basic off in the location", "server {\n auth_basic admin;\n auth_basic_user_file api.htpasswd;\n location /api/ {\n api;\n auth_basic off;\n }\n}",
			[]string{`"api"` + open + `"/api/" in FILE:4`}},
		{"rules in a sibling location do not count", "server {\n location / { deny all; }\n location /api/ { api; }\n}",
			[]string{`"api"` + open + `"/api/" in FILE:3`}},
		{"limit_except guards the writes only", "server {\n location /api/ {\n api write=on;\n limit_except GET { auth_basic api; auth_basic_user_file api.htpasswd; }\n }\n}",
			[]string{`"api" is open to every address for GET, HEAD: no "allow", "deny" or "auth_basic" applies to location "/api/" in FILE:2`}},
		{"limit_except that guards nothing", "server {\n location /api/ {\n api write=on;\n limit_except GET { }\n }\n}",
			[]string{`"api"` + open + `"/api/" in FILE:2`}},
		{"an allow list without deny all", "server { location /api/ {\n api write=on;\n allow 10.0.0.0/8;\n} }",
			[]string{`"api" is open to every address: its "allow" and "deny" rules do not end with "deny all" in location "/api/" in FILE:1`}},
		{"a lone deny", "server {\n deny 10.0.0.1;\n location = /metrics { metrics; }\n}",
			[]string{`"metrics" is open to every address: its "allow" and "deny" rules do not end with "deny all" in location "= /metrics" in FILE:3`}},
		{"proxied locations are not checked", "server { location / { proxy_pass http://10.0.0.1; } }", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, path, err := load(t, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cfg.Warnings {
				got = append(got, w.String())
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "FILE", path))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("warnings:\n%q\nwant\n%q", got, want)
			}
		})
	}
}
