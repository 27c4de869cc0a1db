package config

import (
	"strings"
	"testing"
)

// TestRedirectSettings: absolute_redirect, server_name_in_redirect and
// port_in_redirect have nginx's defaults and are inherited from http to
// server to location, a level overriding what it sets.
func TestRedirectSettings(t *testing.T) {
	cfg := mustLoad(t, `port_in_redirect off;
server {
    server_name_in_redirect on;
    location /a/ {
        absolute_redirect off;
        location /a/b/ { port_in_redirect on; }
    }
    location /c/ { }
}`)
	tests := []struct {
		paths []string
		want  Redirects
	}{
		{nil, Redirects{Absolute: true, ServerName: true, Port: false}},
		{[]string{"/c/"}, Redirects{Absolute: true, ServerName: true, Port: false}},
		{[]string{"/a/"}, Redirects{Absolute: false, ServerName: true, Port: false}},
		{[]string{"/a/", "/a/b/"}, Redirects{Absolute: false, ServerName: true, Port: true}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.paths, " "), func(t *testing.T) {
			if got := settingsOf(t, cfg, tt.paths...).Redirects; got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got, want := settingsOf(t, mustLoad(t, "server { }")).Redirects, (Redirects{Absolute: true, Port: true}); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}

// TestRedirectSettingErrors: the three directives are flags of http,
// server and location, once per level, refused elsewhere in nginx's words.
func TestRedirectSettingErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"not a flag", "absolute_redirect yes;", `invalid value "yes" in "absolute_redirect" directive, it must be "on" or "off" in FILE:1`},
		{"twice at a level", "server {\n port_in_redirect on;\n port_in_redirect off;\n}", `"port_in_redirect" directive is duplicate in FILE:3`},
		{"in an if", "server { location / {\n if ($arg_a) {\n server_name_in_redirect on;\n }\n} }", `"server_name_in_redirect" directive is not allowed here in FILE:3`},
		{"in an upstream", "upstream u { server 127.0.0.1:1;\n absolute_redirect off;\n}", `"absolute_redirect" directive is not allowed here in FILE:2`},
		{"no argument", "absolute_redirect;", `invalid number of arguments in "absolute_redirect" directive in FILE:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.src)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Errorf("error %v\nwant  %s", err, want)
			}
		})
	}
}
