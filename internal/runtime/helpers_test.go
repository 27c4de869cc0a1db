package runtime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// backend is a real HTTP server standing in for an application server. It
// answers with its name and remembers the last request it received, so
// tests can assert what limpet forwarded.
type backend struct {
	name string
	srv  *httptest.Server

	mu   sync.Mutex // guards last and hits
	last *http.Request
	body []byte
	hits int

	handler http.HandlerFunc // optional behaviour instead of the default answer
}

func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.stop)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.last, b.body = r, body
	b.hits++
	h := b.handler
	b.mu.Unlock()
	w.Header().Set("X-Served-By", b.name)
	if h != nil {
		h(w, r)
		return
	}
	_, _ = io.WriteString(w, b.name)
}

func (b *backend) setHandler(h http.HandlerFunc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
}

// addr returns "127.0.0.1:port".
func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

func (b *backend) lastRequest() (*http.Request, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last, b.body
}

func (b *backend) hitCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits
}

// stop kills the backend as a crash would: connections cut, port closed.
func (b *backend) stop() {
	b.srv.CloseClientConnections()
	b.srv.Close()
}

// limpet is a running limpet for one test.
type limpet struct {
	rt      *Runtime
	url     string // "http://127.0.0.1:port"
	logPath string
	errLog  *syncBuffer
}

// tryStartLimpet is startLimpet that returns the error of Start (a port
// taken) instead of failing the test.
func tryStartLimpet(t testing.TB, conf string) (*limpet, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	rt, err := New(cfg, Options{ErrorLog: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("runtime: %v", err)
	}
	if err := rt.Start(); err != nil {
		_ = rt.Shutdown(context.Background())
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
	})
	return &limpet{rt: rt, url: "http://" + rt.Addrs()[0].String(), errLog: &syncBuffer{}}, nil
}

// startLimpet loads conf (with "{{name}}" replaced by the given values and
// "{{log}}" by an access log path), listens on 127.0.0.1 ports chosen by the
// system (the conf's listen should be 127.0.0.1:0), and stops at cleanup.
func startLimpet(t testing.TB, conf string, repl ...string) *limpet {
	t.Helper()
	errLog := &syncBuffer{}
	return startLimpetLogging(t, conf, errLog, errLog, repl...)
}

// startLimpetLogging is startLimpet whose error log is written to w; buf
// is what the limpet's errLog reads (w itself, or what w writes to).
func startLimpetLogging(t testing.TB, conf string, w io.Writer, buf *syncBuffer, repl ...string) *limpet {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	repl = append(repl, "{{log}}", logPath)
	conf = strings.NewReplacer(repl...).Replace(conf)
	path := filepath.Join(dir, "limpet.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	rt, err := New(cfg, Options{ErrorLog: slog.New(slog.NewTextHandler(w, nil))})
	if err != nil {
		t.Fatalf("runtime: %v", err)
	}
	if err := rt.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &limpet{rt: rt, url: "http://" + rt.Addrs()[0].String(), logPath: logPath, errLog: buf}
}

// accessLog returns the access log's lines so far.
func (l *limpet) accessLog(t *testing.T) []string {
	t.Helper()
	for _, lg := range l.rt.cur.Load().logs {
		lg.Flush()
	}
	data, err := os.ReadFile(l.logPath)
	if err != nil {
		t.Fatalf("access log: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

type syncBuffer struct {
	mu  sync.Mutex // guards buf: the error log is written from many requests
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// newClient returns a client with its own cookie jar and connections, as a
// browser of its own would have. It never follows redirects.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Jar:           jar,
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// clientFrom returns a client whose connections come from the given local
// loopback address, to test ip_hash with several "clients".
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends a GET and returns the response with its body read.
func get(t *testing.T, c *http.Client, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return res, string(body)
}

// echoWebSocket answers an upgrade with 101 and then echoes each line
// back as "echo LINE" until the client closes: enough of a WebSocket for
// a proxy, which relays the bytes.
func echoWebSocket(w http.ResponseWriter, r *http.Request) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	_ = brw.Flush()
	for {
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprintf(brw, "echo %s", line)
		_ = brw.Flush()
	}
}
