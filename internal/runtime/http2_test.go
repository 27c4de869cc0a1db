package runtime

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cClient is Go's HTTP/2 client speaking h2c by prior knowledge, from
// the loopback address local ("" for any), with a cookie jar of its own.
func h2cClient(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}
}

const http2Sticky = `
upstream backend {
    server {{app1}};
    server {{app2}};
    sticky cookie SERVERID expires=1h path=/;
}
upstream byip { ip_hash; server {{app1}}; server {{app2}}; }
server {
    listen 127.0.0.1:0;
    http2 on;
    access_log {{log}};
    sticky_debug_header on;
    proxy_set_header X-Host $host;
    location / { proxy_pass http://backend; }
    location /ip/ { proxy_pass http://byip; }
    location /close { return 444; }
}
`

// TestHTTP2Persistence: over HTTP/2 (h2c by prior knowledge) the sticky
// cookie is set and followed, its reasons are those of HTTP/1, ip_hash
// keeps a client's network on one server, and the access log says
// HTTP/2.0. HTTP/1.1 clients are served on the same port.
func TestHTTP2Persistence(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	lb := startLimpet(t, http2Sticky, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	c := h2cClient(t, "")
	res, first := get(t, c, lb.url+"/")
	if res.ProtoMajor != 2 {
		t.Fatalf("response in %s, want HTTP/2", res.Proto)
	}
	if serverIDCookie(res) == nil {
		t.Fatalf("no SERVERID cookie over HTTP/2: %v", res.Header)
	}
	if got := res.Header.Get("X-Limpet-Sticky"); !strings.HasPrefix(got, "new") {
		t.Errorf("first request: X-Limpet-Sticky %q, want new/...", got)
	}
	for range 10 {
		res, body := get(t, c, lb.url+"/")
		if body != first {
			t.Fatalf("the cookie pinned %s, then %s answered", first, body)
		}
		if got := res.Header.Get("X-Limpet-Sticky"); !strings.HasPrefix(got, "hit") {
			t.Errorf("X-Limpet-Sticky %q, want hit/...", got)
		}
	}
	// HTTP/1.1 on the same port, same cookie, same server.
	h1 := newClient(t)
	h1.Jar = c.Jar
	res, body := get(t, h1, lb.url+"/")
	if res.ProtoMajor != 1 || body != first {
		t.Errorf("HTTP/1.1 with the cookie: %s from %s, want %s", res.Proto, body, first)
	}
	// ip_hash: a network stays on one server over HTTP/2 as over HTTP/1.
	for i := 1; i <= 6; i++ {
		network := fmt.Sprintf("127.0.%d.", i)
		_, want := get(t, clientFrom(t, network+"1"), lb.url+"/ip/")
		for _, host := range []string{"2", "200"} {
			res, got := get(t, h2cClient(t, network+host), lb.url+"/ip/")
			if res.ProtoMajor != 2 || got != want {
				t.Errorf("%s%s over %s went to %s, HTTP/1.1 from its network to %s", network, host, res.Proto, got, want)
			}
		}
	}
	lines := lb.accessLog(t)
	var e struct {
		Proto  string `json:"proto"`
		Sticky string `json:"sticky"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Proto != "HTTP/2.0" || e.Status != 200 || !strings.HasPrefix(e.Sticky, "new") {
		t.Errorf("access log line %s", lines[0])
	}
}

// TestHTTP2Streaming: the response of a slow upstream reaches an HTTP/2
// client chunk by chunk, and a request body reaches the upstream piece
// by piece as the client sends it.
func TestHTTP2Streaming(t *testing.T) {
	next := make(chan struct{})
	lines := make(chan string)
	// Not newBackend, which reads each body whole before answering.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/up" {
			br := bufio.NewReader(r.Body)
			n := 0
			for {
				line, err := br.ReadString('\n')
				if line != "" {
					lines <- line
					n++
				}
				if err != nil {
					break
				}
			}
			fmt.Fprintf(w, "%d lines", n)
			return
		}
		for i := range 3 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			<-next // the client has read this chunk
		}
	}))
	defer app.Close()
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server { listen 127.0.0.1:0; http2 on; access_log off; proxy_request_buffering off; location / { proxy_pass http://app; } }
`, "{{app}}", app.Listener.Addr().String())
	c := h2cClient(t, "")

	res, err := c.Get(lb.url + "/down")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("chunk %d\n", i) {
			t.Fatalf("chunk %d: %q %v", i, line, err)
		}
		next <- struct{}{}
	}
	res.Body.Close()

	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, lb.url+"/up", pr)
	done := make(chan string, 1)
	go func() {
		res, err := c.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- string(b)
	}()
	for i := range 3 {
		want := fmt.Sprintf("line %d\n", i)
		if _, err := io.WriteString(pw, want); err != nil {
			t.Fatal(err)
		}
		// The upstream has this line before the client sends the next.
		if got := <-lines; got != want {
			t.Fatalf("upstream got %q, want %q", got, want)
		}
	}
	_ = pw.Close()
	if got := <-done; got != "3 lines" {
		t.Errorf("response %q", got)
	}
}

// TestHTTP2Headers: what reaches the upstream from an HTTP/2 client is an
// HTTP/1.1 request without pseudo-headers or TE, with Host from
// :authority; what reaches the client has no connection-specific fields
// the upstream sent; `return 444` resets the stream only, and the
// connection goes on.
func TestHTTP2Headers(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	app1.setHandler(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Connection", "X-Private")
		h.Set("X-Private", "hop")
		h.Set("Upgrade", "nothing")
		w.(http.Flusher).Flush() // chunked
		_, _ = io.WriteString(w, "body")
	})
	lb := startLimpet(t, strings.Replace(http2Sticky, "server {{app2}};", "", 1), "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	c := h2cClient(t, "")
	req, _ := http.NewRequest(http.MethodGet, lb.url+"/path?q=1", nil)
	req.Host = "example.com"
	req.Header.Set("Te", "trailers")
	res, body := do(t, c, req)
	if res.ProtoMajor != 2 || body != "body" {
		t.Fatalf("%s %q", res.Proto, body)
	}
	for _, k := range []string{"Keep-Alive", "Connection", "X-Private", "Upgrade", "Transfer-Encoding"} {
		if v, ok := res.Header[k]; ok {
			t.Errorf("the client got %s: %q", k, v)
		}
	}
	up, _ := app1.lastRequest()
	if up.Proto != "HTTP/1.1" || up.Header.Get("X-Host") != "example.com" || up.RequestURI != "/path?q=1" {
		t.Errorf("upstream request %s, $host %q, %s", up.Proto, up.Header.Get("X-Host"), up.RequestURI)
	}
	for k := range up.Header {
		if strings.HasPrefix(k, ":") || k == "Te" {
			t.Errorf("the upstream got %q: %q", k, up.Header[k])
		}
	}
	if _, err := c.Get(lb.url + "/close"); err == nil {
		t.Error("return 444 answered over HTTP/2")
	}
	if res, body := get(t, c, lb.url+"/"); res.StatusCode != 200 || body != "body" {
		t.Errorf("after a 444: %d %q", res.StatusCode, body)
	}
}

// TestHTTP2PerAddress: as in nginx, a listen address speaks HTTP/2 by
// prior knowledge when its default server says `http2 on` or any of its
// listens has the http2 parameter; `http2 on` in another server of the
// address does not turn it on. HTTP/1.1 is served either way, and never
// upgraded to h2c.
func TestHTTP2PerAddress(t *testing.T) {
	app := newBackend(t, "app")
	for _, tc := range []struct {
		name, http string
		servers    []string // each server's listen parameters and directives
		h2         bool
	}{
		{"off by default", "", []string{";"}, false},
		{"default server on", "", []string{"; http2 on;", "; server_name b;"}, true},
		{"http level", "http2 on;", []string{";"}, true},
		{"another server on", "", []string{";", "; server_name b; http2 on;"}, false},
		{"listen parameter on another server", "", []string{";", " http2; server_name b;"}, true},
		{"on, then off in the default server", "http2 on;", []string{"; http2 off;", "; server_name b;"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			conf := "access_log off;\n" + tc.http + "\nupstream app { server " + app.addr() + "; }\n"
			for _, s := range tc.servers {
				conf += "server { listen 127.0.0.1:" + port + s + " location / { proxy_pass http://app; } }\n"
			}
			lb := startLimpet(t, conf)
			res, err := h2cClient(t, "").Get(lb.url + "/")
			if err == nil {
				res.Body.Close()
			}
			if got := err == nil && res.ProtoMajor == 2; got != tc.h2 {
				t.Errorf("HTTP/2 by prior knowledge: %v (%v), want %v", got, err, tc.h2)
			}
			req, _ := http.NewRequest(http.MethodGet, lb.url+"/", nil)
			req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
			req.Header.Set("Upgrade", "h2c")
			req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
			res, body := do(t, newClient(t), req)
			if res.StatusCode != 200 || res.ProtoMajor != 1 || body != "app" {
				t.Errorf("HTTP/1.1 asking for h2c: %d %s %q", res.StatusCode, res.Proto, body)
			}
		})
	}
}

// TestHTTP2RapidResetUpstream: a client that opens HTTP/2 streams and
// resets them at once (CVE-2023-44487), thousands of times, cannot make
// limpet have more requests at a real backend at a time than
// http2_max_concurrent_streams, and limpet's goroutines stay bounded by
// it; limpet ends the connection with GOAWAY.
func TestHTTP2RapidResetUpstream(t *testing.T) {
	const limit = 8
	var peak, goroutines, handlers atomic.Int64
	raise := func(v *atomic.Int64, n int64) {
		for p := v.Load(); n > p && !v.CompareAndSwap(p, n); p = v.Load() {
		}
	}
	release := make(chan struct{})
	// seen is closed when the first request reaches the backend: the
	// first batch is reset only then, so the attack always has requests
	// in flight to count, however loaded the machine.
	seen := make(chan struct{})
	var seenOnce sync.Once
	// A request is at the backend from its handler's start until it ends
	// or limpet's FIN is in its connection's socket (limpet gave the
	// request up), whichever comes first: so the backend's own delay in
	// reading the FIN does not count against limpet. At each start the
	// backend counts its connections in that state, asking the kernel.
	type connKey struct{}
	conns := &connSet{m: make(map[*countedConn]struct{})}
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc := r.Context().Value(connKey{}).(*countedConn)
		cc.inHandler.Store(true)
		defer cc.inHandler.Store(false)
		seenOnce.Do(func() { close(seen) })
		raise(&peak, conns.busy())
		raise(&goroutines, int64(runtime.NumGoroutine()))
		raise(&handlers, limpetHandlers())
		// A slow application: it answers when released, or when limpet
		// gives up the request.
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	app.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c.(*countedConn))
	}
	app.Listener = &countingListener{Listener: app.Listener, set: conns}
	app.Start()
	defer app.Close()
	lb := startLimpet(t, fmt.Sprintf(`
upstream app { server {{app}}; }
server { listen 127.0.0.1:0; http2 on; http2_max_concurrent_streams %d; access_log off;
    location / { proxy_pass http://app; } }
`, limit), "{{app}}", app.Listener.Addr().String())
	base := int64(runtime.NumGoroutine())

	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	fr := http2.NewFramer(conn, conn)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	goAway := make(chan *http2.GoAwayFrame, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(goAway)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if ga, ok := f.(*http2.GoAwayFrame); ok {
				goAway <- ga
				return
			}
		}
	}()
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/"},
	} {
		_ = enc.WriteField(f)
	}
	block := hbuf.Bytes() // the same fields again: a few bytes each time
	// Streams are opened in batches of twice the limit, then reset:
	// those within the limit reach the backend before their reset does.
	sent := 0
	const batch = 2 * limit
	id := uint32(1)
attack:
	for sent < 20000 {
		for i := range uint32(batch) {
			if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id + 2*i, BlockFragment: block, EndStream: true, EndHeaders: true}) != nil {
				break attack
			}
		}
		if sent == 0 {
			select {
			case <-seen:
			case <-time.After(30 * time.Second):
				t.Fatal("no request of the first batch reached the backend")
			}
		}
		for i := range uint32(batch) {
			if fr.WriteRSTStream(id+2*i, http2.ErrCodeCancel) != nil {
				break attack
			}
		}
		id += 2 * batch
		sent += batch
	}
	ga := <-goAway
	close(release)
	wg.Wait()
	// ENHANCE_YOUR_CALM when the resets overflow the queue of streams
	// waiting for a handler; NO_ERROR when keepalive_requests (1000)
	// came first. Either ends the attacking connection.
	if ga == nil || ga.ErrCode != http2.ErrCodeEnhanceYourCalm && ga.ErrCode != http2.ErrCodeNo {
		t.Errorf("after %d reset streams: %v, want GOAWAY", sent, ga)
	}
	if p := peak.Load(); p > limit {
		t.Errorf("the backend had %d requests at once, want at most %d", p, limit)
	}
	if peak.Load() == 0 {
		t.Error("no request reached the backend: the attack tested nothing")
	}
	// limpet's goroutines for the streams: its handlers, in each of
	// which its upstream request runs.
	if n := handlers.Load(); n > limit {
		t.Errorf("%d of limpet's stream handlers ran at once, want at most %d", n, limit)
	}
	t.Logf("%d streams opened and reset; the backend saw %d at most at once; %d stream handlers and %d goroutines in all at most (%d before)",
		sent, peak.Load(), handlers.Load(), goroutines.Load(), base)
}

// limpetHandlers counts the goroutines running an HTTP/2 stream's
// handler (x/net's runHandler) in this process, where limpet runs.
func limpetHandlers() int64 {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return int64(bytes.Count(buf[:n], []byte("http2.(*serverConn).runHandler(")))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// connSet is the backend's connections.
type connSet struct {
	mu sync.Mutex // guards m
	m  map[*countedConn]struct{}
}

// busy counts the connections with a request in a handler that their
// peer has not closed.
func (s *connSet) busy() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for c := range s.m {
		if c.inHandler.Load() && !c.finSeen() {
			n++
		}
	}
	return n
}

// countingListener puts its connections in set.
type countingListener struct {
	net.Listener
	set *connSet
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: c}
	l.set.mu.Lock()
	l.set.m[cc] = struct{}{}
	l.set.mu.Unlock()
	return cc, nil
}

// countedConn is a backend connection: inHandler while a request of it
// is in the handler, gone once a read has seen its peer close it.
type countedConn struct {
	net.Conn
	inHandler atomic.Bool
	gone      atomic.Bool
}

// finSeen reports whether the peer has closed the connection: a read
// saw it, or the kernel holds the FIN (a peek that would not block
// returns 0 bytes). On loopback the FIN is in the socket once the peer's
// close has returned.
func (c *countedConn) finSeen() bool {
	if c.gone.Load() {
		return true
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fin := false
	// Control, not Read: net/http's background read holds the read
	// lock while it waits.
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		fin = n == 0 && err == nil
	})
	return fin
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
		c.gone.Store(true)
	}
	return n, err
}
