package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// A level may have several access_log lines, all kept in order; a level
// with any (or with off) inherits none of the outer level's; "off" turns
// off the level's lines whatever else it has.
func TestAccessLogLines(t *testing.T) {
	cfg := mustLoad(t, `
log_format main '$remote_addr "$request"' ' $status';
log_format json escape=json '{"s":"$status"}';
access_log /var/log/a.log main;
access_log /var/log/b.log json buffer=64k flush=2s;
access_log /var/log/c.log;
server {
    location /inherit/ { }
    location /own/ { access_log /var/log/own.log combined if=$arg_debug; }
    location /off/ { access_log /var/log/x.log; access_log off; }
}`)
	paths := func(list []AccessLog) string {
		var out []string
		for _, l := range list {
			name := "json-line"
			if l.Format != nil {
				name = l.Format.Name
			}
			out = append(out, l.Path+" "+name)
		}
		return strings.Join(out, ", ")
	}
	tests := []struct {
		path, want string
	}{
		{"/inherit/", "/var/log/a.log main, /var/log/b.log json, /var/log/c.log json-line"},
		{"/own/", "/var/log/own.log combined"},
		{"/off/", ""},
	}
	for _, tt := range tests {
		ps := settingsOf(t, cfg, tt.path)
		if got := paths(ps.AccessLogs); got != tt.want {
			t.Errorf("%s: access logs %q, want %q", tt.path, got, tt.want)
		}
	}
	main := cfg.LogFormats["main"]
	if main.Format != `$remote_addr "$request" $status` || main.Escape != "default" {
		t.Errorf("main = %+v", main)
	}
	b := settingsOf(t, cfg, "/inherit/").AccessLogs[1]
	if b.Buffer != 64<<10 || b.Flush.Seconds() != 2 || b.Format.Escape != "json" {
		t.Errorf("b.log line = %+v", b)
	}
	if own := settingsOf(t, cfg, "/own/").AccessLogs[0]; own.If != "$arg_debug" || own.Format.Format != CombinedFormat {
		t.Errorf("own line = %+v", own)
	}
	if off := settingsOf(t, cfg, "/off/").AccessLogs; off != nil {
		t.Errorf("AccessLogs of an off level = %+v, want nil", off)
	}
}

// The directives that used to be accepted and ignored now change
// something, so they are neither in Ignored nor warned about; those that
// still have no effect say so.
func TestClientDirectivesWarnings(t *testing.T) {
	cfg := mustLoad(t, `
log_format main $status;
keepalive_requests 100;
keepalive_time 10m;
client_body_buffer_size 128k;
proxy_request_buffering on;
client_body_temp_path /var/cache/limpet/body 1 2;
proxy_ignore_client_abort on;
server { proxy_request_buffering off; proxy_ignore_client_abort off; }`)
	for _, ig := range cfg.Ignored {
		if ig.Name == "log_format" || ig.Name == "keepalive_requests" {
			t.Errorf("%s is listed as ignored", ig.Name)
		}
	}
	var warnings []string
	for _, w := range cfg.Warnings {
		warnings = append(warnings, w.Msg)
	}
	want := []string{
		`"proxy_ignore_client_abort on" has no effect in limpet (limpet ends the upstream request when the client closes its connection, as with "off")`,
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
}

// proxy_request_buffering, client_body_buffer_size and
// client_body_temp_path: nginx's defaults, inheritance, a relative path
// under the prefix, and the levels' check.
func TestClientBodyBuffering(t *testing.T) {
	cfg := mustLoad(t, `
client_body_buffer_size 128k;
server {
    proxy_request_buffering off;
    client_body_temp_path body 1 2;
    location /a { proxy_request_buffering on; client_body_buffer_size 0; }
    location /b { client_body_temp_path /var/tmp/limpet; }
}
server { listen 8081; }`)
	srv := cfg.Servers[0]
	prefix := filepath.Dir(cfg.Servers[1].Proxy.Client.BodyTempPath)
	tests := []struct {
		name   string
		got    ClientSettings
		buffer bool
		size   int64
		path   string
	}{
		{"server", srv.Proxy.Client, false, 128 << 10, filepath.Join(prefix, "body")},
		{"/a", srv.Locations[0].Proxy.Client, true, 0, filepath.Join(prefix, "body")},
		{"/b", srv.Locations[1].Proxy.Client, false, 128 << 10, "/var/tmp/limpet"},
		{"default server", cfg.Servers[1].Proxy.Client, true, 128 << 10, filepath.Join(prefix, "client_body_temp")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.RequestBuffering != tt.buffer || tt.got.BodyBufferSize != tt.size || tt.got.BodyTempPath != tt.path {
				t.Errorf("got buffering %v, %d, %q; want %v, %d, %q", tt.got.RequestBuffering, tt.got.BodyBufferSize,
					tt.got.BodyTempPath, tt.buffer, tt.size, tt.path)
			}
		})
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	for _, bad := range []string{"client_body_temp_path /tmp/x 3;", "client_body_temp_path /tmp/x 1 1 1 1;", "client_body_temp_path /tmp/x a;"} {
		_, _, err := load(t, bad)
		if err == nil || !strings.Contains(err.Error(), "client_body_temp_path") || !strings.Contains(err.Error(), ":1") {
			t.Errorf("%s: got %v, want an error naming the directive and its line", bad, err)
		}
	}
}
