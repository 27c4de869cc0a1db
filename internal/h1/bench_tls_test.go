package h1

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/uptls"
)

// The TLS benchmarks are the plain ones over TLS: h1's fast path with an
// uptls.Client (verification off, as nginx's default) against the
// standard transport over TLS, to an httptest TLS server.

func benchTLSServer(b *testing.B) *httptest.Server {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "11")
		_, _ = io.WriteString(w, "hello world")
	}))
	s.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	s.StartTLS()
	b.Cleanup(s.Close)
	return s
}

func benchTLSClient(b *testing.B) *uptls.Client {
	c, err := uptls.New(&config.UpstreamSSL{Ciphers: "DEFAULT", Protocols: []string{"TLSv1.2", "TLSv1.3"}, SessionReuse: true})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkRoundTripTLS(b *testing.B) {
	benchGetFrom(b, New(Options{TLS: benchTLSClient(b)}), benchTLSServer(b))
}

func BenchmarkStdTransportTLS(b *testing.B) {
	tr := stdTransport()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // a test server
	benchGetFrom(b, tr, benchTLSServer(b))
}
