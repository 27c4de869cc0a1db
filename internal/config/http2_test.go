package config

import (
	"strings"
	"testing"
)

// TestHTTP2Settings: nginx's defaults, a server inheriting from http
// what it does not set, and the listen parameter kept apart from `http2`.
func TestHTTP2Settings(t *testing.T) {
	cfg := mustLoad(t, `
http2 on;
http2_max_concurrent_streams 64;
http2_recv_buffer_size 1m;
server { listen 1; }
server {
    listen 2 http2;
    http2 off;
    http2_max_concurrent_streams 10;
    http2_body_preread_size 0;
}
`)
	want := []HTTP2{
		{Enabled: true, MaxConcurrentStreams: 64, RecvBufferSize: 1 << 20, BodyPrereadSize: 64 << 10},
		{Enabled: false, MaxConcurrentStreams: 10, RecvBufferSize: 1 << 20, BodyPrereadSize: 0},
	}
	for i, w := range want {
		if got := cfg.Servers[i].HTTP2; got != w {
			t.Errorf("server %d: %+v, want %+v", i, got, w)
		}
	}
	if cfg.Servers[0].Listens[0].HTTP2 || !cfg.Servers[1].Listens[0].HTTP2 {
		t.Errorf("listen http2: %v %v", cfg.Servers[0].Listens, cfg.Servers[1].Listens)
	}
	def := mustLoad(t, "server { listen 1; }").Servers[0].HTTP2
	if want := (HTTP2{MaxConcurrentStreams: 128, RecvBufferSize: 256 << 10, BodyPrereadSize: 64 << 10}); def != want {
		t.Errorf("defaults %+v, want %+v", def, want)
	}
}

// TestHTTP2Warnings: the deprecated listen parameter and the obsolete
// directives warn in nginx's words at their line; http2_chunk_size says it
// has no effect.
func TestHTTP2Warnings(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"server {\n listen 1 ssl_not_here_just_http2 ;\n}", ""},
		{"server {\n listen 1 http2;\n}", `the "listen ... http2" directive is deprecated, use the "http2" directive instead in %s:2`},
		{"server {\n listen 1;\n http2_idle_timeout 3m;\n}", `the "http2_idle_timeout" directive is obsolete, use the "keepalive_timeout" directive instead in %s:3`},
		{"http2_recv_timeout 30s;\nserver { listen 1; }", `the "http2_recv_timeout" directive is obsolete, use the "client_header_timeout" directive instead in %s:1`},
		{"http2_max_field_size 4k;\nserver { listen 1; }", `the "http2_max_field_size" directive is obsolete, use the "large_client_header_buffers" directive instead in %s:1`},
		{"http2_max_header_size 16k;\nserver { listen 1; }", `the "http2_max_header_size" directive is obsolete, use the "large_client_header_buffers" directive instead in %s:1`},
		{"http2_max_requests 1000;\nserver { listen 1; }", `the "http2_max_requests" directive is obsolete, use the "keepalive_requests" directive instead in %s:1`},
		{"server {\n listen 1;\n location / {\n  http2_push /style.css;\n }\n}", `the "http2_push" directive is obsolete, ignored in %s:4`},
		{"server {\n listen 1;\n http2_push_preload on;\n}", `the "http2_push_preload" directive is obsolete, ignored in %s:3`},
		{"http2_max_concurrent_pushes 10;\nserver { listen 1; }", `the "http2_max_concurrent_pushes" directive is obsolete, ignored in %s:1`},
		{"server {\n listen 1;\n location / { http2_chunk_size 16k; }\n}", `"http2_chunk_size" has no effect in limpet (HTTP/2 DATA frames are as large as the client's SETTINGS_MAX_FRAME_SIZE and the flow-control windows allow) in %s:3`},
	} {
		cfg, path, err := load(t, tc.src)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q: loaded, want an error", tc.src)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.src, err)
			continue
		}
		want := strings.ReplaceAll(tc.want, "%s", path)
		var got []string
		for _, w := range cfg.Warnings {
			got = append(got, w.String())
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%q: warnings %q, want %q", tc.src, got, want)
		}
	}
}

// TestHTTP2Errors: bad values are refused in nginx's words, at their line.
func TestHTTP2Errors(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"http2 yes;\nserver { listen 1; }", `invalid value "yes" in "http2" directive, it must be "on" or "off" in %s:1`},
		{"server {\n listen 1;\n http2_max_concurrent_streams many;\n}", `"http2_max_concurrent_streams" directive invalid number in %s:3`},
		{"server {\n listen 1;\n http2_max_concurrent_streams 0;\n}", `invalid value "0" in "http2_max_concurrent_streams" directive, it must be 1 or more in %s:3`},
		{"http2_recv_buffer_size 16;\nserver { listen 1; }", `"http2_recv_buffer_size" directive value is too small in %s:1`},
		{"http2_recv_buffer_size big;\nserver { listen 1; }", `"http2_recv_buffer_size" directive invalid value in %s:1`},
		{"server {\n listen 1;\n http2_recv_buffer_size 1m;\n}", `"http2_recv_buffer_size" directive is not allowed here in %s:3`},
		{"server {\n listen 1;\n http2_body_preread_size 3g;\n}", `the maximum body preread buffer size is 2147483647 in %s:3`},
		{"server {\n listen 1;\n location / { http2_chunk_size 0; }\n}", `the http2 chunk size cannot be zero in %s:3`},
		{"server {\n listen 1;\n location / { http2 on; }\n}", `"http2" directive is not allowed here in %s:3`},
		{"server {\n listen 1;\n http2 on;\n http2 off;\n}", `"http2" directive is duplicate in %s:4`},
	} {
		_, path, err := load(t, tc.src)
		want := strings.ReplaceAll(tc.want, "%s", path)
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", tc.src, err, want)
		}
	}
}
