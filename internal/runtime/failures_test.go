package runtime

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// twoServers is an upstream of two servers that retries everything it
// may, with the given location settings.
const twoServers = `
upstream backend { server {{a}}; server {{b}}; }
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / {
        proxy_pass http://backend;
        proxy_next_upstream error timeout http_500 http_502 http_503 http_504;
        {{extra}}
    }
}`

// rawRequest sends raw bytes to limpet and returns the response.
func rawRequest(t *testing.T, lb *limpet, req string, pause time.Duration, rest string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if rest != "" {
		time.Sleep(pause)
		if _, err := io.WriteString(conn, rest); err != nil {
			t.Fatal(err)
		}
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// A client's broken upload is the client's fault: 400, and no server is
// blamed, so the next user is served normally.
func TestBrokenClientBodyBlamesNoServer(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	lb := startLimpet(t, twoServers, "{{a}}", a.addr(), "{{b}}", b.addr(), "{{extra}}", "")
	res := rawRequest(t, lb, "PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\n", 0, "")
	if res.StatusCode != 400 {
		t.Errorf("broken chunked body: status %d, want 400", res.StatusCode)
	}
	for i := range 4 {
		if res, _ := get(t, newClient(t), lb.url+"/"); res.StatusCode != 200 {
			t.Fatalf("request %d after the broken upload: status %d, want 200", i, res.StatusCode)
		}
	}
	if strings.Contains(lb.errLog.String(), "temporarily disabled") {
		t.Errorf("a server was disabled because of a client's body:\n%s", lb.errLog.String())
	}
}

// A client that pauses its upload longer than proxy_read_timeout does not
// make the server look timed out: the read timeout starts once the request
// has been sent.
func TestSlowUploadIsNotAnUpstreamTimeout(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	lb := startLimpet(t, twoServers, "{{a}}", a.addr(), "{{b}}", b.addr(), "{{extra}}", "proxy_read_timeout 300ms;")
	res := rawRequest(t, lb, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello", 700*time.Millisecond, "world")
	if res.StatusCode != 200 {
		t.Errorf("slow upload: status %d, want 200", res.StatusCode)
	}
	got, body := a.lastRequest()
	if got == nil {
		got, body = b.lastRequest()
	}
	if string(body) != "helloworld" {
		t.Errorf("the server got %q, want helloworld", body)
	}
	if strings.Contains(lb.errLog.String(), "upstream attempt failed") {
		t.Errorf("the slow client was blamed on a server:\n%s", lb.errLog.String())
	}
}

// When no other server can take the request, the upstream's own error
// response reaches the client, headers and body intact, as in nginx.
func TestLastUpstreamResponsePassesThrough(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	for _, s := range []*backend{a, b} {
		s.setHandler(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "maintenance")
		})
	}
	lb := startLimpet(t, twoServers, "{{a}}", a.addr(), "{{b}}", b.addr(), "{{extra}}", "")
	res, body := get(t, newClient(t), lb.url+"/")
	if res.StatusCode != 503 || body != "maintenance" || res.Header.Get("Retry-After") != "120" {
		t.Errorf("got %d %q Retry-After %q, want the second server's own 503", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	if a.hitCount() != 1 || b.hitCount() != 1 {
		t.Errorf("hits a=%d b=%d, want one each", a.hitCount(), b.hitCount())
	}
}

// A streamed body (proxy_request_buffering off) too large to replay is
// not retried, and the first server's answer is what the client gets;
// the log lists only that server.
func TestUnreplayableBodyIsNotRetried(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	for _, s := range []*backend{a, b} {
		s.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) })
	}
	lb := startLimpet(t, twoServers, "{{a}}", a.addr(), "{{b}}", b.addr(), "{{extra}}", "client_max_body_size 0; proxy_request_buffering off;")
	req, _ := http.NewRequest(http.MethodPut, lb.url+"/", strings.NewReader(strings.Repeat("x", 200<<10)))
	res, _ := do(t, newClient(t), req)
	if res.StatusCode != 502 || a.hitCount()+b.hitCount() != 1 {
		t.Errorf("status %d after %d attempts, want the first server's 502 and one attempt", res.StatusCode, a.hitCount()+b.hitCount())
	}
	e := parseLog(t, lb.accessLog(t))
	if e[0].Statuses != "502" || strings.Contains(e[0].Upstream, ",") {
		t.Errorf("logged upstream %q statuses %q, want one attempt", e[0].Upstream, e[0].Statuses)
	}
}

// An upstream that breaks off mid-body: the client's connection is cut
// (it must not take a truncated body for a whole one), the request is
// still logged, and the server's count of requests in flight returns to 0.
func TestUpstreamBreaksOffMidBody(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	})
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log {{log}}; location / { proxy_pass http://backend; } }`, "{{app}}", app.addr())
	for range 3 {
		res, err := newClient(t).Get(lb.url + "/")
		if err != nil {
			continue // the connection may be cut before the headers are read
		}
		if _, err := io.ReadAll(res.Body); err == nil {
			t.Error("a truncated body was delivered as complete")
		}
		res.Body.Close()
	}
	if n := len(lb.accessLog(t)); n != 3 {
		t.Errorf("%d access log lines, want 3", n)
	}
	if active := lb.rt.Upstream("backend").Pool().Primary[0].Active(); active != 0 {
		t.Errorf("%d requests still counted in flight, want 0", active)
	}
}

// A client that leaves during its pinned server's answer is logged 499
// and still a hit: it was not moved anywhere.
func TestClientGoneIsNotAReassignment(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	for _, s := range []*backend{app1, app2} {
		s.setHandler(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
	}
	lb := startLimpet(t, designNotes, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	cookie := "SERVERID=" + idOf(app1)
	rawGone(t, lb, "GET / HTTP/1.1\r\nHost: x\r\nCookie: "+cookie+"\r\n\r\n")
	// The server notices the client left, then logs.
	var e []logEntry
	eventually(t, 3*time.Second, "the request logged", func() bool {
		if lines := lb.accessLog(t); len(lines) == 1 && lines[0] != "" {
			e = parseLog(t, lines)
		}
		return len(e) == 1
	})
	if e[0].Status != 499 || e[0].Sticky != "hit" {
		t.Errorf("logged %+v, want status 499 and sticky hit", e)
	}
	if strings.Contains(lb.errLog.String(), "temporarily disabled") {
		t.Error("a client leaving disabled the server")
	}
}

// rawGone sends a request and hangs up without waiting for the answer.
func rawGone(t *testing.T, lb *limpet, req string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, req)
	time.Sleep(100 * time.Millisecond)
	conn.Close()
}

// limpet adds nothing of its own to what passes through: no Go
// User-Agent, no guessed Content-Type.
func TestNothingInvented(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // send none
		_, _ = io.WriteString(w, "<html>not html really</html>")
	})
	lb := startLimpet(t, `
server { listen 127.0.0.1:0; access_log {{log}};
    location / { proxy_pass http://{{app}}; }
    location /close { return 444; }
}`, "{{app}}", app.addr())
	req, _ := http.NewRequest(http.MethodGet, lb.url+"/", nil)
	req.Header["User-Agent"] = nil
	res, _ := do(t, newClient(t), req)
	if ct, ok := res.Header["Content-Type"]; ok {
		t.Errorf("Content-Type %q invented", ct)
	}
	got, _ := app.lastRequest()
	if ua := got.Header.Get("User-Agent"); ua != "" {
		t.Errorf("backend got User-Agent %q, want none", ua)
	}
	if got.Host != app.addr() {
		t.Errorf("Host %q, want %q (the URL's host and port)", got.Host, app.addr())
	}
	if _, err := newClient(t).Get(lb.url + "/close"); err == nil {
		t.Error("return 444 answered instead of closing the connection")
	}
	// The client sees the close before the handler has logged: wait for
	// the line.
	eventually(t, 2*time.Second, "the 444 logged", func() bool {
		e := parseLog(t, lb.accessLog(t))
		return len(e) == 2 && e[1].Status == 444
	})
}

func idOf(b *backend) string { return upstream.IDFor(b.addr(), "") }

// When every server fails, no one answered and the user was not moved:
// the log keeps the original decision, the debug header says it too, and
// no cookie is sent.
func TestAllFailedKeepsTheDecision(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	conf := strings.Replace(designNotes, "access_log {{log}};", "access_log {{log}}; sticky_debug_header on;", 1)
	lb := startLimpet(t, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	app1.stop()
	app2.stop()
	res, _ := get(t, newClient(t), lb.url+"/", "Cookie", "SERVERID="+idOf(app1))
	if res.StatusCode != 502 || res.Header.Get("X-Limpet-Sticky") != "hit" || serverIDCookie(res) != nil {
		t.Errorf("status %d, X-Limpet-Sticky %q, Set-Cookie %q; want 502, hit, none",
			res.StatusCode, res.Header.Get("X-Limpet-Sticky"), res.Header["Set-Cookie"])
	}
	e := parseLog(t, lb.accessLog(t))
	if e[0].Sticky != "hit" || e[0].Statuses != "502, 502" {
		t.Errorf("logged %+v, want sticky hit and both attempts", e[0])
	}
}
