package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// readLog waits until lb has logged every request it finished, then
// returns the lines of the log at path.
func readLog(t *testing.T, lb *limpet, path string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lb.rt.cur.Load().waitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, lg := range lb.rt.cur.Load().logs {
		lg.Flush()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("access log: %v", err)
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// A retried request, logged by two access_log lines of one location: in
// nginx's combined format, exactly as nginx writes it, and in a format of
// the user's with the upstream variables listing both attempts; the
// $request_id sent to the backend is the one logged.
func TestLogFormats(t *testing.T) {
	bad, good := newBackend(t, "bad"), newBackend(t, "good")
	bad.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	combinedLog := filepath.Join(t.TempDir(), "combined.log")
	lb := startLimpet(t, `
log_format upstreams '$upstream_addr|$upstream_status|$status|$request_id|$sticky_reason|$connection_requests|$body_bytes_sent'
                     ' "$http_x_note"|$upstream_connect_time|$upstream_header_time|$upstream_response_time|$request_time';
upstream backend { server {{bad}}; server {{good}}; }
server {
    listen 127.0.0.1:0;
    location / {
        proxy_pass http://backend;
        proxy_next_upstream error http_502;
        proxy_set_header X-Request-ID $request_id;
        access_log {{combined}} combined;
        access_log {{log}} upstreams;
    }
}`, "{{bad}}", bad.addr(), "{{good}}", good.addr(), "{{combined}}", combinedLog)
	c := newClient(t)
	var seen []string
	for range 2 { // round-robin: one of the two requests tries bad first
		req, _ := http.NewRequest("GET", lb.url+"/shop/cart?item=7&q=a%20b", nil)
		req.Header.Set("User-Agent", "test-agent/1.0")
		req.Header.Set("Referer", "http://shop.example/")
		req.Header.Set("X-Note", `say "hi"`)
		res, body := do(t, c, req)
		if res.StatusCode != 200 || body != "good" {
			t.Fatalf("got %d %q, want 200 from good", res.StatusCode, body)
		}
		last, _ := good.lastRequest()
		seen = append(seen, last.Header.Get("X-Request-ID"))
	}

	// combined: $remote_addr - $remote_user [$time_local] "$request"
	// $status $body_bytes_sent "$http_referer" "$http_user_agent"
	lines := readLog(t, lb, combinedLog)
	if len(lines) != 2 {
		t.Fatalf("combined log has %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	m := regexp.MustCompile(`^127\.0\.0\.1 - - \[([^]]+)\] (.*)$`).FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("combined line %q does not start as nginx's does", lines[0])
	}
	if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[1]); err != nil {
		t.Errorf("time_local %q: %v", m[1], err)
	}
	if want := `"GET /shop/cart?item=7&q=a%20b HTTP/1.1" 200 4 "http://shop.example/" "test-agent/1.0"`; m[2] != want {
		t.Errorf("combined line ends\n  %s\nwant\n  %s", m[2], want)
	}

	lines = readLog(t, lb, lb.logPath)
	if len(lines) != 2 {
		t.Fatalf("upstreams log has %d lines, want 2", len(lines))
	}
	retried := 0
	for i, line := range lines {
		f := strings.Split(line, "|")
		if len(f) != 11 {
			t.Fatalf("line %q has %d fields", line, len(f))
		}
		times := `\d+\.\d{3}`
		if len(strings.Split(f[0], ", ")) == 2 {
			times += `, \d+\.\d{3}`
		}
		for _, v := range f[7:10] {
			if !regexp.MustCompile(`^` + times + `$`).MatchString(v) {
				t.Errorf("upstream times %q, want one per attempt", f[7:10])
			}
		}
		if !regexp.MustCompile(`^\d+\.\d{3}$`).MatchString(f[10]) {
			t.Errorf("$request_time %q", f[10])
		}
		switch f[0] {
		case bad.addr() + ", " + good.addr():
			retried++
			if f[1] != "502, 200" {
				t.Errorf("retried request: $upstream_status %q, want \"502, 200\"", f[1])
			}
		case good.addr():
			if f[1] != "200" {
				t.Errorf("direct request: $upstream_status %q, want 200", f[1])
			}
		default:
			t.Errorf("$upstream_addr %q", f[0])
		}
		if f[2] != "200" || f[3] != seen[i] || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(f[3]) {
			t.Errorf("status %q, request id %q; want 200 and the id the backend got, %q", f[2], f[3], seen[i])
		}
		if f[4] != "-" || f[5] != fmt.Sprint(i+1) || f[6] != `4 "say \x22hi\x22"` {
			t.Errorf("sticky %q, connection requests %q, rest %q", f[4], f[5], f[6])
		}
	}
	if retried != 1 {
		t.Errorf("%d requests retried, want 1", retried)
	}
	if seen[0] == seen[1] {
		t.Errorf("two requests had the same $request_id %q", seen[0])
	}
}

// access_log's if= leaves out the requests whose condition is empty or
// "0"; a level's lines replace the outer level's; the JSON line stays the
// default of a line without a format.
func TestAccessLogIf(t *testing.T) {
	app := newBackend(t, "app")
	jsonLog := filepath.Join(t.TempDir(), "json.log")
	lb := startLimpet(t, `
log_format short '$request_method $uri $status $upstream_http_x_served_by $sent_http_x_served_by';
access_log {{json}};
server {
    listen 127.0.0.1:0;
    location / {
        proxy_pass http://{{app}};
        access_log {{log}} short if=$arg_log;
    }
    location /json/ {
        proxy_pass http://{{app}};
    }
}`, "{{app}}", app.addr(), "{{json}}", jsonLog)
	c := newClient(t)
	for _, q := range []string{"?log=1", "?log=0", "", "?log=", "?log=yes", "/json/x"} {
		url := lb.url + "/a" + q
		if strings.HasPrefix(q, "/") {
			url = lb.url + q
		}
		if res, _ := get(t, c, url); res.StatusCode != 200 {
			t.Fatalf("%s: %d", url, res.StatusCode)
		}
	}
	if got, want := strings.Join(readLog(t, lb, lb.logPath), "\n"), "GET /a 200 app app\nGET /a 200 app app"; got != want {
		t.Errorf("log with if=:\n%s\nwant\n%s", got, want)
	}
	e := parseLog(t, readLog(t, lb, jsonLog))
	if len(e) != 1 || e[0].URI != "/json/x" {
		t.Errorf("JSON log: %+v, want the one request to /json/x", e)
	}
}

// rawConn is a client connection that sends requests by hand, to see
// where limpet ends keep-alive.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, lb *limpet) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{c: c, br: bufio.NewReader(c)}
}

// get sends a GET on the connection and returns the response, its body
// read.
func (rc *rawConn) get(t *testing.T, path string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(rc.c, "GET %s HTTP/1.1\r\nHost: lb\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// closed reports whether the server has closed the connection.
func (rc *rawConn) closed() bool {
	_, err := rc.br.ReadByte()
	return err == io.EOF
}

// keepalive_requests: the Nth response of a connection says "Connection:
// close" and the connection ends; as in nginx, the location that serves
// the request decides, whether it is stricter than its server or more
// lenient, and 0 ends keep-alive after one request.
func TestKeepaliveRequests(t *testing.T) {
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    keepalive_requests 3;
    location / { return 200 ok; }
    location /strict { keepalive_requests 1; return 200 strict; }
    location /lenient { keepalive_requests 5; return 200 lenient; }
    location /none { keepalive_requests 0; return 200 none; }
}`)
	for _, tt := range []struct {
		path string
		n    int
	}{{"/", 3}, {"/lenient", 5}, {"/none", 1}} {
		rc := dialRaw(t, lb)
		for i := 1; i <= tt.n; i++ {
			res := rc.get(t, tt.path)
			if wantClose := i == tt.n; res.Close != wantClose {
				t.Fatalf("%s, response %d: Connection close %t, want %t", tt.path, i, res.Close, wantClose)
			}
		}
		if !rc.closed() {
			t.Errorf("%s: the connection stayed open after keepalive_requests", tt.path)
		}
	}
	rc := dialRaw(t, lb)
	if res := rc.get(t, "/"); res.Close {
		t.Fatal("the first request closed the connection")
	}
	if res := rc.get(t, "/strict"); !res.Close {
		t.Error("the location's keepalive_requests 1 did not close the connection")
	}
	if !rc.closed() {
		t.Error("the connection stayed open after the location's keepalive_requests")
	}
}

// keepalive_time: a request that begins once the connection is older
// than keepalive_time is its last.
func TestKeepaliveTime(t *testing.T) {
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    keepalive_time 200ms;
    keepalive_requests 1000000;
    location / { add_header X-Conn $connection_requests:$connection_time; return 200 ok; }
}`)
	start := time.Now()
	rc := dialRaw(t, lb)
	for n := 1; ; n++ {
		res := rc.get(t, "/")
		if !res.Close {
			continue
		}
		// Only a lower bound: the request that closed was answered
		// after keepalive_time (measured from before the dial, so
		// from before limpet accepted the connection).
		if answered := time.Since(start); answered < 200*time.Millisecond {
			t.Errorf("request %d closed the connection %v after it opened, before keepalive_time", n, answered)
		}
		// $connection_requests:$connection_time, as nginx's test has it.
		if x := res.Header.Get("X-Conn"); !regexp.MustCompile(`^` + fmt.Sprint(n) + `:(0\.[2-9]\d\d|[1-9]\d*\.\d{3})$`).MatchString(x) {
			t.Errorf("X-Conn %q of request %d, want %d:(at least 0.200)", x, n, n)
		}
		break
	}
	if !rc.closed() {
		t.Error("the connection stayed open after keepalive_time")
	}
}

// client_body_timeout: a client that stops sending its body gets 408,
// and the upstream is not blamed.
func TestClientBodyTimeout(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / { proxy_pass http://{{app}}; client_body_timeout 100ms; }
}`, "{{app}}", app.addr())
	rc := dialRaw(t, lb)
	if _, err := io.WriteString(rc.c, "POST /upload HTTP/1.1\r\nHost: lb\r\nContent-Length: 100\r\n\r\npart of it"); err != nil {
		t.Fatal(err)
	}
	// The client sends nothing more; limpet's timeout answers.
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", res.StatusCode)
	}
	if e := parseLog(t, readLog(t, lb, lb.logPath)); len(e) != 1 || e[0].Status != 408 {
		t.Errorf("log %+v, want one 408", e)
	}
}

// limit_rate paces a proxied body: 150000 bytes at 100000 bytes per
// second, the first second's worth at once, take at least half a second.
// limit_rate_after lets its bytes through unpaced.
func TestLimitRate(t *testing.T) {
	app := newBackend(t, "app")
	body := strings.Repeat("x", 150000)
	app.setHandler(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) })
	www := t.TempDir()
	writeTree(t, www, map[string]string{"files/big.bin": body})
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://{{app}}; limit_rate 100k; }
    location /after/ { proxy_pass http://{{app}}; limit_rate 1k; limit_rate_after 200k; }
    location /set/ { set $limit_rate 100k; proxy_pass http://{{app}}; }
    location /files/ { root {{www}}; limit_rate 100k; }
}`, "{{app}}", app.addr(), "{{www}}", www)
	c := newClient(t)
	start := time.Now()
	res, got := get(t, c, lb.url+"/")
	took := time.Since(start)
	if res.StatusCode != 200 || got != body {
		t.Fatalf("got %d and %d bytes", res.StatusCode, len(got))
	}
	// 102400 bytes go at once, the other 47600 at 102400 a second.
	if min := 450 * time.Millisecond; took < min {
		t.Errorf("150000 bytes at limit_rate 100k took %v, want at least %v", took, min)
	}
	// The same rate from `set $limit_rate`, as nginx allows.
	start = time.Now()
	res, got = get(t, c, lb.url+"/set/")
	if took := time.Since(start); res.StatusCode != 200 || got != body || took < 450*time.Millisecond {
		t.Errorf("set $limit_rate 100k: %d, %d bytes in %v, want all of them in at least 450ms", res.StatusCode, len(got), took)
	}
	// A static file is paced as a proxied body is (nginx's write filter
	// paces every response).
	start = time.Now()
	res, got = get(t, c, lb.url+"/files/big.bin")
	if took := time.Since(start); res.StatusCode != 200 || got != body || took < 450*time.Millisecond {
		t.Errorf("a static file at limit_rate 100k: %d, %d bytes in %v, want all of them in at least 450ms", res.StatusCode, len(got), took)
	}
	// Under limit_rate_after, 1k a second would take minutes: the test's
	// own deadline would end it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", lb.url+"/after/", nil)
	if res, got := do(t, c, req); res.StatusCode != 200 || len(got) != len(body) {
		t.Errorf("under limit_rate_after: %d and %d bytes", res.StatusCode, len(got))
	}
}

// send_timeout of a location: a client that stops reading a large
// response is given up on once a write has waited that long, and the
// request ends (its log line shows the part that was sent).
func TestSendTimeout(t *testing.T) {
	app := newBackend(t, "app")
	const size = 64 << 20
	started := make(chan struct{})
	var once sync.Once
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		w.Header().Set("Content-Length", fmt.Sprint(size))
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	lb := startLimpet(t, `
log_format bytes '$status $body_bytes_sent $request_completion';
server {
    listen 127.0.0.1:0;
    location / { proxy_pass http://{{app}}; send_timeout 200ms; access_log {{log}} bytes; }
}`, "{{app}}", app.addr())
	rc := dialRaw(t, lb)
	if _, err := io.WriteString(rc.c, "GET / HTTP/1.1\r\nHost: lb\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing; once the request is in limpet, readLog
	// waits for it to end.
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the backend")
	}
	lines := readLog(t, lb, lb.logPath)
	var status, sent int
	var completion string
	if len(lines) != 1 {
		t.Fatalf("log %q, want one line", lines)
	}
	if n, _ := fmt.Sscanf(lines[0], "%d %d %s", &status, &sent, &completion); n < 2 || status != 200 || sent >= size || completion == "OK" {
		t.Errorf("log line %q: want 200, fewer than %d bytes sent, and no completion", lines[0], size)
	}
}

// The response's variables are known where add_header runs: $status is
// the status being sent, $request_id the one the upstream was sent.
func TestResponseVariablesInAddHeader(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_pass http://{{app}};
        proxy_set_header X-Request-ID $request_id;
        add_header X-Request-ID $request_id;
        add_header X-Status $status;
        add_header X-Upstream $upstream_addr;
    }
}`, "{{app}}", app.addr())
	res, _ := get(t, newClient(t), lb.url+"/")
	last, _ := app.lastRequest()
	sent := last.Header.Get("X-Request-ID")
	if res.StatusCode != 201 || res.Header.Get("X-Status") != "201" || res.Header.Get("X-Request-ID") != sent || len(sent) != 32 {
		t.Errorf("status %d, X-Status %q, X-Request-ID %q (the upstream got %q)", res.StatusCode, res.Header.Get("X-Status"), res.Header.Get("X-Request-ID"), sent)
	}
	if got := res.Header.Get("X-Upstream"); got != app.addr() {
		t.Errorf("X-Upstream %q, want %q", got, app.addr())
	}
}

// nginx's documented use of if=: a map of $status leaves the 2xx and 3xx
// responses out of the log.
func TestAccessLogIfMap(t *testing.T) {
	lb := startLimpet(t, `
map $status $loggable {
    ~^[23]  0;
    default 1;
}
log_format short '$status $uri';
server {
    listen 127.0.0.1:0;
    access_log {{log}} short if=$loggable;
    location / { return 200 ok; }
    location /missing { return 404; }
    location /moved { return 302 /; }
}`)
	c := newClient(t)
	for _, p := range []string{"/", "/missing", "/moved", "/missing/again"} {
		get(t, c, lb.url+p)
	}
	if got, want := strings.Join(readLog(t, lb, lb.logPath), "\n"), "404 /missing\n404 /missing/again"; got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}
