package runtime

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange sends request on a new connection to limpet and returns the
// response and whether limpet closed the connection after it.
func rawExchange(t *testing.T, lb *limpet, request string) (res *http.Response, body string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(c, request) }()
	br := bufio.NewReader(c)
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	_, err = br.ReadByte()
	return res, string(b), err == io.EOF
}

// TestHostileRequestsNeverReachBackends sends, through a whole limpet,
// the requests issue 9's probes found forwarded: each is refused with
// nginx's status and page and the connection closed, and the backend,
// which records every request it gets, gets none of them.
func TestHostileRequestsNeverReachBackends(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://backend; }
}`, "{{app}}", app.addr())
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: lb\r\n\r\n"
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled)
	tests := []struct {
		name, request string
		status        int
	}{
		{"HTTP/1.0 keep-alive with Transfer-Encoding", "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, 400},
		{"HTTP/1.0 with Transfer-Encoding and Content-Length 0", "POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, 400},
		{"two equal Content-Lengths", "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 37\r\nContent-Length: 37\r\n\r\n" + smuggled, 400},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: lb\r\n\r\n", 405},
		{"CONNECT", "CONNECT lb:80 HTTP/1.1\r\nHost: lb:80\r\n\r\n", 405},
		{"a Host with an empty label", "GET / HTTP/1.1\r\nHost: ..example.com\r\n\r\n", 400},
		{"a Host with a port over 65535", "GET / HTTP/1.1\r\nHost: host:98777\r\n\r\n", 400},
		{"a Host with two ports", "GET / HTTP/1.1\r\nHost: a:9000:80\r\n\r\n", 400},
		{"an unclosed IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
		{"a 1 MiB request line", "GET /" + strings.Repeat("a", 1<<20) + " HTTP/1.1\r\nHost: lb\r\n\r\n", 414},
		{"a 100 KB header", "GET / HTTP/1.1\r\nHost: lb\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", 100) + "\r\n", 400},
		{"a 64 KB cookie", "GET / HTTP/1.1\r\nHost: lb\r\nCookie: " + strings.Repeat("c", 64<<10) + "\r\n\r\n", 400},
		{"10,000 fields", "GET / HTTP/1.1\r\nHost: lb\r\n" + strings.Repeat("X: y\r\n", 10000) + "\r\n", 400},
		// Fields limpet checks itself are bounded by the same buffers.
		{"a 16 KB Host", "GET / HTTP/1.1\r\nHost: " + strings.Repeat("h", 16<<10) + "\r\n\r\n", 400},
		{"a Content-Length of 40 digits", "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: " + strings.Repeat("9", 40) + "\r\n\r\n", 400},
		{"a 16 KB Transfer-Encoding", "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: " + strings.Repeat("gzip, ", 2800) + "chunked\r\n\r\n", 400},
		{"a 7 KB Expect", "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 1\r\nExpect: " + strings.Repeat("e", 7<<10) + "\r\n\r\nx", 417},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body, closed := rawExchange(t, lb, tt.request)
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if !strings.Contains(body, "<hr><center>limpet</center>") {
				t.Errorf("body %q, want limpet's error page", body)
			}
			if !closed {
				t.Errorf("connection kept open")
			}
		})
	}
	if n := app.hitCount(); n != 0 {
		last, _ := app.lastRequest()
		t.Errorf("the backend got %d requests, the last %s %s", n, last.Method, last.RequestURI)
	}
}

// TestInvalidHeaderNamesNotForwarded: with nginx's defaults a field whose
// name has an underscore is not forwarded; underscores_in_headers on
// forwards it.
func TestInvalidHeaderNamesNotForwarded(t *testing.T) {
	for _, tt := range []struct {
		name, setting string
		want          string
	}{
		{"defaults", "", ""},
		{"underscores_in_headers on", "underscores_in_headers on;", "1.2.3.4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := newBackend(t, "app")
			lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    `+tt.setting+`
    location / { proxy_pass http://backend; }
}`, "{{app}}", app.addr())
			res, _, _ := rawExchange(t, lb, "GET / HTTP/1.1\r\nHost: lb\r\nX_Client_IP: 1.2.3.4\r\nConnection: close\r\n\r\n")
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			last, _ := app.lastRequest()
			if got := last.Header.Get("X_Client_IP"); got != tt.want {
				t.Errorf("backend got X_Client_IP %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFragmentCannotDodgeALocation: a "#fragment" sent in the target is
// cut before the location is chosen, so "/admin#x" is the exact location
// "/admin", and "/public/..#" resolves to "/".
func TestFragmentCannotDodgeALocation(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location = /admin { return 403; }
    location = / { return 200 "root"; }
    location / { proxy_pass http://backend; }
}`, "{{app}}", app.addr())
	for _, tt := range []struct {
		target string
		status int
		body   string
	}{
		{"/admin#x", 403, ""},
		{"/public/..#", 200, "root"},
		{"/public/x#y", 200, "app"},
	} {
		res, body, _ := rawExchange(t, lb, "GET "+tt.target+" HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
		if res.StatusCode != tt.status || tt.body != "" && body != tt.body {
			t.Errorf("%s: %d %q, want %d %q", tt.target, res.StatusCode, body, tt.status, tt.body)
		}
	}
}
