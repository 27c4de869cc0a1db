package h1srv

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestKeepAliveHeader: with KeepAliveHeader (keepalive_timeout's second
// argument) a response on a connection that stays open says
// "Keep-Alive: timeout=N", the handler's own field giving way; one that
// closes the connection, or a server without it, says nothing.
func TestKeepAliveHeader(t *testing.T) {
	ownField := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=1")
		hello(w, r)
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		header  time.Duration
		request string
		want    []string // the Keep-Alive fields
	}{
		{"set", hello, 25 * time.Second, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"timeout=25"}},
		{"whole seconds", hello, 2500 * time.Millisecond, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"timeout=2"}},
		{"HTTP/1.0 keep-alive", hello, 25 * time.Second, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", []string{"timeout=25"}},
		{"the handler's gives way", ownField, 25 * time.Second, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{"timeout=25"}},
		{"connection closing", hello, 25 * time.Second, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", nil},
		{"HTTP/1.0 without keep-alive", hello, 25 * time.Second, "GET / HTTP/1.0\r\n\r\n", nil},
		{"not set", hello, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nil},
		{"under a second", hello, 500 * time.Millisecond, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, tt.handler, func(s *Server) { s.KeepAliveHeader = tt.header })
			c := dial(t, ts.addr)
			c.send(tt.request)
			res, _ := c.read("GET")
			if got := res.Header.Values("Keep-Alive"); !slices.Equal(got, tt.want) {
				t.Errorf("Keep-Alive %q, want %q", got, tt.want)
			}
		})
	}
}
