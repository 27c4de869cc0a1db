package vars

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// fixedAttempts is a retried request's two attempts.
type fixedAttempts []UpstreamAttempt

func (f fixedAttempts) Attempts() int                 { return len(f) }
func (f fixedAttempts) Attempt(i int) UpstreamAttempt { return f[i] }

// logRequest is a request as the proxy describes it once it has answered.
func logRequest(t *testing.T, target string, header http.Header, resp *Response) *Request {
	t.Helper()
	r, err := http.NewRequest("GET", "http://example.com"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RequestURI = target
	for k, v := range header {
		r.Header[k] = v
	}
	return &Request{R: r, Remote: netip.MustParseAddrPort("192.0.2.7:41000"), Response: resp}
}

// combined is nginx's predefined format (ngx_http_log_module.c).
const combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

func TestAppendLog(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 4, 5, 678_000_000, time.FixedZone("", 3600))
	clock := func() time.Time { return at }
	done := func() *Response {
		return &Response{Start: at.Add(-1234 * time.Millisecond), Now: clock, Status: 200, BodyBytes: 612, Completed: true}
	}
	retried := done()
	retried.Upstream = fixedAttempts{
		{Addr: "127.0.0.1:9001", Status: 502, ConnectTime: time.Millisecond, HeaderTime: 2 * time.Millisecond, ResponseTime: 3 * time.Millisecond},
		{Addr: "127.0.0.1:9002", Status: 200, HeaderTime: 5 * time.Millisecond, ResponseTime: 1500 * time.Millisecond},
	}
	retried.Sticky = "reassigned/server_failed"
	refused := done()
	refused.Upstream = fixedAttempts{{Addr: "127.0.0.1:9003", ConnectTime: -1, HeaderTime: -1, ResponseTime: time.Millisecond}}
	tests := []struct {
		name   string
		format string
		escape Escape
		target string
		header http.Header
		resp   *Response
		want   string
	}{
		// The line nginx's documentation shows for combined, with the
		// fields filled in by hand: absent user and referer are "-".
		{"combined", combined, EscapeDefault, "/index.html?a=1", http.Header{"User-Agent": {"curl/8.5.0"}}, done(),
			`192.0.2.7 - - [02/Dec/2026:15:04:05 +0100] "GET /index.html?a=1 HTTP/1.1" 200 612 "-" "curl/8.5.0"`},
		{"combined with a user and a referer", combined, EscapeDefault, "/", http.Header{
			"Authorization": {"Basic YWxpY2U6c2VjcmV0"}, "Referer": {"http://a.example/"}, "User-Agent": {"Mozilla/5.0 (X11)"}}, done(),
			`192.0.2.7 - alice [02/Dec/2026:15:04:05 +0100] "GET / HTTP/1.1" 200 612 "http://a.example/" "Mozilla/5.0 (X11)"`},
		{"default escaping", `"$http_user_agent"`, EscapeDefault, "/", http.Header{"User-Agent": {"a\"b\\c\x01\x7fé"}}, done(),
			`"a\x22b\x5Cc\x01\x7F\xC3\xA9"`},
		{"json escaping", `{"ua":"$http_user_agent","ref":"$http_referer"}`, EscapeJSON, "/", http.Header{"User-Agent": {"a\"b\\c\n\t\x01é"}}, done(),
			`{"ua":"a\"b\\c\n\t\u0001é","ref":""}`},
		{"no escaping", `$http_user_agent|$http_referer`, EscapeNone, "/", http.Header{"User-Agent": {`a"b\c`}}, done(),
			`a"b\c|-`},
		// A decoded $uri with a quote, spaces and control bytes, an absent
		// and a present argument, in the three escapings.
		{"default escaping of a decoded uri", `$uri$arg_b$arg_c`, EscapeDefault, "/e/%22x%20%1B%1F%20%22?c=7", nil, done(), `/e/\x22x \x1B\x1F \x22-7`},
		{"json escaping of a decoded uri", `$uri$arg_b$arg_c`, EscapeJSON, "/e/%22x%20%1B%1F%20%22?c=7", nil, done(), `/e/\"x \u001B\u001F \"7`},
		{"no escaping of a decoded uri", `$uri$arg_b$arg_c`, EscapeNone, "/e/%22x%20%1B%1F%20%22?c=7", nil, done(), "/e/\"x \x1b\x1f \"-7"},
		{"binary address", `$binary_remote_addr`, EscapeDefault, "/", nil, done(), `\xC0\x00\x02\x07`},
		{"literal text is not escaped", `"\x" $status`, EscapeDefault, "/", nil, done(), `"\x" 200`},
		{"after a retry", `$upstream_addr $upstream_status $upstream_response_time $upstream_header_time $upstream_connect_time $sticky_reason`,
			EscapeDefault, "/", nil, retried,
			`127.0.0.1:9001, 127.0.0.1:9002 502, 200 0.003, 1.500 0.002, 0.005 0.001, 0.000 reassigned/server_failed`},
		{"a server that did not answer", `$upstream_status $upstream_header_time $upstream_connect_time`, EscapeDefault, "/", nil, refused, `- - -`},
		{"not proxied", `$upstream_addr $upstream_status $sticky_reason`, EscapeDefault, "/", nil, done(), `- - -`},
		{"times", `$request_time $msec $time_iso8601`, EscapeDefault, "/", nil, done(),
			`1.234 ` + strconv.FormatInt(at.Unix(), 10) + `.678 2026-12-02T15:04:05+01:00`},
		{"sizes and completion", `$status $body_bytes_sent $request_completion`, EscapeDefault, "/", nil, done(), `200 612 OK`},
		{"no status yet", `$status $request_completion.`, EscapeDefault, "/", nil, &Response{}, `000 .`},
		{"arguments of any name", `$arg_Page_Size $arg_x-y $arg_none $args $is_args.`, EscapeDefault, "/?page_size=20&x=1", nil, done(), `20 1-y - page_size=20&x=1 ?.`},
		{"empty arguments", `$args$is_args.`, EscapeDefault, "/", nil, done(), `-.`},
		{"response headers", `$sent_http_content_type|$sent_http_set_cookie|$sent_http_x_none|$upstream_http_x_app_pool|$gzip_ratio`,
			EscapeDefault, "/", nil, withHeaders(done()), `text/html|a=1, b=2|-|blue|-`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Compile(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			got := string(tpl.AppendLog(nil, logRequest(t, tt.target, tt.header, tt.resp), tt.escape))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func withHeaders(p *Response) *Response {
	p.Header = http.Header{"Content-Type": {"text/html"}, "Set-Cookie": {"a=1", "b=2"}}
	p.UpstreamHeader = http.Header{"X-App-Pool": {"blue"}}
	return p
}

// $request_id is 32 hexadecimal digits, one value per request however
// often it is used, another for the next request.
func TestRequestID(t *testing.T) {
	tpl := MustCompile("$request_id $request_id")
	var p1, p2 Response
	r1 := logRequest(t, "/", nil, &p1)
	got := tpl.Expand(r1)
	m := regexp.MustCompile(`^([0-9a-f]{32}) ([0-9a-f]{32})$`).FindStringSubmatch(got)
	if m == nil || m[1] != m[2] {
		t.Fatalf("got %q, want one id of 32 hex digits twice", got)
	}
	if again := MustCompile("$request_id").Expand(r1); again != m[1] {
		t.Errorf("the id changed within a request: %q then %q", m[1], again)
	}
	if other := MustCompile("$request_id").Expand(logRequest(t, "/", nil, &p2)); other == m[1] {
		t.Errorf("two requests share the id %q", other)
	}
}

// The variables that need a connection or a response are empty (and "-"
// in logs) without them, rather than failing.
func TestLateVariablesWithoutResponse(t *testing.T) {
	r := logRequest(t, "/a", nil, nil)
	tpl := MustCompile("$status|$upstream_addr|$connection|$connection_requests|$request_id|$request")
	if got := string(tpl.AppendLog(nil, r, EscapeDefault)); got != "-|-|-|-|-|GET /a HTTP/1.1" {
		t.Errorf("got %q", got)
	}
	for _, name := range []string{"pid", "hostname", "nginx_version", "time_local", "msec", "request_length"} {
		if v := MustCompile("$" + name).Expand(r); v == "" {
			t.Errorf("$%s is empty", name)
		}
	}
}

func BenchmarkAppendLogCombined(b *testing.B) {
	tpl := MustCompile(combined)
	r, _ := http.NewRequest("GET", "http://example.com/cart?id=1", nil)
	r.RequestURI = "/cart?id=1"
	r.Header.Set("User-Agent", "wrk")
	vr := &Request{R: r, Remote: netip.MustParseAddrPort("127.0.0.1:5000"), Response: &Response{Start: time.Now(), Status: 200, BodyBytes: 512}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = tpl.AppendLog(buf[:0], vr, EscapeDefault)
	}
}

// Whatever a client sends, escape=default and escape=json keep a log
// line one line, and json keeps it a valid JSON string's content.
func FuzzAppendLogEscapes(f *testing.F) {
	f.Add("curl/8", "/")
	f.Add("a\"b\\c\n\r\x00\xff", "/\x7f?q=\"")
	tpl := MustCompile(`{"ua":"$http_user_agent","uri":"$request_uri"}`)
	f.Fuzz(func(t *testing.T, ua, uri string) {
		r := &Request{R: &http.Request{Method: "GET", RequestURI: uri, Header: http.Header{"User-Agent": {ua}}}}
		for _, esc := range []Escape{EscapeDefault, EscapeJSON} {
			line := tpl.AppendLog(nil, r, esc)
			if bytes.ContainsAny(line, "\n\r") {
				t.Fatalf("escape %d: line break in %q", esc, line)
			}
			if esc == EscapeJSON {
				var v map[string]string
				if err := json.Unmarshal(line, &v); err != nil && utf8.Valid(line) {
					t.Fatalf("escape=json: not JSON: %v\n%q", err, line)
				}
			}
		}
	})
}

// The late variables' kinds stay below the TLS ones, which appendVar
// tells apart by range.
func TestLateKindsBelowTLS(t *testing.T) {
	if kLateEnd > kHTTPS {
		t.Fatalf("late kinds end at %d, past the TLS kinds' start %d", kLateEnd, kHTTPS)
	}
	if v := MustCompile("$https|$status").Expand(&Request{R: &http.Request{}, Response: &Response{Status: 204}}); v != "|204" {
		t.Errorf("$https|$status = %q, want \"|204\"", v)
	}
}
