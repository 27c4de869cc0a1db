package runtime

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// socketDir returns a short directory for unix sockets, removed at
// cleanup: t.TempDir() holds the test's name and may outgrow the 107
// bytes a socket path can have.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "limpet-unix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// newUnixBackend is newBackend listening on a unix-domain socket in dir;
// conns counts the connections it accepted.
func newUnixBackend(t *testing.T, dir, name string) (b *backend, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(dir, name+".sock"))
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	b = &backend{name: name}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.Listener.Close()
	b.srv.Listener = ln
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.stop)
	return b, conns
}

// unixAddr is a unix backend's address as limpet writes it, "unix:/path".
func unixAddr(b *backend) string { return "unix:" + b.srv.Listener.Addr().String() }

// nginxSID is the sticky cookie value nginx gives a server without a
// route: the hex MD5 of its printable address, "unix:/path" for a socket
// (ngx_http_upstream_init_round_robin_sid over ngx_sock_ntop's text).
func nginxSID(addr string) string {
	sum := md5.Sum([]byte(addr))
	return hex.EncodeToString(sum[:])
}

// logWatch is an error log that closes a channel once a line holding want
// is written, so a test waits on the event and not on a clock.
type logWatch struct {
	syncBuffer
	want string
	once sync.Once
	seen chan struct{}
}

func newLogWatch(want string) *logWatch {
	return &logWatch{want: want, seen: make(chan struct{})}
}

func (w *logWatch) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// wait waits for the line, failing after a generous bound.
func (w *logWatch) wait(t *testing.T) {
	t.Helper()
	select {
	case <-w.seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no log line with %q; the log:\n%s", w.want, w.String())
	}
}

// Two unix backends and a TCP one share an upstream: round-robin visits
// each in turn, the access log names a socket "unix:/path" as nginx's
// $upstream_addr does, and the sticky cookie of a socket server is the MD5
// nginx computes of that name, which pins its user there.
func TestUnixRoundRobinAndSticky(t *testing.T) {
	dir := socketDir(t)
	a, _ := newUnixBackend(t, dir, "a")
	b, _ := newUnixBackend(t, dir, "b")
	c := newBackend(t, "c")
	lb := startLimpet(t, `
upstream mixed {
    server {{a}};
    server {{b}};
    server {{c}};
    sticky cookie SERVERID path=/;
}
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / { proxy_pass http://mixed; }
}`, "{{a}}", unixAddr(a), "{{b}}", unixAddr(b), "{{c}}", c.addr())

	var got []string
	cookies := map[string]string{}
	for range 6 {
		res, body := get(t, newClient(t), lb.url+"/")
		got = append(got, body)
		if ck := serverIDCookie(res); ck != nil {
			cookies[body] = ck.Value
		}
	}
	if want := "a b c a b c"; strings.Join(got, " ") != want {
		t.Errorf("served by %q, want %q", strings.Join(got, " "), want)
	}
	for name, addr := range map[string]string{"a": unixAddr(a), "b": unixAddr(b), "c": c.addr()} {
		if cookies[name] != nginxSID(addr) {
			t.Errorf("cookie of %s = %q, want md5(%q) = %s", name, cookies[name], addr, nginxSID(addr))
		}
	}
	for range 3 {
		if _, body := get(t, newClient(t), lb.url+"/", "Cookie", "SERVERID="+nginxSID(unixAddr(b))); body != "b" {
			t.Errorf("user pinned to b served by %q", body)
		}
	}
	entries := parseLog(t, lb.accessLog(t))
	if len(entries) != 9 {
		t.Fatalf("%d access log lines, want 9", len(entries))
	}
	for i, want := range []string{unixAddr(a), unixAddr(b), c.addr()} {
		if entries[i].Upstream != want {
			t.Errorf("log line %d: upstream %q, want %q", i, entries[i].Upstream, want)
		}
	}
}

// Sequential requests to a unix upstream with keepalive reuse one
// connection, as over TCP.
func TestUnixKeepalive(t *testing.T) {
	dir := socketDir(t)
	app, conns := newUnixBackend(t, dir, "app")
	lb := startLimpet(t, `
upstream app { server {{app}}; keepalive 4; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
}`, "{{app}}", unixAddr(app))
	client := newClient(t)
	for i := range 5 {
		if res, body := get(t, client, lb.url+"/"); res.StatusCode != 200 || body != "app" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections to the socket for 5 requests, want 1", n)
	}
}

// A socket path nobody listens on (no file, and a stale socket file whose
// server is gone) is a connect error: the request goes to the next server,
// even a POST, since nothing was sent, and the dead servers are failed.
func TestUnixConnectErrorTriesNext(t *testing.T) {
	dir := socketDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("the stale socket file: %v", err)
	}
	live, _ := newUnixBackend(t, dir, "live")
	missing := "unix:" + filepath.Join(dir, "missing.sock")
	lb := startLimpet(t, `
upstream app {
    server {{missing}};
    server {{stale}};
    server {{live}};
}
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / { proxy_pass http://app; }
}`, "{{missing}}", missing, "{{stale}}", "unix:"+stale, "{{live}}", unixAddr(live))
	res, err := newClient(t).Post(lb.url+"/form", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "live" {
		t.Fatalf("POST: %d %q, want 200 from live", res.StatusCode, body)
	}
	if _, sent := live.lastRequest(); string(sent) != "payload" {
		t.Errorf("live got body %q, want payload", sent)
	}
	entries := parseLog(t, lb.accessLog(t))
	want := missing + ", unix:" + stale + ", " + unixAddr(live)
	if len(entries) != 1 || entries[0].Upstream != want || entries[0].Statuses != "502, 502, 200" {
		t.Errorf("access log %+v, want upstream %q and statuses 502, 502, 200", entries, want)
	}
	// Both failed once with max_fails=1: the next request goes straight
	// to live.
	if _, body := get(t, newClient(t), lb.url+"/"); body != "live" {
		t.Errorf("second request served by %q", body)
	}
	if entries := parseLog(t, lb.accessLog(t)); entries[1].Upstream != unixAddr(live) {
		t.Errorf("second request tried %q, want live alone", entries[1].Upstream)
	}
}

// proxy_pass straight to a socket, nginx's http://unix:/path:/uri: the
// path ends at the colon, the URI replaces the location's prefix, and the
// Host is "localhost", nginx's $proxy_host for a socket.
func TestUnixProxyPassURI(t *testing.T) {
	dir := socketDir(t)
	app, _ := newUnixBackend(t, dir, "app")
	other, _ := newUnixBackend(t, dir, "other")
	lb := startLimpet(t, `
server {
    listen 127.0.0.1:0;
    access_log off;
    location /api/ { proxy_pass http://{{app}}:/v2/; }
    location /raw/ { proxy_pass http://{{other}}:; }
}`, "{{app}}", unixAddr(app), "{{other}}", unixAddr(other))
	for _, tt := range []struct {
		path, server, uri string
	}{
		{"/api/users?id=1", "app", "/v2/users?id=1"},
		{"/raw/users", "other", "/raw/users"},
	} {
		res, body := get(t, newClient(t), lb.url+tt.path)
		var b *backend
		if tt.server == "app" {
			b = app
		} else {
			b = other
		}
		req, _ := b.lastRequest()
		if res.StatusCode != 200 || body != tt.server || req == nil || req.RequestURI != tt.uri || req.Host != "localhost" {
			t.Errorf("%s: %d %q, backend saw %+v; want %s with URI %s and Host localhost", tt.path, res.StatusCode, body, req, tt.server, tt.uri)
		}
	}
}

// A WebSocket upgrade goes through to a unix upstream (by the standard
// transport, which dials the socket too) and relays both ways.
func TestUnixWebSocket(t *testing.T) {
	dir := socketDir(t)
	app, _ := newUnixBackend(t, dir, "app")
	app.setHandler(echoWebSocket)
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}`, "{{app}}", unixAddr(app))
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	for _, msg := range []string{"hello", "again"} {
		fmt.Fprintf(conn, "%s\n", msg)
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+msg+"\n" {
			t.Fatalf("relayed %q, %v; want echo %s", line, err, msg)
		}
	}
}

// The active health check probes a unix server over its socket (with the
// upstream's name as Host) and takes it out when the probe fails.
func TestUnixHealthCheck(t *testing.T) {
	dir := socketDir(t)
	app, _ := newUnixBackend(t, dir, "app")
	spare := newBackend(t, "spare")
	probed := make(chan string, 16)
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			select {
			case probed <- r.Host:
			default:
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "app")
	})
	log := newLogWatch("upstream server is unhealthy")
	lb := startLimpetLogging(t, `
upstream backend { zone backend 64k; server {{app}}; server {{spare}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location / {
        proxy_pass http://backend;
        health_check interval=50ms fails=1 passes=1 uri=/healthz;
    }
}`, log, &log.syncBuffer, "{{app}}", unixAddr(app), "{{spare}}", spare.addr())
	select {
	case host := <-probed:
		if host != "backend" {
			t.Errorf("probe Host %q, want backend", host)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no probe reached the socket")
	}
	log.wait(t)
	if !strings.Contains(log.String(), unixAddr(app)) {
		t.Errorf("the unhealthy line does not name %s:\n%s", unixAddr(app), log.String())
	}
	for range 4 {
		if _, body := get(t, newClient(t), lb.url+"/"); body != "spare" {
			t.Fatalf("served by %q while the socket server is unhealthy", body)
		}
	}
}

// The API adds a server on a unix socket (as NGINX Plus does), shows it
// as "unix:/path" with nginx's ID, sends it traffic, keeps it in the
// state file, which a reload reads back, and removes it.
func TestUnixThroughTheAPI(t *testing.T) {
	dir := socketDir(t)
	app, _ := newUnixBackend(t, dir, "app")
	statePath := filepath.Join(t.TempDir(), "backend.state")
	lb := startLimpet(t, stateConf, "{{state}}", statePath)
	servers := lb.url + "/api/9/http/upstreams/backend/servers"

	status, v := apiJSON(t, "POST", servers, `{"server":"`+unixAddr(app)+`","weight":2}`)
	if status != 201 || v["server"] != unixAddr(app) {
		t.Fatalf("POST: %d %v, want 201 with server %q", status, v, unixAddr(app))
	}
	id := fmt.Sprint(v["id"])
	status, v = apiJSON(t, "GET", servers+"/"+id, "")
	if status != 200 || v["server"] != unixAddr(app) || v["weight"] != float64(2) {
		t.Errorf("GET: %d %v", status, v)
	}
	res, body := get(t, newClient(t), lb.url+"/")
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "srv" {
			ck = c
		}
	}
	if body != "app" || ck == nil || ck.Value != nginxSID(unixAddr(app)) {
		t.Errorf("request: %q cookie %v, want app with md5(%q)", body, ck, unixAddr(app))
	}
	if got, want := readState(t, statePath), "server "+unixAddr(app)+" weight=2;\n"; got != want {
		t.Errorf("state file %q, want %q", got, want)
	}
	status, v = apiJSON(t, "POST", servers, `{"server":"`+unixAddr(app)+`"}`)
	if status != 409 {
		t.Errorf("adding it again: %d %v, want 409", status, v)
	}

	// A reload reads the state file back: the same server, same ID.
	if err := lb.reload(t, stateConf, "{{state}}", statePath); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, body := get(t, newClient(t), lb.url+"/", "Cookie", "srv="+nginxSID(unixAddr(app))); body != "app" {
		t.Errorf("after reload, served by %q", body)
	}

	req, _ := http.NewRequest(http.MethodDelete, servers+"/"+id, nil)
	if res, text := do(t, newClient(t), req); res.StatusCode != 200 {
		t.Fatalf("DELETE: %d %s", res.StatusCode, text)
	}
	if res, _ := get(t, newClient(t), lb.url+"/"); res.StatusCode != 502 {
		t.Errorf("after DELETE: %d, want 502 from the empty group", res.StatusCode)
	}
	if got := readState(t, statePath); got != "" {
		t.Errorf("state file after DELETE %q, want empty", got)
	}
}
