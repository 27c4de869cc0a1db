package h1srv

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/errpage"
)

// A plain HTTP request on a TLS socket: with PlainHTTPToHandler the
// handler reads it whole (nothing the handshake read is lost), its
// context marked; without, h1srv answers the 497 page itself.
func TestTLSPlainRequest(t *testing.T) {
	tests := []struct {
		toHandler bool
		want      string
	}{
		{true, "marked POST /p?q=1 a.test body=hello"},
		{false, "The plain HTTP request was sent to HTTPS port"},
	}
	for _, tt := range tests {
		t.Run(map[bool]string{true: "to the handler", false: "by h1srv"}[tt.toHandler], func(t *testing.T) {
			ts, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.TLS != nil || !errpage.IsPlainHTTP(r.Context()) {
					io.WriteString(w, "not marked")
					return
				}
				b, _ := io.ReadAll(r.Body)
				w.Header().Set("Connection", "close")
				io.WriteString(w, "marked "+r.Method+" "+r.RequestURI+" "+r.Host+" body="+string(b))
			}), func(s *Server) { s.PlainHTTPToHandler = tt.toHandler })
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, "POST /p?q=1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("body %q, want %q", b, tt.want)
			}
			if n := ts.HandshakeFailures(); n != 1 {
				t.Errorf("%d failed handshakes counted, want 1", n)
			}
		})
	}
}
