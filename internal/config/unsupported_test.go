package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNotSupported: a directive nginx knows and limpet does not do is
// refused in limpet's words, at the line of its ";" or "{", in any
// context; a typo stays an unknown directive.
func TestNotSupported(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"fastcgi_pass", "server {\n location / {\n  fastcgi_pass 127.0.0.1:9000;\n }\n}", `the "fastcgi_pass" directive is not supported by limpet in FILE:3`},
		{"fastcgi_param before fastcgi_pass", "server { location / { fastcgi_param A b; } }", `the "fastcgi_param" directive is not supported by limpet in FILE:1`},
		{"uwsgi_pass", "server { location / { uwsgi_pass 127.0.0.1:9000; } }", `the "uwsgi_pass" directive is not supported by limpet in FILE:1`},
		{"grpc_pass", "server { location / { grpc_pass grpc://127.0.0.1:9000; } }", `the "grpc_pass" directive is not supported by limpet in FILE:1`},
		{"stream block at its brace", "stream\n{\n server { listen 53 udp; }\n}", `the "stream" directive is not supported by limpet in FILE:2`},
		{"mail block", "mail { }", `the "mail" directive is not supported by limpet in FILE:1`},
		{"js_import", "js_import main.js;", `the "js_import" directive is not supported by limpet in FILE:1`},
		{"sub_filter", "server { location / { sub_filter a b; } }", `the "sub_filter" directive is not supported by limpet in FILE:1`},
		{"mirror", "server { location / { mirror /m; } }", `the "mirror" directive is not supported by limpet in FILE:1`},
		{"split_clients spanning lines", "split_clients\n \"${remote_addr}\"\n $variant {\n 50% a;\n * b;\n}", `the "split_clients" directive is not supported by limpet in FILE:3`},
		{"old status module in a location", "server { location /status { status; } }", `the "status" directive is not supported by limpet in FILE:1`},
		{"least_time", "upstream u { least_time header; server 127.0.0.1; }", `the "least_time" directive is not supported by limpet in FILE:1`},
		{"typo stays unknown", "server { location / { proxy_passs http://x; } }", `unknown directive "proxy_passs" in FILE:1`},
		{"prefix alone is no family", "server { fastcgi; }", `unknown directive "fastcgi" in FILE:1`},
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

// TestUnsupportedNotInTable: no entry of Unsupported names a directive
// the table accepts, which would make the README's list a lie. `status`
// is the one name both: limpet's is the match block's, NGINX Plus's old
// status module's is refused.
func TestUnsupportedNotInTable(t *testing.T) {
	for _, u := range Unsupported {
		for name, entries := range table {
			if len(entries) == 1 && entries[0].where == inMatch {
				continue
			}
			p, family := strings.CutSuffix(u.Name, "*")
			if name == u.Name || family && strings.HasPrefix(name, p) {
				t.Errorf("%q of Unsupported covers %q, which the table accepts", u.Name, name)
			}
		}
		if u.Why == "" {
			t.Errorf("%q has no reason", u.Name)
		}
	}
}

// TestReadmeListsUnsupported: the README's "Not supported" section lists
// every entry of Unsupported with its reason, and nothing else.
func TestReadmeListsUnsupported(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(src), "\n### Not supported\n")
	if !ok {
		t.Fatal(`README.md has no "### Not supported" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (.+) \\|$")
	listed := make(map[string]string)
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		listed[m[1]] = m[2]
	}
	for _, u := range Unsupported {
		why, ok := listed[u.Name]
		switch {
		case !ok:
			t.Errorf("README does not list %q", u.Name)
		case why != u.Why:
			t.Errorf("README gives %q the reason %q, the table %q", u.Name, why, u.Why)
		}
		delete(listed, u.Name)
	}
	for name := range listed {
		t.Errorf("README lists %q, which Unsupported does not hold", name)
	}
}

// TestIgnoredOncePerName: each ignored directive is listed once, at its
// first line, with the count of the lines after it and the reason.
func TestIgnoredOncePerName(t *testing.T) {
	cfg := mustLoad(t, `proxy_cache_path /var/cache keys_zone=c:10m;
gzip on;
server {
    gzip on;
    proxy_cache c;
    location / {
        gzip off;
        proxy_cache c;
        proxy_buffers 8 16k;
        return 200;
    }
}`)
	var got []string
	for _, ig := range cfg.Ignored {
		got = append(got, fmt.Sprintf("%s@%d+%d (%s)", ig.Name, ig.Pos.Line, ig.More, ig.Why))
	}
	want := []string{
		"proxy_cache_path@1+0 (limpet caches no responses: every request goes to an upstream)",
		"gzip@2+2 (limpet does not compress responses: they go out as the upstream sent them)",
		"proxy_cache@5+1 (limpet caches no responses: every request goes to an upstream)",
		`proxy_buffers@9+0 (limpet streams responses, as with "proxy_buffering off")`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ignored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A plain tuning directive has no reason to give.
	cfg = mustLoad(t, "worker_processes 4;")
	if ig := cfg.Ignored[0]; ig.Why != "" || ig.More != 0 {
		t.Errorf("got %+v", ig)
	}
}
