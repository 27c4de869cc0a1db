package h1srv

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/limpet-lb/limpet/internal/h2srv"
)

// h2cClient is Go's HTTP/2 client speaking h2c by prior knowledge: TLS
// allowed off, its TLS dial a plain one.
func h2cClient(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func protoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_, _ = io.WriteString(w, r.Proto+" "+r.Method+" "+r.Host+" "+string(body))
}

// TestPriorKnowledge: with Settings.HTTP2 set, a connection that opens
// with the HTTP/2 preface is served as HTTP/2, and HTTP/1 clients,
// whose requests may begin with "P" too, are served as before.
func TestPriorKnowledge(t *testing.T) {
	ts := start(t, http.HandlerFunc(protoHandler), func(s *Server) { s.HTTP2 = h2srv.New(h2srv.Config{}) })
	c := h2cClient(t)
	for _, method := range []string{"GET", "POST", "PUT"} {
		req, _ := http.NewRequest(method, "http://"+ts.addr+"/", strings.NewReader("body"))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := "HTTP/2.0 " + method + " " + ts.addr + " body"; string(b) != want {
			t.Errorf("h2c %s: %q, want %q", method, b, want)
		}
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH"} {
		req, _ := http.NewRequest(method, "http://"+ts.addr+"/", strings.NewReader("body"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := "HTTP/1.1 " + method + " " + ts.addr + " body"; string(b) != want {
			t.Errorf("HTTP/1.1 %s: %q, want %q", method, b, want)
		}
	}
}

// TestPrefaceInPieces: a preface that arrives a few bytes at a time is
// still recognised, and the bytes read while looking at it reach the
// HTTP/2 server.
func TestPrefaceInPieces(t *testing.T) {
	ts := start(t, http.HandlerFunc(protoHandler), func(s *Server) { s.HTTP2 = h2srv.New(h2srv.Config{}) })
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	for _, piece := range []string{"P", "RI * HT", "TP/2.0\r\n\r\nSM\r", "\n\r\n"} {
		if _, err := io.WriteString(conn, piece); err != nil {
			t.Fatal(err)
		}
		// Each piece is its own segment: Nagle is off on Go's
		// TCP connections; the server's reads see the pieces apart
		// or together, and must cope either way.
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatalf("no HTTP/2 frame after a preface in pieces: %v", err)
	}
	if _, ok := f.(*http2.SettingsFrame); !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
}

// TestPrefaceWithoutHTTP2: without Settings.HTTP2 the preface is an
// HTTP/1 request like any other, and refused as one.
func TestPrefaceWithoutHTTP2(t *testing.T) {
	ts := start(t, http.HandlerFunc(protoHandler))
	c := dial(t, ts.addr)
	c.send(http2.ClientPreface)
	res, _ := c.read("PRI")
	if res.StatusCode < 400 {
		t.Errorf("the preface on an HTTP/1 server: %d, want an error status", res.StatusCode)
	}
}

// TestShutdownHTTP2: Shutdown makes an HTTP/2 connection's server send
// GOAWAY; the stream in flight is answered, and Shutdown returns once the
// connection has ended.
func TestShutdownHTTP2(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	ts := start(t, h, func(s *Server) { s.HTTP2 = h2srv.New(h2srv.Config{}) })
	c := h2cClient(t)
	got := make(chan string, 1)
	go func() {
		res, err := c.Get("http://" + ts.addr + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- ts.Shutdown(context.Background()) }()
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("the stream in flight got %q", b)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := ts.http2Conns(); n != 0 {
		t.Errorf("%d HTTP/2 connections left after Shutdown", n)
	}
}

// http2Conns counts the connections handed to Settings.HTTP2.
func (s *Server) http2Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.state.Load() == stateHTTP2 {
			n++
		}
	}
	return n
}
