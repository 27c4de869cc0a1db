package runtime

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRequestReuseLeaksNothing runs requests of different shapes, several
// per keep-alive connection on several connections at once, through the
// real proxy handler with h1srv reusing each request's storage for the
// connection's next (the listener's Settings.ReuseRequests, which the
// test checks is on): plain proxied requests with and without fields, one
// with more fields than the request's own array holds, a body, an
// error_page redirect to a named location, an auth_request subrequest, a
// return, and a target only http.ReadRequest parses. Nothing of one
// request may show in the next: not in what the backend is sent, not in
// the response, not in the access log's $http_* variables.
func TestRequestReuseLeaksNothing(t *testing.T) {
	app := newBackend(t, "app")
	// The backend echoes what it was sent: the path, the X- fields and
	// Cookie, and the body.
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		var fields []string
		for k, v := range r.Header {
			if strings.HasPrefix(k, "X-") && k != "X-Forwarded-For" && k != "X-Real-Ip" || k == "Cookie" {
				fields = append(fields, k+"="+strings.Join(v, ","))
			}
		}
		slices.Sort(fields)
		body, _ := io.ReadAll(r.Body) // read by the backend's serve already: empty
		_, _ = fmt.Fprintf(w, "%s|%s|%s", r.URL.RequestURI(), strings.Join(fields, " "), body)
	})
	lb := startLimpet(t, `
log_format reuse '$request_uri|$http_x_tag|$http_cookie|$http_x_f|$status';
upstream app { server {{app}}; keepalive 4; }
server {
    listen 127.0.0.1:0;
    access_log {{log}} reuse;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location / { proxy_pass http://app; }
    location /ep { error_page 418 = @app; return 418; }
    location /auth { auth_request /_auth; proxy_pass http://app; }
    location = /_auth { internal; proxy_pass http://app/authcheck; }
    location /ret { return 200 "ret $http_x_tag"; }
    location @app { proxy_pass http://app; }
}`, "{{app}}", app.addr())
	for _, l := range lb.rt.cur.Load().listens {
		if !l.settings.ReuseRequests {
			t.Fatalf("listener %s does not reuse requests: the test would test nothing", l.addr)
		}
	}

	type shape struct {
		request  func(tag string) string
		response func(tag string) string // the body the client gets
		log      func(tag string) string // the log line after $request_uri
	}
	shapes := []shape{
		{ // fields the next ones do not have
			func(tag string) string {
				return "GET /p?" + tag + " HTTP/1.1\r\nHost: x\r\nX-Tag: " + tag + "\r\nCookie: c=" + tag + "\r\n\r\n"
			},
			func(tag string) string { return "/p?" + tag + "|Cookie=c=" + tag + " X-Tag=" + tag + "|" },
			func(tag string) string { return tag + "|c=" + tag + "|-|200" },
		},
		{ // none
			func(tag string) string { return "GET /p?" + tag + " HTTP/1.1\r\nHost: x\r\n\r\n" },
			func(tag string) string { return "/p?" + tag + "||" },
			func(tag string) string { return "-|-|-|200" },
		},
		{ // more than the request's array of values
			func(tag string) string {
				return "GET /p?" + tag + " HTTP/1.1\r\nHost: x\r\nX-A: a\r\nX-B: b\r\nX-C: c\r\nX-D: d\r\nX-E: e\r\nX-F: " + tag + "\r\nX-Tag: " + tag + "\r\nX-Tag: again\r\n\r\n"
			},
			func(tag string) string {
				return "/p?" + tag + "|X-A=a X-B=b X-C=c X-D=d X-E=e X-F=" + tag + " X-Tag=" + tag + ",again|"
			},
			func(tag string) string { return tag + ", again|-|" + tag + "|200" },
		},
		{ // a body
			func(tag string) string {
				return "POST /p?" + tag + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + fmt.Sprint(len(tag)) + "\r\nX-Tag: " + tag + "\r\n\r\n" + tag
			},
			func(tag string) string { return "/p?" + tag + "|X-Tag=" + tag + "|" },
			func(tag string) string { return tag + "|-|-|200" },
		},
		{ // an error_page redirect to a named location
			func(tag string) string {
				return "GET /ep?" + tag + " HTTP/1.1\r\nHost: x\r\nCookie: e=" + tag + "\r\n\r\n"
			},
			func(tag string) string { return "/ep?" + tag + "|Cookie=e=" + tag + "|" },
			func(tag string) string { return "-|e=" + tag + "|-|200" },
		},
		{ // an auth_request subrequest
			func(tag string) string {
				return "GET /auth?" + tag + " HTTP/1.1\r\nHost: x\r\nX-Tag: " + tag + "\r\n\r\n"
			},
			func(tag string) string { return "/auth?" + tag + "|X-Tag=" + tag + "|" },
			func(tag string) string { return tag + "|-|-|200" },
		},
		{ // limpet's own answer
			func(tag string) string {
				return "GET /ret?" + tag + " HTTP/1.1\r\nHost: x\r\nX-Tag: " + tag + "\r\n\r\n"
			},
			func(tag string) string { return "ret " + tag },
			func(tag string) string { return tag + "|-|-|200" },
		},
		{ // a target only http.ReadRequest parses, passed on as sent
			func(tag string) string {
				return "GET /p%7e?" + tag + " HTTP/1.1\r\nHost: x\r\nCookie: r=" + tag + "\r\n\r\n"
			},
			func(tag string) string { return "/p%7e?" + tag + "|Cookie=r=" + tag + "|" },
			func(tag string) string { return "-|r=" + tag + "|-|200" },
		},
	}

	const conns, rounds = 4, 3
	var (
		mu   sync.Mutex
		want = make(map[string]string) // log line by its $request_uri
		wg   sync.WaitGroup
	)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			for j := range rounds * len(shapes) {
				s := shapes[(j+i)%len(shapes)] // each connection in its own order
				tag := fmt.Sprintf("t%d-%d", i, j)
				req := s.request(tag)
				if _, err := io.WriteString(c, req); err != nil {
					t.Error(err)
					return
				}
				method, _, _ := strings.Cut(req, " ")
				res, err := http.ReadResponse(br, &http.Request{Method: method})
				if err != nil {
					t.Errorf("%q: %v", req, err)
					return
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || string(body) != s.response(tag) {
					t.Errorf("%q: %d %q (%v), want 200 %q", req, res.StatusCode, body, err, s.response(tag))
				}
				uri := strings.Fields(req)[1]
				mu.Lock()
				want[uri] = uri + "|" + s.log(tag)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	lines := readLog(t, lb, lb.logPath)
	if len(lines) != len(want) {
		t.Errorf("%d log lines, want %d", len(lines), len(want))
	}
	for _, line := range lines {
		uri, _, _ := strings.Cut(line, "|")
		if w, ok := want[uri]; !ok || line != w {
			t.Errorf("log line\n  %s\nwant\n  %s", line, w)
		}
	}
}
