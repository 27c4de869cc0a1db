package h1srv

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/limpet-lb/limpet/internal/errpage"
)

// recorder is a handler that records the requests it was handed.
type recorder struct {
	mu   sync.Mutex
	seen []string // "METHOD target"
	last *http.Request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.seen = append(rec.seen, r.Method+" "+r.RequestURI)
	rec.last = r
	rec.mu.Unlock()
	w.Header().Set("Content-Length", "2")
	_, _ = w.Write([]byte("ok"))
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// TestRequestFraming sends each request shape that can desynchronise a
// proxy and its backend (RFC 9112 sections 6 and 7, and the probes of
// issue 9): each is refused, the connection closed, and neither it nor
// what its body holds reaches the handler.
func TestRequestFraming(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	chunkedSmuggle := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled)
	tests := []struct {
		name, request string
		status        int
	}{
		{"HTTP/1.0 keep-alive with Transfer-Encoding chunked",
			"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedSmuggle, 400},
		{"HTTP/1.0 with Transfer-Encoding chunked and Content-Length 0",
			"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedSmuggle, 400},
		{"HTTP/1.0 with Transfer-Encoding and a Host",
			"POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedSmuggle, 400},
		{"HTTP/1.0 with an unknown Transfer-Encoding",
			"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip\r\n\r\n" + smuggled, 400},
		{"Content-Length then Transfer-Encoding",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedSmuggle, 400},
		{"Transfer-Encoding then Content-Length",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunkedSmuggle, 400},
		{"Content-Length 0 beside Transfer-Encoding",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedSmuggle, 400},
		{"two different Content-Lengths",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n" + smuggled, 400},
		{"two equal Content-Lengths",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 37\r\nContent-Length: 37\r\n\r\n" + smuggled, 400},
		{"a Content-Length list",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 37, 37\r\n\r\n" + smuggled, 400},
		{"a signed Content-Length",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +37\r\n\r\n" + smuggled, 400},
		{"a negative Content-Length",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n" + smuggled, 400},
		{"a hexadecimal Content-Length",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x25\r\n\r\n" + smuggled, 400},
		{"a Content-Length beyond 64 bits",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n" + smuggled, 400},
		{"a space before the colon of Transfer-Encoding",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n" + chunkedSmuggle, 400},
		{"Transfer-Encoding folded onto the next line",
			"POST / HTTP/1.1\r\nHost: x\r\nX: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunkedSmuggle, 400},
		{"a folded field value",
			"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n" + smuggled, 400},
		{"a line folded before the first field",
			"GET / HTTP/1.1\r\n Host: x\r\n\r\n" + smuggled, 400},
		{"Transfer-Encoding chunked twice",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedSmuggle, 400},
		{"Transfer-Encoding gzip, chunked",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunkedSmuggle, 501},
		{"Transfer-Encoding chunked, identity",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n" + chunkedSmuggle, 501},
		{"Transfer-Encoding xchunked",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n" + chunkedSmuggle, 501},
		{"Transfer_Encoding with an underscore beside Content-Length",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + "GARBAGE\r\n\r\n", 0},
		{"a NUL in a field value",
			"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n" + smuggled, 400},
		{"a bare CR in a field value",
			"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n" + smuggled, 400},
		{"a field without a colon",
			"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n" + smuggled, 400},
		{"a field with an empty name",
			"GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n" + smuggled, 400},
		{"a space inside a field name",
			"GET / HTTP/1.1\r\nHost: x\r\nContent Length: 37\r\n\r\n" + smuggled, 400},
		{"two Host fields",
			"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + smuggled, 400},
		{"HTTP/1.1 without Host",
			"GET / HTTP/1.1\r\n\r\n" + smuggled, 400},
		{"a version without a minor",
			"GET / HTTP/1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"a lower-case version",
			"GET / http/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"HTTP/0.9",
			"GET /\r\n\r\n" + smuggled, 400},
		{"two spaces in the request line",
			"GET  / HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"a control byte in the target",
			"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"a lower-case method",
			"trace / HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"a method of mixed case",
			"Trace / HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"a method with a digit",
			"G1T / HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"a method with a dot",
			"GE.T / HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"an absolute target without its slashes",
			"GET http:/a HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled, 400},
		{"an absolute target with user information",
			"GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n" + smuggled, 400},
		{"an invalid chunk size",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + smuggled, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ts := start(t, rec)
			c := dial(t, ts.addr)
			c.send(tt.request)
			switch tt.status {
			case 0:
				// The underscore field is dropped, so the request is
				// framed by its Content-Length; what follows is the
				// next request, garbage, refused on its own.
				if res, _ := c.read("POST"); res.StatusCode != 200 {
					t.Fatalf("status %d, want 200", res.StatusCode)
				}
				if res, _ := c.read("GET"); res.StatusCode != 400 {
					t.Errorf("garbage after it: status %d, want 400", res.StatusCode)
				}
				if h := rec.last.Header; h.Get("Transfer_Encoding") != "" || h.Get("Content-Length") != "0" {
					t.Errorf("handler got %q", h)
				}
			case -1:
				// The handler got the request and read a bad chunk:
				// the connection ends, the body's request with it.
				_, _ = c.br.ReadString(0)
			default:
				res, body := c.read("GET")
				if res.StatusCode != tt.status {
					t.Errorf("status %d, want %d", res.StatusCode, tt.status)
				}
				if !strings.Contains(body, "<center>limpet</center>") {
					t.Errorf("body %q, want limpet's error page", body)
				}
				if !c.closed() {
					t.Errorf("connection not closed")
				}
			}
			for _, r := range rec.requests() {
				if strings.Contains(r, "smuggled") {
					t.Errorf("the handler was handed %q", r)
				}
				if tt.status > 0 {
					t.Errorf("the handler was handed %q", r)
				}
			}
		})
	}
}

// TestHeaderLimits checks nginx's buffers: a request line beyond one
// large buffer is 414, a field line beyond one or a header beyond all of
// them is 400 "Request Header Or Cookie Too Large", and so is a header
// with more than max_headers fields; what keeps within them is served.
func TestHeaderLimits(t *testing.T) {
	field := func(name string, n int) string { return name + ": " + strings.Repeat("a", n-len(name)-4) + "\r\n" }
	fields := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-%d: v\r\n", i)
		}
		return b.String()
	}
	small := HeaderLimits{BufferSize: 1024, LargeBuffers: 2, LargeBufferSize: 2048, MaxFields: 10}
	tests := []struct {
		name    string
		limits  HeaderLimits
		request string
		status  int
	}{
		{"defaults: an 8k request line", HeaderLimits{},
			"GET /" + strings.Repeat("a", 8192-len("GET / HTTP/1.1\r\n")) + " HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"defaults: a request line over 8k", HeaderLimits{},
			"GET /" + strings.Repeat("a", 8193-len("GET / HTTP/1.1\r\n")) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"defaults: a 1 MiB request line", HeaderLimits{},
			"GET /" + strings.Repeat("a", 1<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"defaults: an 8k field", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + field("Cookie", 8192) + "\r\n", 200},
		{"defaults: a field over 8k", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + field("Cookie", 8193) + "\r\n", errpage.HeaderTooLarge},
		{"defaults: a 64k cookie", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + field("Cookie", 64<<10) + "\r\n", errpage.HeaderTooLarge},
		{"defaults: four 8k fields", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat(field("X-A", 8000), 4) + "\r\n", 200},
		{"defaults: a header of 100k", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat(field("X-A", 8000), 13) + "\r\n", errpage.HeaderTooLarge},
		{"defaults: 1000 fields", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + fields(999) + "\r\n", 200},
		{"defaults: 1001 fields", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + fields(1000) + "\r\n", errpage.HeaderTooLarge},
		{"defaults: 10,000 fields", HeaderLimits{},
			"GET / HTTP/1.1\r\nHost: x\r\n" + fields(10000) + "\r\n", errpage.HeaderTooLarge},
		{"small: a 2k request line", small,
			"GET /" + strings.Repeat("a", 2048-len("GET / HTTP/1.1\r\n")) + " HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"small: a request line over 2k, in the buffer", small,
			"GET /" + strings.Repeat("a", 2049-len("GET / HTTP/1.1\r\n")) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"small: a field over 2k, in the buffer", small,
			"GET / HTTP/1.1\r\nHost: x\r\n" + field("X-A", 2049) + "\r\n", errpage.HeaderTooLarge},
		{"small: 10 fields", small,
			"GET / HTTP/1.1\r\n" + fields(9) + "Host: x\r\n\r\n", 200},
		{"small: 11 fields, in the buffer", small,
			"GET / HTTP/1.1\r\n" + fields(10) + "Host: x\r\n\r\n", errpage.HeaderTooLarge},
		{"small: 11 fields of which 2 are dropped", small,
			"GET / HTTP/1.1\r\n" + fields(8) + "X_A: 1\r\nX.B: 2\r\nHost: x\r\n\r\n", 200},
		{"small: 12 fields of which 1 is dropped", small,
			"GET / HTTP/1.1\r\n" + fields(10) + "X_A: 1\r\nHost: x\r\n\r\n", errpage.HeaderTooLarge},
		{"small: a block over 5k", small,
			"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat(field("X-A", 1800), 3) + "\r\n", errpage.HeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ts := start(t, rec, func(s *Server) { s.Headers = tt.limits })
			c := dial(t, ts.addr)
			go func() { _, _ = c.c.Write([]byte(tt.request)) }() // the server may answer before reading it all
			res, body := c.read("GET")
			if want := errpage.Status(tt.status); res.StatusCode != want {
				t.Fatalf("status %d, want %d", res.StatusCode, want)
			}
			if tt.status == 200 {
				if len(rec.requests()) != 1 {
					t.Errorf("handler got %d requests", len(rec.requests()))
				}
				return
			}
			if want := errpage.Body(tt.status); body != want {
				t.Errorf("body %q, want %q", body, want)
			}
			if len(rec.requests()) != 0 {
				t.Errorf("handler got %q", rec.requests())
			}
			if !c.closed() {
				t.Errorf("connection not closed")
			}
		})
	}
}

// TestMethodsNginxRefuses: TRACE and CONNECT are answered 405 (400 for a
// CONNECT whose target is not host:port), as nginx answers them, and
// never reach the handler.
func TestMethodsNginxRefuses(t *testing.T) {
	tests := []struct {
		name, request string
		status        int
	}{
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"TRACE with a body", "TRACE / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", 405},
		{"CONNECT host:port", "CONNECT lb:80 HTTP/1.1\r\nHost: lb:80\r\n\r\n", 405},
		{"CONNECT without Host", "CONNECT example.com:443 HTTP/1.1\r\n\r\n", 405},
		{"CONNECT an IPv6 literal", "CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"CONNECT a path", "CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"CONNECT without a port", "CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"CONNECT an invalid host", "CONNECT ..example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ts := start(t, rec)
			c := dial(t, ts.addr)
			c.send(tt.request)
			res, body := c.read("GET")
			if res.StatusCode != tt.status || body != errpage.Body(tt.status) {
				t.Errorf("got %d %q, want %d with nginx's page", res.StatusCode, body, tt.status)
			}
			if len(rec.requests()) != 0 {
				t.Errorf("handler got %q", rec.requests())
			}
		})
	}
}

// TestHostValidation: Host values nginx refuses are 400, from the Host
// field or an absolute-form target.
func TestHostValidation(t *testing.T) {
	tests := []struct {
		name, request string
		status        int
		host          string
	}{
		{"a plain name", "GET / HTTP/1.1\r\nHost: Example.com\r\n\r\n", 200, "Example.com"},
		{"a name with a port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", 200, "example.com:8080"},
		{"a trailing dot", "GET / HTTP/1.1\r\nHost: example.com.\r\n\r\n", 200, "example.com."},
		{"an IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 200, "[::1]:80"},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200, ""},
		{"an empty label", "GET / HTTP/1.1\r\nHost: ..example.com\r\n\r\n", 400, ""},
		{"a port over 65535", "GET / HTTP/1.1\r\nHost: host:98777\r\n\r\n", 400, ""},
		{"two ports", "GET / HTTP/1.1\r\nHost: a:9000:80\r\n\r\n", 400, ""},
		{"an unclosed IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, ""},
		{"an empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, ""},
		{"a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, ""},
		{"an invalid host in the target", "GET http://..x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"an invalid port in the target", "GET http://x:99999/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"an absolute target", "GET http://Abs.example/x HTTP/1.1\r\nHost: other\r\n\r\n", 200, "Abs.example"},
		{"an absolute target beside an invalid Host", "GET http://a/ HTTP/1.1\r\nHost: ..bad\r\n\r\n", 400, ""},
		{"an absolute target beside a Host with a bad port", "GET http://a/ HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ts := start(t, rec)
			c := dial(t, ts.addr)
			c.send(tt.request)
			if res, _ := c.read("GET"); res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == 200 && rec.last.Host != tt.host {
				t.Errorf("Host %q, want %q", rec.last.Host, tt.host)
			}
			if tt.status != 200 && len(rec.requests()) != 0 {
				t.Errorf("handler got %q", rec.requests())
			}
		})
	}
}

// TestInvalidFieldNames: names nginx calls invalid (an underscore, a dot,
// other token punctuation) are dropped by default, an underscore kept with
// underscores_in_headers on, all kept with ignore_invalid_headers off.
func TestInvalidFieldNames(t *testing.T) {
	const request = "GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 1.2.3.4\r\nX.Real.IP: 5.6.7.8\r\nX!: y\r\nX-Good-1: z\r\n\r\n"
	tests := []struct {
		name string
		opt  func(*Server)
		want []string
	}{
		{"defaults", func(*Server) {}, []string{"X-Good-1"}},
		{"underscores_in_headers on", func(s *Server) { s.UnderscoresInHeaders = true }, []string{"X-Good-1", "X_forwarded_for"}},
		{"ignore_invalid_headers off", func(s *Server) { s.KeepInvalidHeaders = true }, []string{"X!", "X-Good-1", "X.real.ip", "X_forwarded_for"}},
	}
	for _, tt := range tests {
		for _, pad := range []int{0, 5000} { // the fast path and http.ReadRequest's
			t.Run(fmt.Sprintf("%s/%d", tt.name, pad), func(t *testing.T) {
				rec := &recorder{}
				ts := start(t, rec, tt.opt)
				c := dial(t, ts.addr)
				req := request
				if pad > 0 {
					req = strings.Replace(req, "\r\n\r\n", "\r\nX-Pad: "+strings.Repeat("p", pad)+"\r\n\r\n", 1)
				}
				c.send(req)
				if res, _ := c.read("GET"); res.StatusCode != 200 {
					t.Fatalf("status %d", res.StatusCode)
				}
				var got []string
				for k := range rec.last.Header {
					if k != "X-Pad" {
						got = append(got, k)
					}
				}
				if fmt.Sprint(slices.Sorted(slices.Values(got))) != fmt.Sprint(tt.want) {
					t.Errorf("fields %q, want %q", slices.Sorted(slices.Values(got)), tt.want)
				}
			})
		}
	}
}

// TestFragment: a "#fragment" sent in the target is cut from the path and
// the query, so it cannot keep "/.." from being resolved; RequestURI
// keeps it, as nginx's $request_uri does.
func TestFragment(t *testing.T) {
	tests := []struct {
		target, path, query string
	}{
		{"/a/b#frag", "/a/b", ""},
		{"/a/..#/b", "/a/..", ""},
		{"/a?x=1#frag", "/a", "x=1"},
		{"/a#f?x=1", "/a", ""},
		{"/a%23b", "/a#b", ""}, // an escaped '#' is part of the path
		{"/a?x=%23#y", "/a", "x=%23"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := &recorder{}
			ts := start(t, rec)
			c := dial(t, ts.addr)
			c.send("GET " + tt.target + " HTTP/1.1\r\nHost: x\r\n\r\n")
			if res, _ := c.read("GET"); res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			u := rec.last.URL
			if u.Path != tt.path || u.RawQuery != tt.query || rec.last.RequestURI != tt.target {
				t.Errorf("path %q query %q uri %q, want %q %q %q", u.Path, u.RawQuery, rec.last.RequestURI, tt.path, tt.query, tt.target)
			}
		})
	}
}

// TestChunkedBodyShapes sends chunked bodies that a lenient or differing
// reader could frame otherwise (RFC 9112 section 7.1): the body reader
// reports an error for each, the connection closes, and the request
// written after the body is never handed to the handler.
func TestChunkedBodyShapes(t *testing.T) {
	const next = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name, body string
	}{
		{"a size that is not hexadecimal", "zz\r\nhello\r\n0\r\n\r\n"},
		{"a size with a 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"a size beyond 64 bits", "10000000000000000\r\nhello\r\n0\r\n\r\n"},
		{"a negative size", "-5\r\nhello\r\n0\r\n\r\n"},
		{"an empty size", "\r\nhello\r\n0\r\n\r\n"},
		{"data longer than its size", "3\r\nhello\r\n0\r\n\r\n"},
		{"data shorter than its size", "9\r\nhello\r\n0\r\n\r\n"},
		{"no CRLF after the data", "5\r\nhelloXX0\r\n\r\n"},
		{"a bare CR in an extension", "5;a\rb\r\nhello\r\n0\r\n\r\n"},
		{"a trailer that is no field", "5\r\nhello\r\n0\r\nnot a field\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			var bodyErr error
			ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b := make([]byte, 64)
				var err error
				for err == nil {
					_, err = r.Body.Read(b)
				}
				mu.Lock()
				seen = append(seen, r.RequestURI)
				if err != io.EOF {
					bodyErr = err
				}
				mu.Unlock()
				if err != io.EOF {
					w.WriteHeader(http.StatusBadRequest)
				}
			}))
			c := dial(t, ts.addr)
			c.send("POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + tt.body + next)
			res, _ := c.read("POST")
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want the handler's 400", res.StatusCode)
			}
			if !c.closed() {
				t.Errorf("connection not closed")
			}
			mu.Lock()
			defer mu.Unlock()
			if bodyErr == nil {
				t.Errorf("the body read without error")
			}
			if fmt.Sprint(seen) != "[/first]" {
				t.Errorf("handler got %q, want only /first", seen)
			}
		})
	}
}

// TestEmptyLinesBeforeRequest: CRLFs before a request line are skipped
// (RFC 9112 section 2.2, as nginx does), such as the CRLF a client sends
// after a body, and the connection goes on.
func TestEmptyLinesBeforeRequest(t *testing.T) {
	rec := &recorder{}
	ts := start(t, rec)
	c := dial(t, ts.addr)
	c.send("\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, _ := c.read("GET"); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	c.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
	for range 2 {
		if res, _ := c.read("GET"); res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if got := fmt.Sprint(rec.requests()); got != "[GET /a POST /b GET /c]" {
		t.Errorf("handler got %s", got)
	}
}
