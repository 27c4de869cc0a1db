package config

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// locationAt follows paths of nested locations in server i.
func locationAt(t *testing.T, cfg *Config, i int, paths ...string) *Location {
	t.Helper()
	locs := cfg.Servers[i].Locations
	var l *Location
	for _, p := range paths {
		l = nil
		for _, c := range locs {
			if c.Path == p {
				l = c
			}
		}
		if l == nil {
			t.Fatalf("no location %q", p)
		}
		locs = l.Locations
	}
	return l
}

func TestAccessInheritance(t *testing.T) {
	cfg, path, err := load(t, `allow 10.0.0.0/8;
deny all;
auth_basic "http realm";
auth_basic_user_file htpasswd;
server {
    location /inherit/ {
        location /inherit/nested/ { }
    }
    location /own/ {
        deny 10.0.0.1;
        auth_basic off;
        location /own/nested/ {
            auth_basic "nested";
        }
        limit_except GET { }
    }
    location /le/ {
        limit_except POST {
            allow 192.168.0.0/16;
            deny all;
            auth_basic_user_file /etc/limpet/le.htpasswd;
        }
    }
}
http {
    server {
        allow 2001:db8::/32;
        auth_basic_user_file /etc/limpet/server.htpasswd;
        location / {
            limit_except GET {
                deny all;
            }
        }
    }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	at := func(line int) Pos { return Pos{File: path, Line: line} }
	httpLevel := Access{
		Rules: []AccessRule{
			{Pos: at(1), Allow: true, Prefix: netip.MustParsePrefix("10.0.0.0/8")},
			{Pos: at(2), All: true},
		},
		AuthBasic:         "http realm",
		AuthBasicUserFile: filepath.Join(filepath.Dir(path), "htpasswd"),
		AuthPos:           at(4),
	}
	// A level with rules drops the outer rules; auth_basic off keeps the
	// inherited user file, which is inherited on its own.
	own := httpLevel
	own.Rules = []AccessRule{{Pos: at(10), Prefix: netip.MustParsePrefix("10.0.0.1/32")}}
	own.AuthBasic = ""
	ownNested := own
	ownNested.AuthBasic = "nested"
	le := httpLevel
	le.Rules = []AccessRule{
		{Pos: at(19), Allow: true, Prefix: netip.MustParsePrefix("192.168.0.0/16")},
		{Pos: at(20), All: true},
	}
	le.AuthBasicUserFile, le.AuthPos = "/etc/limpet/le.htpasswd", at(21)
	server1 := httpLevel
	server1.Rules = []AccessRule{{Pos: at(27), Allow: true, Prefix: netip.MustParsePrefix("2001:db8::/32")}}
	server1.AuthBasicUserFile, server1.AuthPos = "/etc/limpet/server.htpasswd", at(28)
	server1LE := server1
	server1LE.Rules = []AccessRule{{Pos: at(31), All: true}}

	tests := []struct {
		name   string
		got    Access
		want   Access
		method []string // limit_except methods, when got is a limit_except
		le     *LimitExcept
	}{
		{name: "server inherits http", got: cfg.Servers[0].Access, want: httpLevel},
		{name: "location inherits server", got: locationAt(t, cfg, 0, "/inherit/").Access, want: httpLevel},
		{name: "nested location inherits", got: locationAt(t, cfg, 0, "/inherit/", "/inherit/nested/").Access, want: httpLevel},
		{name: "own rules, auth_basic off", got: locationAt(t, cfg, 0, "/own/").Access, want: own},
		{name: "nested: rules of its parent, own realm", got: locationAt(t, cfg, 0, "/own/", "/own/nested/").Access, want: ownNested},
		{name: "empty limit_except inherits its location", le: locationAt(t, cfg, 0, "/own/").LimitExcept, want: own, method: []string{"GET", "HEAD"}},
		{name: "location without rules", got: locationAt(t, cfg, 0, "/le/").Access, want: httpLevel},
		{name: "limit_except with its own rules and file", le: locationAt(t, cfg, 0, "/le/").LimitExcept, want: le, method: []string{"POST"}},
		{name: "server with its own rules and file", got: cfg.Servers[1].Access, want: server1},
		{name: "location of that server", got: locationAt(t, cfg, 1, "/").Access, want: server1},
		{name: "limit_except of that location", le: locationAt(t, cfg, 1, "/").LimitExcept, want: server1LE, method: []string{"GET", "HEAD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.got
			if tt.method != nil {
				if tt.le == nil {
					t.Fatal("no LimitExcept")
				}
				got = tt.le.Access
				if !reflect.DeepEqual(tt.le.Methods, tt.method) {
					t.Errorf("methods %q, want %q", tt.le.Methods, tt.method)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if l := locationAt(t, cfg, 0, "/inherit/"); l.LimitExcept != nil {
		t.Errorf("LimitExcept %+v without limit_except", l.LimitExcept)
	}
}

func TestAccessDefaults(t *testing.T) {
	cfg := mustLoad(t, "server { location / { } }")
	for _, a := range []Access{cfg.Servers[0].Access, cfg.Servers[0].Locations[0].Access} {
		if !reflect.DeepEqual(a, Access{}) {
			t.Errorf("got %+v, want no access control", a)
		}
	}
}

func TestAccessRulesAreNotShared(t *testing.T) {
	cfg := mustLoad(t, "deny 10.0.0.1;\nserver { location /x/ { } location /y/ { } }")
	x := locationAt(t, cfg, 0, "/x/").Access.Rules
	x[0].Allow = true
	if locationAt(t, cfg, 0, "/y/").Access.Rules[0].Allow || cfg.Servers[0].Access.Rules[0].Allow {
		t.Error("effective rule lists share memory")
	}
}

func TestAccessRules(t *testing.T) {
	tests := []struct {
		arg    string
		all    bool
		prefix string
	}{
		{"all", true, ""},
		{"10.0.0.1", false, "10.0.0.1/32"},
		{"10.0.0.0/8", false, "10.0.0.0/8"},
		{"10.1.2.3/8", false, "10.0.0.0/8"}, // nginx warns and masks
		{"0.0.0.0/0", false, "0.0.0.0/0"},
		{"::1", false, "::1/128"},
		{"2001:DB8::1/32", false, "2001:db8::/32"},
		{"::ffff:10.0.0.1", false, "::ffff:10.0.0.1/128"},
	}
	for _, tt := range tests {
		for _, name := range []string{"allow", "deny"} {
			t.Run(name+" "+tt.arg, func(t *testing.T) {
				cfg := mustLoad(t, "server {\n "+name+" "+tt.arg+";\n}")
				rules := cfg.Servers[0].Access.Rules
				if len(rules) != 1 {
					t.Fatalf("rules %+v", rules)
				}
				r := rules[0]
				want := AccessRule{Pos: Pos{Line: 2}, Allow: name == "allow", All: tt.all}
				if tt.prefix != "" {
					want.Prefix = netip.MustParsePrefix(tt.prefix)
				}
				r.Pos = noFile(r.Pos)
				if r != want {
					t.Errorf("got %+v, want %+v", r, want)
				}
			})
		}
	}
}

func TestAuthBasicUserFilePaths(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"htpasswd", "DIR/htpasswd"},
		{"conf/users", "DIR/conf/users"},
		{"/etc/limpet/users", "/etc/limpet/users"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			cfg, path, err := load(t, "server {\n location / {\n  auth_basic_user_file "+tt.arg+";\n }\n}")
			if err != nil {
				t.Fatal(err)
			}
			a := cfg.Servers[0].Locations[0].Access
			want := strings.Replace(tt.want, "DIR", filepath.Dir(path), 1)
			if a.AuthBasicUserFile != want || a.AuthPos != (Pos{File: path, Line: 3}) || a.AuthBasic != "" {
				t.Errorf("got %+v, want file %s at line 3", a, want)
			}
		})
	}
}

func TestLimitExceptMethods(t *testing.T) {
	tests := []struct {
		args string
		want []string
	}{
		{"GET", []string{"GET", "HEAD"}},
		{"get Post", []string{"GET", "HEAD", "POST"}},
		{"HEAD GET", []string{"HEAD", "GET"}},
		{"GET HEAD GET", []string{"GET", "HEAD"}},
		{"POST PUT PATCH DELETE", []string{"POST", "PUT", "PATCH", "DELETE"}},
		{"MKCOL COPY MOVE OPTIONS PROPFIND PROPPATCH LOCK UNLOCK", []string{"MKCOL", "COPY", "MOVE", "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK"}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			cfg := mustLoad(t, "server {\n location / {\n  limit_except "+tt.args+" {\n  }\n }\n}")
			le := cfg.Servers[0].Locations[0].LimitExcept
			if le == nil {
				t.Fatal("no LimitExcept")
			}
			if !reflect.DeepEqual(le.Methods, tt.want) || le.Pos.Line != 3 {
				t.Errorf("methods %q at line %d, want %q at line 3", le.Methods, le.Pos.Line, tt.want)
			}
		})
	}
}

func TestStickyDebugHeader(t *testing.T) {
	cfg := mustLoad(t, `sticky_debug_header on;
server {
    location /inherit/ { }
    location /off/ {
        sticky_debug_header off;
        location /off/nested/ { }
    }
}
server {
    sticky_debug_header OFF;
    location /on/ { sticky_debug_header on; }
    location /inherit/ { }
}`)
	tests := []struct {
		name   string
		server int
		paths  []string
		want   bool
	}{
		{"server inherits http", 0, nil, true},
		{"location inherits", 0, []string{"/inherit/"}, true},
		{"location off", 0, []string{"/off/"}, false},
		{"nested inherits off", 0, []string{"/off/", "/off/nested/"}, false},
		{"server off", 1, nil, false},
		{"location on", 1, []string{"/on/"}, true},
		{"location inherits off", 1, []string{"/inherit/"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *cfg
			c.Servers = cfg.Servers[tt.server:]
			if got := settingsOf(t, &c, tt.paths...).StickyDebugHeader; got != tt.want {
				t.Errorf("StickyDebugHeader = %t, want %t", got, tt.want)
			}
		})
	}
}
