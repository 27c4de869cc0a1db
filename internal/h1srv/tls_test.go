package h1srv

import (
	"bufio"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/benchcpu"
	"github.com/limpet-lb/limpet/internal/tlstest"
)

// tlsServer starts a Server speaking TLS with a certificate for a.test
// and returns it with a client Config that trusts it.
func tlsServer(t *testing.T, h http.Handler, opts ...func(*Server)) (*testServer, *tls.Config) {
	t.Helper()
	ca := tlstest.NewCA(t, "Test Root")
	leaf := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}})
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	ts := start(t, h, append([]func(*Server){func(s *Server) { s.TLS = srvCfg }}, opts...)...)
	return ts, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", NextProtos: []string{"http/1.1"}}
}

// TestTLSRequests: requests on a TLS connection carry its state in
// r.TLS, and keep-alive works as on plain connections.
func TestTLSRequests(t *testing.T) {
	ts, cfg := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			io.WriteString(w, "plain")
			return
		}
		io.WriteString(w, r.TLS.ServerName+" "+r.TLS.NegotiatedProtocol)
	}))
	c, err := tls.Dial("tcp", ts.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "a.test http/1.1" {
			t.Fatalf("request %d: body %q", i, b)
		}
	}
}

// TestTLSHandshakeTimeout: a client that connects and never sends its
// ClientHello is closed after ReadHeaderTimeout, and the failed
// handshake is counted and logged at info.
func TestTLSHandshakeTimeout(t *testing.T) {
	info := &syncBuffer{}
	ts, _ := tlsServer(t, http.HandlerFunc(hello), func(s *Server) {
		s.ReadHeaderTimeout = 100 * time.Millisecond
		s.InfoLog = log.New(info, "", 0)
	})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server closes the connection; the read's own deadline only
	// keeps a broken server from hanging the test.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v, want EOF", err)
	}
	if n := ts.HandshakeFailures(); n != 1 {
		t.Errorf("%d handshake failures, want 1", n)
	}
	if !strings.Contains(info.String(), "client closed connection while SSL handshaking") {
		t.Errorf("info log: %q", info.String())
	}
}

// TestTLSClientGone: the watch that notices a client leaving works
// through TLS: the request's context is cancelled.
func TestTLSClientGone(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	ts, cfg := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(30 * time.Second):
		}
	}))
	c, err := tls.Dial("tcp", ts.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-started
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the request's context was not cancelled when its TLS client left")
	}
}

// BenchmarkServeKeepAliveTLS is BenchmarkServeKeepAlive over TLS 1.3
// (ECDSA P-256, AES-128-GCM): the cost TLS adds to a keep-alive request.
func BenchmarkServeKeepAliveTLS(b *testing.B) {
	ca := tlstest.NewCA(b, "Test Root")
	leaf := ca.Issue(b, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}})
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Settings: Settings{Handler: http.HandlerFunc(hello), IdleTimeout: time.Minute,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}}
	go func() { _ = s.Serve(ln) }()
	defer s.Close()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const request = "GET /cart/items?page=2 HTTP/1.1\r\nHost: shop.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Cookie: SERVERID=0123456789abcdef0123456789abcdef; session=abc123\r\n\r\n"
	br := bufio.NewReader(c)
	req := &http.Request{Method: http.MethodGet}
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	for b.Loop() {
		if _, err := io.WriteString(c, request); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
	}
}

// connServer stands in for the HTTP/2 server at the HTTP2Server seam: it
// writes "tls h2" to each *tls.Conn it is given ("h2" to another) and
// returns, so the test sees which connections reach it.
type connServer struct{}

func (connServer) ServeConn(c net.Conn, h http.Handler) {
	_, isTLS := c.(*tls.Conn)
	rec := &strings.Builder{}
	if isTLS {
		rec.WriteString("tls ")
	}
	rec.WriteString("h2")
	_, _ = io.WriteString(c, rec.String())
}

// TestTLSALPN: a handshake that chose "h2" goes to Settings.HTTP2 with
// the *tls.Conn; one that chose http/1.1 is served here.
func TestTLSALPN(t *testing.T) {
	ts, cfg := tlsServer(t, http.HandlerFunc(hello), func(s *Server) {
		s.HTTP2 = connServer{}
		s.TLS.NextProtos = []string{"h2", "http/1.1"}
	})
	h2 := cfg.Clone()
	h2.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", ts.addr, h2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(b) != "tls h2" {
		t.Fatalf("h2 connection: %q, %v", b, err)
	}
	c, err = tls.Dial("tcp", ts.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("http/1.1 connection: %v %v", resp, err)
	}
}

// BenchmarkTLSHandshake makes new connections, each a full TLS 1.3
// handshake (ECDSA P-256, X25519, no resumption) and one request: the
// cost of a new client, server and client together in this process.
func BenchmarkTLSHandshake(b *testing.B) {
	ca := tlstest.NewCA(b, "Test Root")
	leaf := ca.Issue(b, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}})
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Settings: Settings{Handler: http.HandlerFunc(hello), IdleTimeout: time.Minute,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true}}}
	go func() { _ = s.Serve(ln) }()
	defer s.Close()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", CurvePreferences: []tls.CurveID{tls.X25519}}
	req := &http.Request{Method: http.MethodGet}
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	for b.Loop() {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		c.Close()
	}
}
