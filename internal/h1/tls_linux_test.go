//go:build linux

package h1

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/tlstest"
	"github.com/limpet-lb/limpet/internal/uptls"
)

// newTLSServer is newServer over TLS, with a certificate for
// app.internal that ca signs.
func newTLSServer(t *testing.T, ca *tlstest.CA, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "app.internal", tlstest.Opts{ECDSA: true, DNS: []string{"app.internal"}, NoLoopbackIP: true}).TLS()}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, &conns
}

func tlsClient(t *testing.T, s config.UpstreamSSL) *uptls.Client {
	t.Helper()
	s.Ciphers, s.Protocols, s.VerifyDepth = "DEFAULT", []string{"TLSv1.2", "TLSv1.3"}, 1
	c, err := uptls.New(&s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSFastPath: with Options.TLS, https requests take the fast path
// (never the fallback) over pooled TLS connections, which the close
// watcher watches as it watches plain ones: a connection the server
// closes while idle leaves the pool at once, and the next request makes a
// new one.
func TestTLSFastPath(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	s, conns := newTLSServer(t, ca, func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("request not over TLS")
		}
		_, _ = io.WriteString(w, "ok")
	})
	fb := &recorder{}
	tr := New(Options{IdleTimeout: time.Hour, Fallback: fb, TLSName: "app.internal",
		TLS: tlsClient(t, config.UpstreamSSL{Verify: true, Trusted: ca.Pool()})})
	addr := s.Listener.Addr().String()
	p := tr.tlsPool(addr, "")
	for i := range 10 {
		if _, body, err := fetch(tr, newRequest(t, context.Background(), "GET", "https://"+addr+"/", nil)); err != nil || body != "ok" {
			t.Fatalf("request %d: body %q, %v", i, body, err)
		}
	}
	if fb.count() != 0 {
		t.Fatalf("%d requests went to the fallback", fb.count())
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections for 10 requests, want 1", got)
	}
	if p.len() != 1 {
		t.Fatalf("%d idle connections, want 1", p.len())
	}
	s.CloseClientConnections()
	waitFor(t, "the pool empties", func() bool { return p.len() == 0 })
	if _, body, err := fetch(tr, newRequest(t, context.Background(), "GET", "https://"+addr+"/", nil)); err != nil || body != "ok" {
		t.Fatalf("after the close: body %q, %v", body, err)
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
}

// TestTLSHandshakeErrors: a failed handshake is a handshake error
// (nothing sent, retryable like a failed connect), in nginx's words; a
// request naming its own TLS name gets a connection of its own.
func TestTLSHandshakeErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	s, conns := newTLSServer(t, ca, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	addr := s.Listener.Addr().String()
	tr := New(Options{TLSName: "wrong.internal", TLS: tlsClient(t, config.UpstreamSSL{Verify: true, Trusted: ca.Pool()})})
	_, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", "https://"+addr+"/", nil))
	want := `upstream SSL certificate does not match "wrong.internal" while SSL handshaking to upstream`
	if err == nil || err.Error() != want || !IsHandshakeError(err) {
		t.Fatalf("error %v, want %s (a handshake error)", err, want)
	}
	req := newRequest(t, context.Background(), "GET", "https://"+addr+"/", nil)
	res, err := tr.RoundTripForward(context.Background(), req, &Forward{Client: http.Header{}, TLSName: "app.internal"})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
	if tr.tlsPool(addr, "app.internal").len() != 1 || tr.tlsPool(addr, "").len() != 0 {
		t.Error("the connection for app.internal is not in a pool of its own")
	}
}

// TestTLSTransportPlainRequest: a Transport with Options.TLS still sends
// "http" requests in plain TCP, on pools of their own.
func TestTLSTransportPlainRequest(t *testing.T) {
	ca := tlstest.NewCA(t, "CA")
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "plain") })
	tr := New(Options{TLS: tlsClient(t, config.UpstreamSSL{Verify: true, Trusted: ca.Pool()}), TLSName: "app.internal"})
	if _, body, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL+"/", nil)); err != nil || body != "plain" {
		t.Fatalf("body %q, %v", body, err)
	}
	addr := s.Listener.Addr().String()
	if tr.pool(addr).len() != 1 || tr.tlsPool(addr, "").len() != 0 {
		t.Error("the plain connection is not in the plain pool")
	}
}
