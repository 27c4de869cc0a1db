package vars

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// newRequest builds the request most cases evaluate against.
func newRequest() *Request {
	hr := httptest.NewRequest("POST", "/a%20b/c?x=1&Y=two&x=3", strings.NewReader("hello"))
	hr.Host = "Example.COM:8080"
	hr.Header.Add("X-Forwarded-For", "10.0.0.1")
	hr.Header.Add("X-Forwarded-For", "10.0.0.2, 10.0.0.3")
	hr.Header.Add("Cookie", "a=1; SessionID=xyz; sp = v ;b=2")
	hr.Header.Add("Cookie", "c=3")
	hr.Header.Set("Content-Type", "text/plain")
	hr.Header.Add("X-Custom-Thing", "v1")
	hr.Header.Add("X-Custom-Thing", "v2")
	hr.Header.Set("Upgrade", "websocket")
	return &Request{
		R:          hr,
		Remote:     netip.MustParseAddrPort("203.0.113.7:54321"),
		Local:      netip.MustParseAddrPort("10.1.1.1:8080"),
		Scheme:     "http",
		ServerName: "example.com",
		ProxyHost:  "backend",
		URI:        "/a b/c",
	}
}

func TestExpandVariables(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"$host", "example.com"},
		{"$http_host", "Example.COM:8080"},
		{"$remote_addr", "203.0.113.7"},
		{"$remote_port", "54321"},
		{"$proxy_add_x_forwarded_for", "10.0.0.1, 10.0.0.2, 10.0.0.3, 203.0.113.7"},
		{"$scheme", "http"},
		{"$server_name", "example.com"},
		{"$server_port", "8080"},
		{"$server_addr", "10.1.1.1"},
		{"$request_uri", "/a%20b/c?x=1&Y=two&x=3"},
		{"$uri", "/a b/c"},
		{"$document_uri", "/a b/c"},
		{"$args", "x=1&Y=two&x=3"},
		{"$query_string", "x=1&Y=two&x=3"},
		{"$is_args", "?"},
		{"$arg_x", "1"},      // first occurrence wins
		{"$arg_y", "two"},    // names compare case-insensitively
		{"$arg_missing", ""}, // absent
		{"$request_method", "POST"},
		{"$proxy_host", "backend"},
		{"$server_protocol", "HTTP/1.1"},
		{"$content_type", "text/plain"},
		{"$content_length", "5"}, // from ContentLength: httptest sets no header
		{"$http_x_custom_thing", "v1, v2"},
		{"$http_upgrade", "websocket"},
		{"$http_x_forwarded_for", "10.0.0.1, 10.0.0.2, 10.0.0.3"},
		{"$http_cookie", "a=1; SessionID=xyz; sp = v ;b=2; c=3"},
		{"$http_content_type", "text/plain"},
		{"$http_x_missing", ""},
		{"$cookie_a", "1"},
		{"$cookie_sessionid", "xyz"},
		{"$cookie_sp", "v "}, // nginx keeps what precedes ';'
		{"$cookie_b", "2"},
		{"$cookie_c", "3"}, // second Cookie line
		{"$cookie_missing", ""},
		{"$HOST", "example.com"}, // variable names are case-insensitive
		{"${host}", "example.com"},
		{"${host}x", "example.comx"},
		{"$host:$server_port", "example.com:8080"},
		{"$scheme://$host$request_uri", "http://example.com/a%20b/c?x=1&Y=two&x=3"},
		{"plain", "plain"},
		{"", ""},
		{"cost: $ 5", "cost: $ 5"},
		{"a$", "a$"},
		{"$$host", "$example.com"},
		{"$-$host-", "$-example.com-"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tpl, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.src, err)
			}
			if got := tpl.Expand(newRequest()); got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.src, got, tt.want)
			}
			if got := string(tpl.Append([]byte("pre:"), newRequest())); got != "pre:"+tt.want {
				t.Errorf("Append(%q) = %q, want %q", tt.src, got, "pre:"+tt.want)
			}
			if tpl.String() != tt.src {
				t.Errorf("String() = %q, want %q", tpl.String(), tt.src)
			}
		})
	}
}

func TestExpandEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		setup func(r *Request)
		want  string
	}{
		{"host without Host falls back to server_name", "$host", func(r *Request) { r.R.Host = "" }, "example.com"},
		{"host strips one trailing dot", "$host", func(r *Request) { r.R.Host = "WWW.Example.org.:80" }, "www.example.org"},
		{"host keeps IPv6 brackets", "$host", func(r *Request) { r.R.Host = "[2001:DB8::1]:8443" }, "[2001:db8::1]"},
		{"xff without header is remote_addr", "$proxy_add_x_forwarded_for", func(r *Request) { r.R.Header.Del("X-Forwarded-For") }, "203.0.113.7"},
		{"remote from RemoteAddr", "$remote_addr:$remote_port", func(r *Request) { r.Remote = netip.AddrPort{} }, "192.0.2.1:1234"},
		{"remote IPv4-mapped is unmapped", "$remote_addr", func(r *Request) { r.Remote = netip.MustParseAddrPort("[::ffff:198.51.100.9]:1") }, "198.51.100.9"},
		{"remote IPv6", "$remote_addr", func(r *Request) { r.Remote = netip.MustParseAddrPort("[2001:db8::2]:1") }, "2001:db8::2"},
		{"binary remote IPv4 is 4 bytes", "$binary_remote_addr", nil, "\xcb\x00\x71\x07"},
		{"binary remote IPv4-mapped is 4 bytes", "$binary_remote_addr", func(r *Request) { r.Remote = netip.MustParseAddrPort("[::ffff:198.51.100.9]:1") }, "\xc6\x33\x64\x09"},
		{"binary remote IPv6 is 16 bytes", "$binary_remote_addr", func(r *Request) { r.Remote = netip.MustParseAddrPort("[2001:db8::2]:1") },
			"\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"},
		{"limit statuses", "[$limit_req_status|$limit_conn_status]", func(r *Request) { r.LimitReqStatus, r.LimitConnStatus = "DELAYED", "PASSED" }, "[DELAYED|PASSED]"},
		{"limit statuses not found", "[$limit_req_status|$limit_conn_status]", nil, "[|]"},
		{"server addr from context", "$server_addr:$server_port", func(r *Request) {
			r.Local = netip.AddrPort{}
			ctx := context.WithValue(r.R.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 81})
			r.R = r.R.WithContext(ctx)
		}, "127.0.0.2:81"},
		{"no args", "$uri$is_args$args", func(r *Request) { r.R.URL.RawQuery = "" }, "/a b/c"},
		{"arg needs =", "[$arg_flag]", func(r *Request) { r.R.URL.RawQuery = "flag&flag2=x" }, "[]"},
		{"arg keeps escaping", "$arg_q", func(r *Request) { r.R.URL.RawQuery = "q=a%20b+c" }, "a%20b+c"},
		{"arg empty value", "[$arg_q]", func(r *Request) { r.R.URL.RawQuery = "a=1&q=" }, "[]"},
		{"arg is not a suffix match", "[$arg_q]", func(r *Request) { r.R.URL.RawQuery = "xq=1" }, "[]"},
		{"cookie prefix is not a match", "[$cookie_a]", func(r *Request) { r.R.Header.Set("Cookie", "ab=1; a=2") }, "[2]"},
		{"scheme from TLS", "$scheme", func(r *Request) { r.Scheme = ""; r.R.TLS = &tls.ConnectionState{} }, "https"},
		{"scheme default", "$scheme", func(r *Request) { r.Scheme = "" }, "http"},
		{"uri falls back to URL.Path", "$uri", func(r *Request) { r.URI = "" }, "/a b/c"},
		{"request_uri without RequestURI", "$request_uri", func(r *Request) { r.R.RequestURI = "" }, "/a%20b/c?x=1&Y=two&x=3"},
		{"content_length header wins", "$content_length", func(r *Request) { r.R.Header.Set("Content-Length", "7") }, "7"},
		{"content_length absent", "[$content_length]", func(r *Request) { r.R.ContentLength = 0 }, "[]"},
		{"transfer-encoding from net/http field", "$http_transfer_encoding", func(r *Request) { r.R.TransferEncoding = []string{"chunked"} }, "chunked"},
		{"HTTP/1.0", "$server_protocol", func(r *Request) { r.R.Proto = "HTTP/1.0" }, "HTTP/1.0"},
		{"nil http.Request", "[$host|$remote_addr|$uri|$args|$http_x|$cookie_a]", func(r *Request) {
			r.R = nil
			r.Remote = netip.AddrPort{}
		}, "[example.com||/a b/c|||]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest()
			if tt.setup != nil {
				tt.setup(r)
			}
			if got := MustCompile(tt.src).Expand(r); got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"$foo", `unknown "foo" variable`},
		{"x-$Foo_Bar-y", `unknown "foo_bar" variable`},
		{"${foo}", `unknown "foo" variable`},
		{"$http_", `unknown "http_" variable`},
		{"$arg_", `unknown "arg_" variable`},
		{"$cookie_", `unknown "cookie_" variable`},
		{"$upstream_foo", `unknown "upstream_foo" variable`},
		{"${host", `the closing bracket in "host" variable is missing`},
		{"${ho-st}", `the closing bracket in "ho" variable is missing`},
		{"${}", `invalid variable name`},
		{"x${", `invalid variable name`},
		{"$1", `regex capture "$1" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tpl, err := Compile(tt.src)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error %q", tt.src, tpl, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Compile(%q) error = %q, want %q", tt.src, err, tt.want)
			}
		})
	}
}

func TestMustCompilePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustCompile($nope) did not panic")
		}
	}()
	MustCompile("$nope")
}

func TestStatic(t *testing.T) {
	tests := []struct {
		src    string
		want   string
		static bool
	}{
		{"close", "close", true},
		{"", "", true},
		{"a$", "a$", true},
		{"$ $", "$ $", true},
		{"$host", "", false},
		{"x$host", "", false},
		{"${scheme}://x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, ok := MustCompile(tt.src).Static()
			if got != tt.want || ok != tt.static {
				t.Errorf("Static(%q) = %q, %v; want %q, %v", tt.src, got, ok, tt.want, tt.static)
			}
		})
	}
}

// TestAppendDoesNotAllocate guards the promise made to the proxy: with a
// buffer that is large enough, expanding the usual variables allocates
// nothing.
func TestAppendDoesNotAllocate(t *testing.T) {
	r := newRequest()
	tpl := MustCompile("$host $remote_addr $remote_port $proxy_add_x_forwarded_for $scheme $proxy_host " +
		"$server_addr $server_port $request_uri $uri $args $arg_x $http_x_custom_thing $http_cookie $cookie_c " +
		"$content_type $content_length $request_method $server_protocol $http_host")
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		buf = tpl.Append(buf[:0], r)
	})
	if allocs != 0 {
		t.Errorf("Append allocated %v times per run, want 0", allocs)
	}
}

func BenchmarkExpandDefaultHeaders(b *testing.B) {
	r := newRequest()
	tpls := []*Template{
		MustCompile("$host"),
		MustCompile("$remote_addr"),
		MustCompile("$proxy_add_x_forwarded_for"),
		MustCompile("$scheme"),
		MustCompile("$proxy_host"),
	}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		for _, tpl := range tpls {
			buf = tpl.Append(buf[:0], r)
		}
	}
}
