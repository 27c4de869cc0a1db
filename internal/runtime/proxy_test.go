package runtime

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The headers the backend receives: the design notes' proxy_set_header
// lines, hop-by-hop headers removed, an empty value dropping a header.
func TestHeadersReceivedByBackend(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	lb := startLimpet(t, designNotes, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	req, _ := http.NewRequest(http.MethodGet, lb.url+"/path?q=1", nil)
	req.Host = "loadbalancer.example.com:8080"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "secret")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-Custom", "kept")
	res, body := do(t, newClient(t), req)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	b := app1
	if body == "app-02" {
		b = app2
	}
	got, _ := b.lastRequest()
	want := map[string]string{
		"X-Real-Ip":         "127.0.0.1",
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Custom":          "kept",
		"X-Hop":             "",
		"Keep-Alive":        "",
	}
	for k, v := range want {
		if g := got.Header.Get(k); g != v {
			t.Errorf("backend got %s: %q, want %q", k, g, v)
		}
	}
	if got.Host != "loadbalancer.example.com" {
		t.Errorf("backend got Host %q, want $host = loadbalancer.example.com", got.Host)
	}
	if got.RequestURI != "/path?q=1" {
		t.Errorf("backend got URI %q, want /path?q=1", got.RequestURI)
	}
}

// Without proxy_set_header Host, nginx sends $proxy_host: the upstream's
// name. An empty proxy_set_header value removes the header.
func TestDefaultHostAndEmptyHeader(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_pass http://backend;
        proxy_set_header Accept-Encoding "";
        proxy_set_header X-Test "a $request_method $uri";
    }
}`, "{{app}}", app.addr())
	get(t, newClient(t), lb.url+"/x/../y", "Accept-Encoding", "gzip")
	got, _ := app.lastRequest()
	if got.Host != "backend" {
		t.Errorf("Host %q, want the upstream name", got.Host)
	}
	if v := got.Header.Get("Accept-Encoding"); v != "" {
		t.Errorf("Accept-Encoding %q, want it removed", v)
	}
	if v := got.Header.Get("X-Test"); v != "a GET /y" {
		t.Errorf("X-Test %q, want %q", v, "a GET /y")
	}
}

// User-Agent: the client's passes through, none is added when the client
// sent none (nginx adds none either), and proxy_set_header User-Agent ""
// removes it. A client's Connection field that names the fields the
// proxy sets removes the client's values of them, not the proxy's.
func TestUserAgentAndConnectionNames(t *testing.T) {
	app := newBackend(t, "app")
	conf := `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_pass http://backend;
        proxy_set_header X-Real-IP $remote_addr;
    }
    location /no-ua/ {
        proxy_pass http://backend;
        proxy_set_header User-Agent "";
    }
}`
	lb := startLimpet(t, conf, "{{app}}", app.addr())
	c := newClient(t)
	tests := []struct {
		name   string
		path   string
		header []string
		want   map[string][]string // nil: absent
	}{
		{"the client's User-Agent", "/", []string{"User-Agent", "curl/8"}, map[string][]string{"User-Agent": {"curl/8"}}},
		{"no User-Agent", "/", []string{"User-Agent", ""}, map[string][]string{"User-Agent": nil}},
		{"User-Agent removed", "/no-ua/", []string{"User-Agent", "curl/8"}, map[string][]string{"User-Agent": nil}},
		{"Connection names a field", "/", []string{"Connection", "X-Hop, X-Real-IP, X-Absent", "X-Hop", "1", "X-Real-IP", "203.0.113.7", "X-Kept", "1"},
			map[string][]string{"X-Hop": nil, "X-Real-Ip": {"127.0.0.1"}, "X-Kept": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get(t, c, lb.url+tt.path, tt.header...)
			got, _ := app.lastRequest()
			for k, want := range tt.want {
				if g := got.Header[k]; !slices.Equal(g, want) {
					t.Errorf("backend got %s: %q, want %q", k, g, want)
				}
			}
		})
	}
}

const retryConf = `
upstream backend {
    server {{bad}};
    server {{good}};
}
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / {
        proxy_pass http://backend;
        proxy_next_upstream {{next}};
    }
    location /tries/ {
        proxy_pass http://backend;
        proxy_next_upstream error http_502;
        proxy_next_upstream_tries 1;
    }
}`

// Retries follow proxy_next_upstream: listed conditions move the request to
// the next server while nothing has reached the client; non-idempotent
// requests move only with non_idempotent.
func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		next       string
		method     string
		wantStatus int
		wantBody   string
	}{
		{"502 retried when listed", "error http_502", "GET", 200, "good"},
		{"502 passed on when not listed", "error timeout", "GET", 502, "bad says 502"},
		{"502 on POST not retried", "error http_502", "POST", 502, "bad says 502"},
		{"502 on POST retried with non_idempotent", "error http_502 non_idempotent", "POST", 200, "good"},
		{"off passes 502", "off", "GET", 502, "bad says 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, good := newBackend(t, "bad"), newBackend(t, "good")
			bad.setHandler(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(502)
				_, _ = io.WriteString(w, "bad says 502")
			})
			lb := startLimpet(t, retryConf, "{{bad}}", bad.addr(), "{{good}}", good.addr(), "{{next}}", tt.next)
			req, _ := http.NewRequest(tt.method, lb.url+"/", strings.NewReader("payload"))
			res, body := do(t, newClient(t), req)
			if res.StatusCode != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantBody == "good" {
				if _, b := good.lastRequest(); string(b) != "payload" {
					t.Errorf("the retried request's body reached the second server as %q", b)
				}
			}
		})
	}
}

// proxy_next_upstream_tries bounds the attempts.
func TestRetryTries(t *testing.T) {
	bad, good := newBackend(t, "bad"), newBackend(t, "good")
	bad.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) })
	lb := startLimpet(t, retryConf, "{{bad}}", bad.addr(), "{{good}}", good.addr(), "{{next}}", "error")
	res, _ := get(t, newClient(t), lb.url+"/tries/")
	if res.StatusCode != 502 {
		t.Errorf("with tries 1 the first server's 502 must be final, got %d", res.StatusCode)
	}
}

// A POST to a server that refuses the connection is retried: nothing of it
// was sent, as nginx reasons.
func TestConnectErrorRetriesPost(t *testing.T) {
	dead, good := newBackend(t, "dead"), newBackend(t, "good")
	dead.stop()
	lb := startLimpet(t, retryConf, "{{bad}}", dead.addr(), "{{good}}", good.addr(), "{{next}}", "error timeout")
	req, _ := http.NewRequest(http.MethodPost, lb.url+"/", strings.NewReader("order=1"))
	res, body := do(t, newClient(t), req)
	if res.StatusCode != 200 || body != "good" {
		t.Fatalf("got %d %q, want 200 from good", res.StatusCode, body)
	}
	if _, b := good.lastRequest(); string(b) != "order=1" {
		t.Errorf("body reached the good server as %q", b)
	}
}

// Every server down: 502 with nginx's page, no Go error text.
func TestAllServersDown(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.stop()
	b.stop()
	lb := startLimpet(t, retryConf, "{{bad}}", a.addr(), "{{good}}", b.addr(), "{{next}}", "error timeout")
	for range 3 {
		res, body := get(t, newClient(t), lb.url+"/")
		if res.StatusCode != 502 {
			t.Fatalf("status %d, want 502", res.StatusCode)
		}
		if !strings.Contains(body, "<title>502 Bad Gateway</title>") || strings.Contains(body, "dial") || strings.Contains(body, "refused") {
			t.Errorf("error page %q: want nginx's style, without Go's error text", body)
		}
	}
}

// A server slower than proxy_read_timeout: 504.
func TestUpstreamTimeout(t *testing.T) {
	slow := newBackend(t, "slow")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow.setHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	})
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://backend; proxy_read_timeout 200ms; }
}`, "{{app}}", slow.addr())
	res, body := get(t, newClient(t), lb.url+"/")
	if res.StatusCode != 504 || !strings.Contains(body, "<title>504 Gateway Time-out</title>") {
		t.Errorf("got %d %q, want 504", res.StatusCode, body)
	}
}

// client_max_body_size: a body over the limit gets 413 and never reaches
// the backend.
func TestClientMaxBodySize(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    client_max_body_size 1k;
    location / { proxy_pass http://backend; }
}`, "{{app}}", app.addr())
	req, _ := http.NewRequest(http.MethodPost, lb.url+"/", strings.NewReader(strings.Repeat("x", 2048)))
	res, _ := do(t, newClient(t), req)
	if res.StatusCode != 413 {
		t.Errorf("status %d, want 413", res.StatusCode)
	}
	if app.hitCount() != 0 {
		t.Error("the oversized request reached the backend")
	}
	req, _ = http.NewRequest(http.MethodPost, lb.url+"/", strings.NewReader(strings.Repeat("x", 1000)))
	if res, _ := do(t, newClient(t), req); res.StatusCode != 200 {
		t.Errorf("a body under the limit: status %d", res.StatusCode)
	}
}

// proxy_pass with a URI replaces the location's prefix; return answers
// without a backend; Host selects the virtual server.
func TestLocationsAndVirtualServers(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Host+" "+r.RequestURI) })
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0 default_server;
    server_name www.example.com;
    access_log off;
    location / { proxy_pass http://{{app}}; }
    location /api/ { proxy_pass http://{{app}}/v2/; }
    location = /health { return 200 "ok $host"; }
    location /old { return 301 http://$host/new; }
    location ~ \.php$ { return 403; }
    location /app/ { proxy_pass http://{{app}}; }
}
server {
    listen 127.0.0.1:0;
    server_name old.example.com;
    access_log off;
    return 301 https://new.example.com$request_uri;
    location / { proxy_pass http://{{app}}; }
}
server {
    listen 127.0.0.1:0;
    server_name *.example.org;
    access_log off;
    location / { return 200 "org site"; }
}`, "{{app}}", app.addr())
	// Both servers listen on the same address; Host chooses between them.
	tests := []struct {
		url, host  string
		wantStatus int
		wantBody   string
		wantLoc    string
	}{
		{lb.url + "/a?b=1", "www.example.com", 200, app.addr() + " /a?b=1", ""},
		{lb.url + "/api/users?id=3", "www.example.com", 200, app.addr() + " /v2/users?id=3", ""},
		{lb.url + "/health", "www.example.com", 200, "ok www.example.com", ""},
		{lb.url + "/old", "www.example.com", 301, "", "http://www.example.com/new"},
		{lb.url + "/index.php", "www.example.com", 403, "", ""},
		{lb.url + "/%2e%2e/%2e%2e/etc/passwd", "www.example.com", 400, "", ""},
		// The slash redirect is made absolute with limpet's own port, as
		// nginx's port_in_redirect (default on).
		{lb.url + "/app?x=1", "www.example.com", 301, "", "http://www.example.com" + lb.url[strings.LastIndexByte(lb.url, ':'):] + "/app/?x=1"},
		{lb.url + "/app/page", "www.example.com", 200, app.addr() + " /app/page", ""},
		{lb.url + "/some/page?a=b", "old.example.com", 301, "", "https://new.example.com/some/page?a=b"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
		req.Host = tt.host
		res, body := do(t, newClient(t), req)
		if res.StatusCode != tt.wantStatus {
			t.Errorf("%s: status %d, want %d", tt.url, res.StatusCode, tt.wantStatus)
			continue
		}
		if tt.wantBody != "" && body != tt.wantBody {
			t.Errorf("%s: body %q, want %q", tt.url, body, tt.wantBody)
		}
		if loc := res.Header.Get("Location"); loc != tt.wantLoc {
			t.Errorf("%s: Location %q, want %q", tt.url, loc, tt.wantLoc)
		}
	}
	for host, want := range map[string]string{"shop.example.org": "org site", "SHOP.Example.ORG:80": "org site", "unknown.test": "ok unknown.test"} {
		req, _ := http.NewRequest(http.MethodGet, lb.url+"/health", nil)
		req.Host = host
		if _, body := do(t, newClient(t), req); body != want {
			t.Errorf("Host %q: %q, want %q", host, body, want)
		}
	}
}

// Server-sent events reach the client as they are produced, not when the
// response ends.
func TestStreamingResponse(t *testing.T) {
	app := newBackend(t, "app")
	next := make(chan struct{})
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(5 * time.Second):
				return
			}
		}
	})
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; } }`, "{{app}}", app.addr())
	res, err := newClient(t).Get(lb.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		next <- struct{}{} // the backend sends the next event only now
	}
}

// A WebSocket upgrade is proxied, and the upgrade request is sticky like
// any other: the 101 carries the persistence cookie.
func TestWebSocketUpgrade(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	echo := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		fmt.Fprintf(brw, "echo %s", line)
		_ = brw.Flush()
	}
	app1.setHandler(echo)
	app2.setHandler(echo)
	lb := startLimpet(t, designNotes, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 101 || serverIDCookie(res) == nil {
		t.Fatalf("status %d Set-Cookie %q, want 101 with SERVERID", res.StatusCode, res.Header["Set-Cookie"])
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Fatalf("echo: %q %v", line, err)
	}
}

// Large bodies stream through both ways intact.
func TestLargeBodies(t *testing.T) {
	app := newBackend(t, "app")
	const size = 32 << 20
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		chunk := make([]byte, 64<<10)
		for i := 0; i < size; i += len(chunk) {
			_, _ = w.Write(chunk)
		}
	})
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log off; client_max_body_size 0;
    location / { proxy_pass http://backend; } }`, "{{app}}", app.addr())
	res, err := newClient(t).Get(lb.url + "/download")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v; want %d", n, err, size)
	}
	req, _ := http.NewRequest(http.MethodPost, lb.url+"/upload", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	res, _ = do(t, newClient(t), req)
	if _, body := app.lastRequest(); res.StatusCode != 200 || len(body) != size {
		t.Fatalf("upload: status %d, backend got %d bytes; want 200 and %d", res.StatusCode, len(body), size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ip_hash keeps a /24 on one server, spreads different networks, and moves
// only the clients of a server that is down.
func TestIPHash(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	conf := `
upstream backend { ip_hash; server {{app1}}; server {{app2}}; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; } }`
	lb := startLimpet(t, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	placed := map[string]string{}
	for i := 1; i <= 20; i++ {
		network := fmt.Sprintf("127.0.%d.", i)
		_, first := get(t, clientFrom(t, network+"1"), lb.url+"/")
		for _, host := range []string{"2", "77", "254"} {
			if _, body := get(t, clientFrom(t, network+host), lb.url+"/"); body != first {
				t.Fatalf("%s1 went to %s but %s%s to %s: one /24 must stay on one server", network, first, network, host, body)
			}
		}
		placed[network] = first
	}
	count := map[string]int{}
	for _, s := range placed {
		count[s]++
	}
	if count["app-01"] == 0 || count["app-02"] == 0 {
		t.Errorf("20 networks all went to one server: %v", count)
	}

	// With app-02 down, its clients move and app-01's stay.
	conf2 := strings.Replace(conf, "server {{app2}};", "server {{app2}} down;", 1)
	lb2 := startLimpet(t, conf2, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	for network, was := range placed {
		if _, body := get(t, clientFrom(t, network+"1"), lb2.url+"/"); body != "app-01" {
			t.Errorf("%s1 (was on %s) went to %s with app-02 down", network, was, body)
		}
	}
}

// proxy_read_timeout bounds the wait between two reads of the body, not
// the whole response: a stream that keeps talking outlives it, one that
// falls silent is cut.
func TestReadTimeoutBetweenReads(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 6 { // 6 events 100ms apart: 600ms in all
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
		if r.URL.Path == "/silent" {
			time.Sleep(time.Second)
		}
	})
	lb := startLimpet(t, `
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log off;
    location / { proxy_pass http://backend; proxy_read_timeout 300ms; } }`, "{{app}}", app.addr())
	res, err := newClient(t).Get(lb.url + "/talking")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || strings.Count(string(body), "data:") != 6 {
		t.Errorf("a stream busier than the timeout: %d events, %v; want all 6", strings.Count(string(body), "data:"), err)
	}
	res, err = newClient(t).Get(lb.url + "/silent")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		t.Error("a stream silent for longer than the timeout was delivered as complete")
	}
}
