package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestTestModeNoEffect: `limpet -t` names every option it accepts and
// does not apply, with its file and line, and says nothing of the
// options that limpet applies or that match what it does.
func TestTestModeNoEffect(t *testing.T) {
	tests := []struct {
		name string
		conf string // the option sits on line 3
		want string // the warnings, a line each, FILE for the file; "" for none
	}{
		{"proxy_http_version 1.0", "proxy_http_version 1.0;",
			`[warn] "proxy_http_version 1.0" has no effect in limpet (limpet always speaks HTTP/1.1 to upstreams, with keep-alive) in FILE:3`},
		{"proxy_http_version 1.1", "proxy_http_version 1.1;", ""},
		{"proxy_buffering on", "proxy_buffering on;",
			`[warn] "proxy_buffering on" has no effect in limpet (limpet streams responses, as with "proxy_buffering off") in FILE:3`},
		{"proxy_buffering ON", "proxy_buffering ON;",
			`[warn] "proxy_buffering on" has no effect in limpet (limpet streams responses, as with "proxy_buffering off") in FILE:3`},
		{"proxy_buffering off", "proxy_buffering off;", ""},
		{"keepalive_timeout header time", "keepalive_timeout 30s 25;", ""},
		{"keepalive_timeout", "keepalive_timeout 30s;", ""},
		// access_log's formats and parameters work (gzip is refused).
		{"access_log format", "access_log stdout combined;", ""},
		{"access_log buffer", "access_log stdout combined buffer=32k;", ""},
		{"access_log flush", "access_log stdout combined buffer=1m flush=5s;", ""},
		{"access_log if", "access_log stdout combined if=$arg_log;", ""},
		{"keepalive_requests", "keepalive_requests 100;", ""},
		{"proxy_request_buffering on", "proxy_request_buffering on;", ""},
		{"client_body_buffer_size", "client_body_buffer_size 64k;", ""},
		{"proxy_request_buffering off", "proxy_request_buffering off;", ""},
		{"access_log path only", "access_log stdout;", ""},
		{"whole directive", "proxy_buffers 8 4k;",
			`[warn] the "proxy_buffers" directive has no effect in limpet (limpet streams responses, as with "proxy_buffering off"), ignored in FILE:3`},
		{"listen options work", "listen 127.0.0.1:18081 reuseport backlog=100 so_keepalive=on;", ""},
		{"a value once, counting the others", "proxy_buffering on;\n    location /a { proxy_buffering on; return 200; }\n    location /b { proxy_buffering on; return 200; }",
			`[warn] "proxy_buffering on" has no effect in limpet (limpet streams responses, as with "proxy_buffering off") in FILE:3 and 2 more lines`},
		{"once per name, counting the others", "gzip on; proxy_cache c;\n    gzip_types text/css; gzip on; proxy_cache c; gzip off;",
			`[warn] the "gzip" directive has no effect in limpet (limpet does not compress responses: they go out as the upstream sent them), ignored in FILE:3 and 2 more lines` + "\n" +
				`[warn] the "proxy_cache" directive has no effect in limpet (limpet caches no responses: every request goes to an upstream), ignored in FILE:3 and 1 more line` + "\n" +
				`[warn] the "gzip_types" directive has no effect in limpet (limpet does not compress responses: they go out as the upstream sent them), ignored in FILE:4`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, "server {\n    listen 127.0.0.1:18080;\n    "+tt.conf+"\n    location / { return 200; }\n}\n")
			var stdout, stderr bytes.Buffer
			if code := run([]string{"-t", "-c", path}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit code %d\nstderr: %s", code, stderr.String())
			}
			var warns []string
			for line := range strings.Lines(stderr.String()) {
				if w, ok := strings.CutPrefix(strings.TrimSpace(line), "limpet: [warn] "); ok {
					warns = append(warns, "[warn] "+w)
				}
			}
			if got, want := strings.Join(warns, "\n"), strings.ReplaceAll(tt.want, "FILE", path); got != want {
				t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestErrorLogLevel: error_log's level decides what limpet's log writes.
func TestErrorLogLevel(t *testing.T) {
	tests := []struct {
		level         string
		debug, info   bool
		warn, errorOn bool
	}{
		{"", false, true, true, true},
		{"debug", true, true, true, true},
		{"info", false, true, true, true},
		{"notice", false, false, true, true},
		{"warn", false, false, true, true},
		{"error", false, false, false, true},
		{"crit", false, false, false, false},
		{"emerg", false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: logLevel(tt.level)}))
			ctx := context.Background()
			got := []bool{log.Enabled(ctx, slog.LevelDebug), log.Enabled(ctx, slog.LevelInfo), log.Enabled(ctx, slog.LevelWarn), log.Enabled(ctx, slog.LevelError)}
			want := []bool{tt.debug, tt.info, tt.warn, tt.errorOn}
			for i, l := range []string{"debug", "info", "warn", "error"} {
				if got[i] != want[i] {
					t.Errorf("%s messages written: %v, want %v", l, got[i], want[i])
				}
			}
		})
	}
}

// TestTestModeNotSupported: `limpet -t` refuses a directive nginx has and
// limpet does not, in limpet's words, at the line of its ";" or "{".
func TestTestModeNotSupported(t *testing.T) {
	path := writeConf(t, "server {\n    listen 127.0.0.1:18080;\n    location ~ \\.php$ {\n        fastcgi_pass\n            127.0.0.1:9000;\n    }\n}\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-t", "-c", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit code %d, want 1\nstderr: %s", code, stderr.String())
	}
	want := `limpet: [emerg] the "fastcgi_pass" directive is not supported by limpet in ` + path + ":5"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr:\n%s\nwant a line %s", stderr.String(), want)
	}
}
