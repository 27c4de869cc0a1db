package config

import (
	"strings"
	"testing"
)

func TestRewriteErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"rewrite flag", "server {\n rewrite ^ /x lst;\n}", `invalid parameter "lst" in FILE:2`},
		{"rewrite empty replacement", "server {\n rewrite ^ \"\";\n}", `empty replacement in FILE:2`},
		{"rewrite one argument", "server {\n rewrite ^;\n}", `invalid number of arguments in "rewrite" directive in FILE:2`},
		{"rewrite in http", "http {\n rewrite ^ /x;\n}", `"rewrite" directive is not allowed here in FILE:2`},
		{"rewrite bad regex", "server {\n rewrite ^(?=x) /x;\n}", `invalid regular expression "^(?=x)": invalid or unsupported Perl syntax in FILE:2`},
		{"set without $", "server {\n set a b;\n}", `invalid variable name "a" in FILE:2`},
		{"set in http", "\nset $a b;", `"set" directive is not allowed here in FILE:2`},
		{"break with an argument", "server {\n break now;\n}", `invalid number of arguments in "break" directive in FILE:2`},
		{"if without parenthesis", "server {\n if $a { }\n}", `invalid condition "$a" in FILE:2`},
		{"if without the closing parenthesis", "server {\n if ($a { }\n}", `invalid condition "$a" in FILE:2`},
		{"if unknown operator", "server {\n if ($a == b) { }\n}", `unexpected "==" in condition in FILE:2`},
		{"if two words", "server {\n if ($a b) { }\n}", `invalid condition "$a" in FILE:2`},
		{"if not a variable", "server {\n if (a = b) { }\n}", `invalid condition "a" in FILE:2`},
		{"if -f without a path", "server { location / {\n if (!-f) { return 404; } } }", `invalid condition "!-f" in FILE:2`},
		{"if -d with two words", "server {\n if (-d a b) { }\n}", `invalid condition "-d" in FILE:2`},
		{"if -q invalid", "server {\n if (-q $uri) { }\n}", `invalid condition "-q" in FILE:2`},
		{"if in http", "\nif ($a) { }", `"if" directive is not allowed here in FILE:2`},
		{"nested if", "server { if ($a) {\n if ($b) { } } }", `"if" directive is not allowed here in FILE:2`},
		{"if without a block", "server {\n if ($a);\n}", `directive "if" has no opening "{" in FILE:2`},
		{"proxy_set_header in a location if", "server { location / { if ($a) {\n proxy_set_header A b; } } }", `"proxy_set_header" directive is not allowed here in FILE:2`},
		{"proxy_pass in a server if", "server { if ($a) {\n proxy_pass http://127.0.0.1; } }", `"proxy_pass" directive is not allowed here in FILE:2`},
		{"add_header in a server if", "server { if ($a) {\n add_header A b; } }", `"add_header" directive is not allowed here in FILE:2`},
		{"location in if", "server { location / { if ($a) {\n location /x { } } } }", `"location" directive is not allowed here in FILE:2`},
		{"map in server", "server {\n map $a $b { }\n}", `"map" directive is not allowed here in FILE:2`},
		{"map variable without $", "\nmap $a b { }", `invalid variable name "b" in FILE:2`},
		{"map conflicting key", "map $a $b {\n x 1;\n X 2;\n}", `conflicting parameter "X" in FILE:3`},
		{"map conflicting hostnames", "map $a $b { hostnames;\n .example.com 1;\n example.com 2;\n}", `conflicting parameter "example.com" in FILE:3`},
		{"map duplicate default", "map $a $b {\n default 1;\n default 2;\n}", `duplicate default map parameter in FILE:3`},
		{"map three words", "map $a $b {\n x 1 2;\n}", `invalid number of the map parameters in FILE:2`},
		{"map bad wildcard", "map $a $b { hostnames;\n *example.com 1;\n}", `invalid hostname or wildcard "*example.com" in FILE:2`},
		{"map bad regex", "map $a $b {\n ~(?<x 1;\n}", `invalid regular expression "(?<x": invalid named capture in FILE:2`},
		{"rewrite_log value", "server {\n rewrite_log maybe;\n}", `invalid value "maybe" in "rewrite_log" directive, it must be "on" or "off" in FILE:2`},
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

// TestRewriteScript: the statements of a level are kept in the order
// written, an if block's own, and its location inherits the enclosing
// one's settings and proxy_pass.
func TestRewriteScript(t *testing.T) {
	cfg := mustLoad(t, `
upstream app { server 10.0.0.1; }
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
map $host $pool { hostnames; volatile; .example.com a; ~^(?<n>x)\.test$ "$n"; \default b; }
server {
    rewrite ^/old/(.*)$ /new/$1 permanent;
    set $s 1;
    return 200;
    location / {
        proxy_set_header X-A a;
        set $x "";
        if ($request_method = POST) { set $x p; add_header X-If yes; return 405; }
        if ($x) { break; }
        rewrite ^/(.*)$ /index.php?$1? last;
        proxy_pass http://app;
    }
}`)
	srv := cfg.Servers[0]
	kinds := func(list []*Stmt) []StmtKind {
		var out []StmtKind
		for _, s := range list {
			out = append(out, s.Kind)
		}
		return out
	}
	if got, want := kinds(srv.Script), []StmtKind{StmtRewrite, StmtSet, StmtReturn}; !equalKinds(got, want) {
		t.Errorf("server script %v, want %v", got, want)
	}
	if st := srv.Script[0]; st.Flag != RewritePermanent || st.Value != "/new/$1" || !st.KeepArgs {
		t.Errorf("server rewrite %+v", st)
	}
	if srv.Return == nil || srv.Return.Code != 200 {
		t.Errorf("server Return %+v, want the return too", srv.Return)
	}
	loc := srv.Locations[0]
	if got, want := kinds(loc.Script), []StmtKind{StmtSet, StmtIf, StmtIf, StmtRewrite}; !equalKinds(got, want) {
		t.Errorf("location script %v, want %v", got, want)
	}
	first := loc.Script[1]
	if first.Cond.Op != CondEq || first.Cond.Var != "$request_method" || first.Cond.Value != "POST" {
		t.Errorf("condition %+v", first.Cond)
	}
	if got, want := kinds(first.Body), []StmtKind{StmtSet, StmtReturn}; !equalKinds(got, want) {
		t.Errorf("if body %v, want %v", got, want)
	}
	il := first.Location
	if il == nil || il.ProxyPass == nil || il.ProxyPass != loc.ProxyPass {
		t.Fatalf("if location %+v: want the enclosing proxy_pass", il)
	}
	if len(il.Proxy.AddHeaders) != 1 || il.Proxy.AddHeaders[0].Name != "X-If" {
		t.Errorf("if add_header %+v", il.Proxy.AddHeaders)
	}
	if len(il.Proxy.SetHeaders) == 0 || loc.Return != nil {
		t.Errorf("if location inherits proxy_set_header (%+v); the location has no Return of its own (%+v)", il.Proxy.SetHeaders, loc.Return)
	}
	if len(loc.Locations) != 0 {
		t.Errorf("the if block is no location the router sees: %d", len(loc.Locations))
	}
	if rw := loc.Script[3]; rw.Flag != RewriteLast || rw.KeepArgs || rw.Value != "/index.php?$1" {
		t.Errorf("rewrite %+v", rw)
	}
	if len(cfg.Maps) != 2 {
		t.Fatalf("maps %d", len(cfg.Maps))
	}
	m := cfg.Maps[1]
	if !m.Hostnames || !m.Volatile || m.Var != "pool" || len(m.Entries) != 2 || m.Entries[1].Key != "default" || len(m.Regexps) != 1 || m.DefaultPos.Line != 0 {
		t.Errorf("map %+v", m)
	}
	if e := cfg.Maps[0].Entries; len(e) != 1 || e[0].Key != "" || e[0].Value != "close" || cfg.Maps[0].Default != "upgrade" {
		t.Errorf("map $connection_upgrade %+v", cfg.Maps[0])
	}
}

func equalKinds(a, b []StmtKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
