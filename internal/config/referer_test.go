package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestValidReferers: valid_referers lines add up at one level, a location
// without one inherits the server's, and one with its own replaces it.
func TestValidReferers(t *testing.T) {
	cfg, path, err := load(t, `
server {
    listen 127.0.0.1:8080;
    server_name example.com;
    valid_referers none blocked;
    valid_referers server_names *.Example.com www.example.* pics.test/galleries/ ~\.google\.;
    referer_hash_max_size 4096;
    referer_hash_bucket_size 128;
    location /inherit/ { }
    location /own/ { valid_referers .own.test; }
}`)
	if err != nil {
		t.Fatal(err)
	}
	srv := cfg.Servers[0]
	got := srv.Proxy.Referers
	if got == nil {
		t.Fatal("server has no Referers")
	}
	if got.Pos.Line != 5 || got.Pos.File != path {
		t.Errorf("Pos = %v, want %s:5", got.Pos, path)
	}
	if !got.None || !got.Blocked || !got.ServerNames {
		t.Errorf("None, Blocked, ServerNames = %v %v %v, want all true", got.None, got.Blocked, got.ServerNames)
	}
	wantHosts := []RefererHost{{"*.example.com", ""}, {"www.example.*", ""}, {"pics.test", "/galleries/"}}
	if !reflect.DeepEqual(got.Hosts, wantHosts) {
		t.Errorf("Hosts = %v, want %v", got.Hosts, wantHosts)
	}
	if len(got.Regexps) != 1 || !got.Regexps[0].MatchString("www.GOOGLE.com/") {
		t.Errorf("Regexps = %v, want one caseless \\.google\\.", got.Regexps)
	}
	if l := srv.Locations[0]; l.Proxy.Referers != got {
		t.Errorf("%s inherits %v, want the server's", l.Path, l.Proxy.Referers)
	}
	own := srv.Locations[1].Proxy.Referers
	if own == nil || own.None || !reflect.DeepEqual(own.Hosts, []RefererHost{{".own.test", ""}}) {
		t.Errorf("/own/ has %+v, want only .own.test", own)
	}
	for _, ig := range cfg.Ignored {
		if !strings.HasPrefix(ig.Name, "referer_hash_") {
			t.Errorf("ignored %q", ig.Name)
		}
	}
	if len(cfg.Ignored) != 2 {
		t.Errorf("ignored %v, want the two referer_hash_ directives", cfg.Ignored)
	}
	if none := mustLoad(t, "server { listen 127.0.0.1:8080; }").Servers[0].Proxy.Referers; none != nil {
		t.Errorf("a server without valid_referers has %+v", none)
	}
}

// TestValidReferersErrors checks nginx's errors for bad arguments.
func TestValidReferersErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"in http", "valid_referers none;", `"valid_referers" directive is not allowed here in FILE:1`},
		{"no argument", "server {\n valid_referers;\n}", `invalid number of arguments in "valid_referers" directive in FILE:2`},
		{"empty", "server {\n valid_referers \"\";\n}", `invalid referer "" in FILE:2`},
		{"empty regex", "server {\n valid_referers ~;\n}", `empty regex in "~" in FILE:2`},
		{"bad regex", "server {\n valid_referers ~(;\n}", `invalid regular expression "(": missing closing ) in FILE:2`},
		{"star in the middle", "server {\n valid_referers a.*.test;\n}", `invalid hostname or wildcard "a.*.test" in FILE:2`},
		{"star alone", "server {\n valid_referers *;\n}", `invalid hostname or wildcard "*" in FILE:2`},
		{"twice", "server {\n valid_referers a.test b.test\n  a.test;\n}", `conflicting parameter "a.test" in FILE:3`},
		{"dot wildcard and its name", "server {\n valid_referers a.test;\n valid_referers .a.test;\n}", `conflicting parameter ".a.test" in FILE:3`},
		{"in an if", "server { if ($uri) {\n valid_referers none;\n} }", `"valid_referers" directive is not allowed here in FILE:2`},
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
