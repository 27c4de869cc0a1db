package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestAuthRequestInheritance: auth_request and auth_request_set merge
// from http to server to location as nginx merges them: auth_request on
// its own, auth_request_set as a whole list.
func TestAuthRequestInheritance(t *testing.T) {
	cfg, path, err := load(t, `auth_request /http;
auth_request_set $user $upstream_http_x_user;
server {
    location /inherit/ {
        location /inherit/nested/ { auth_request off; }
    }
    location /own/ {
        auth_request /own?x=1;
        auth_request_set $a $upstream_http_a;
        auth_request_set $b "b $upstream_status";
    }
}
server {
    auth_request off;
    location / { }
}`)
	if err != nil {
		t.Fatal(err)
	}
	httpSets := []AuthRequestSet{{Pos: Pos{File: path, Line: 2}, Var: "user", Value: "$upstream_http_x_user"}}
	tests := []struct {
		name string
		got  Access
		uri  string
		sets []AuthRequestSet
	}{
		{"server", cfg.Servers[0].Access, "/http", httpSets},
		{"inherited", locationAt(t, cfg, 0, "/inherit/").Access, "/http", httpSets},
		{"off nested", locationAt(t, cfg, 0, "/inherit/", "/inherit/nested/").Access, "", httpSets},
		{"own", locationAt(t, cfg, 0, "/own/").Access, "/own?x=1", []AuthRequestSet{
			{Pos: Pos{File: path, Line: 9}, Var: "a", Value: "$upstream_http_a"},
			{Pos: Pos{File: path, Line: 10}, Var: "b", Value: "b $upstream_status"},
		}},
		{"server off", locationAt(t, cfg, 1, "/").Access, "", httpSets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.AuthRequest != tt.uri {
				t.Errorf("auth_request %q, want %q", tt.got.AuthRequest, tt.uri)
			}
			if !reflect.DeepEqual(tt.got.AuthRequestSet, tt.sets) {
				t.Errorf("auth_request_set %+v, want %+v", tt.got.AuthRequestSet, tt.sets)
			}
		})
	}
}

func TestAuthRequestErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"duplicate", "server {\n auth_request /a;\n auth_request /b;\n}", `"auth_request" directive is duplicate in FILE:3`},
		{"no argument", "server { auth_request; }", `invalid number of arguments in "auth_request" directive in FILE:1`},
		{"relative URI", "server {\n location / { auth_request auth; }\n}", `invalid URI "auth" in "auth_request" directive: it must start with "/" in FILE:2`},
		{"not in if", "server { location / { if ($arg_a) { auth_request /a; } } }", `"auth_request" directive is not allowed here in FILE:1`},
		{"set without $", "server { auth_request_set user $upstream_http_x; }", `invalid variable name "user" in FILE:1`},
		{"set one argument", "server { auth_request_set $user; }", `invalid number of arguments in "auth_request_set" directive in FILE:1`},
		{"satisfy any", "server {\n location / {\n  satisfy any;\n }\n}", `"satisfy any" is not supported by limpet in FILE:3`},
		{"satisfy bad", "server { satisfy some; }", `invalid value "some" in "satisfy" directive, it must be "all" or "any" in FILE:1`},
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
	if _, _, err := load(t, "satisfy all;\nserver { satisfy all; location / { satisfy all; } }"); err != nil {
		t.Errorf("satisfy all: %v", err)
	}
}

// TestAuthRequestGuardsAdmin: an api location behind auth_request is
// not reported as open to every address.
func TestAuthRequestGuardsAdmin(t *testing.T) {
	for _, tt := range []struct {
		auth string
		open bool
	}{{"auth_request /auth;", false}, {"auth_request off;", true}} {
		cfg, _, err := load(t, "server {\n location /api/ { "+tt.auth+" api; }\n location = /auth { internal; return 204; }\n}")
		if err != nil {
			t.Fatal(err)
		}
		open := false
		for _, w := range cfg.Warnings {
			open = open || strings.Contains(w.Msg, "open to every address")
		}
		if open != tt.open {
			t.Errorf("%s: warned open %v, want %v (%v)", tt.auth, open, tt.open, cfg.Warnings)
		}
	}
}
