package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestAddHeaderErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"one argument", "server {\n add_header X-A;\n}", `invalid number of arguments in "add_header" directive in FILE:2`},
		{"four arguments", "server {\n add_header X-A a always always;\n}", `invalid number of arguments in "add_header" directive in FILE:2`},
		{"third argument not always", "http {\n add_header X-A a sometimes;\n}", `invalid parameter "sometimes" in FILE:2`},
		{"always is case-sensitive", "server { location / {\n add_header X-A a Always; } }", `invalid parameter "Always" in FILE:2`},
		{"name not a token", "server {\n add_header \"X A\" a;\n}", `invalid header name "X A" in "add_header" directive in FILE:2`},
		{"empty name", "server {\n add_header \"\" a;\n}", `invalid header name "" in "add_header" directive in FILE:2`},
		{"in upstream", "upstream u {\n server 10.0.0.1;\n add_header X-A a;\n}", `"add_header" directive is not allowed here in FILE:3`},
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

func TestAddHeaderInheritance(t *testing.T) {
	cfg := mustLoad(t, `http {
    add_header X-From http;
    server {
        location /inherit-http/ { }
    }
    server {
        add_header X-From server always;
        add_header X-Also "$host";
        location /inherit-server/ { }
        location /own/ {
            add_header X-From location;
            add_header X-From again;
            location /own/nested/ { }
            location /own/nested-own/ { add_header X-Nested "" always; }
        }
    }
}`)
	type hv struct {
		name, value string
		always      bool
	}
	headers := func(ps ProxySettings) []hv {
		var out []hv
		for _, h := range ps.AddHeaders {
			out = append(out, hv{h.Name, h.Value, h.Always})
		}
		return out
	}
	server := []hv{{"X-From", "server", true}, {"X-Also", "$host", false}}
	own := []hv{{"X-From", "location", false}, {"X-From", "again", false}}
	tests := []struct {
		name   string
		server int
		paths  []string
		want   []hv
	}{
		{"server inherits http", 0, nil, []hv{{"X-From", "http", false}}},
		{"location inherits http", 0, []string{"/inherit-http/"}, []hv{{"X-From", "http", false}}},
		{"server with its own list", 1, nil, server},
		{"location inherits server", 1, []string{"/inherit-server/"}, server},
		{"location with its own list drops the server's", 1, []string{"/own/"}, own},
		{"nested inherits its location", 1, []string{"/own/", "/own/nested/"}, own},
		{"nested with its own list", 1, []string{"/own/", "/own/nested-own/"}, []hv{{"X-Nested", "", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *cfg
			c.Servers = cfg.Servers[tt.server:]
			if got := headers(settingsOf(t, &c, tt.paths...)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAddHeaderNoneByDefault(t *testing.T) {
	cfg := mustLoad(t, "server { location / { } }")
	if got := settingsOf(t, cfg, "/").AddHeaders; got != nil {
		t.Errorf("AddHeaders = %v, want none", got)
	}
}

func TestAddHeaderListsAreNotShared(t *testing.T) {
	cfg := mustLoad(t, "add_header A a;\nserver { location /x/ { } location /y/ { } }")
	x := settingsOf(t, cfg, "/x/").AddHeaders
	x[0].Value = "changed"
	if y := settingsOf(t, cfg, "/y/").AddHeaders; y[0].Value != "a" || cfg.Servers[0].Proxy.AddHeaders[0].Value != "a" {
		t.Error("effective add_header lists share memory")
	}
}

// TestAddHeaderInheritModes: add_header_inherit and add_trailer_inherit
// (nginx 1.29.3) change the rule: off inherits nothing, merge appends the
// outer lines after a level's own; the mode itself is inherited.
func TestAddHeaderInheritModes(t *testing.T) {
	cfg := mustLoad(t, `
add_header X-Http http;
add_trailer X-T http;
server {
    add_header X-Server server;
    add_header_inherit merge;
    location /merge/ {
        add_header X-Loc loc;
        location /merge/deeper/ { add_header X-Deep deep; }
    }
    location /off/ { add_header_inherit off; add_trailer_inherit off; }
    location /on/ { add_header_inherit on; add_header X-Loc loc; }
    location /plain/ { }
}`)
	names := func(list []AddHeader) string {
		var out []string
		for _, h := range list {
			out = append(out, h.Name)
		}
		return strings.Join(out, ",")
	}
	srv := cfg.Servers[0]
	tests := []struct {
		loc              *Location
		headers, trailer string
	}{
		{srv.Locations[0], "X-Loc,X-Server,X-Http", "X-T"},
		{srv.Locations[0].Locations[0], "X-Deep,X-Loc,X-Server,X-Http", "X-T"},
		{srv.Locations[1], "", ""},
		{srv.Locations[2], "X-Loc", "X-T"},
		{srv.Locations[3], "X-Server,X-Http", "X-T"},
	}
	for _, tt := range tests {
		if got := names(tt.loc.Proxy.AddHeaders); got != tt.headers {
			t.Errorf("%s: add_header %q, want %q", tt.loc.Path, got, tt.headers)
		}
		if got := names(tt.loc.Proxy.AddTrailers); got != tt.trailer {
			t.Errorf("%s: add_trailer %q, want %q", tt.loc.Path, got, tt.trailer)
		}
	}
	if got := names(srv.Proxy.AddHeaders); got != "X-Server,X-Http" {
		t.Errorf("server %q", got)
	}
	_, path, err := load(t, "add_header_inherit sometimes;")
	if want := `invalid value "sometimes" in "add_header_inherit" directive in ` + path + ":1"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}
