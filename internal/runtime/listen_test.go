package runtime

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestNormalizeListen(t *testing.T) {
	tests := []struct {
		addr, key string
		wildcard  bool
	}{
		{":80", "0.0.0.0:80", true},
		{"0.0.0.0:80", "0.0.0.0:80", true},
		{"[::]:80", "[::]:80", true},
		{"[0::0]:80", "[::]:80", true},
		{"[0:0::1]:8080", "[::1]:8080", false},
		{"[::ffff:127.0.0.1]:80", "127.0.0.1:80", false},
		{"127.0.0.1:80", "127.0.0.1:80", false},
		{"localhost:80", "localhost:80", false},
	}
	for _, tt := range tests {
		key, _, wildcard, _ := normalizeListen(tt.addr)
		if key != tt.key || wildcard != tt.wildcard {
			t.Errorf("normalizeListen(%q) = %q wildcard %v, want %q %v", tt.addr, key, wildcard, tt.key, tt.wildcard)
		}
	}
}

// As in nginx, `listen PORT` beside `listen 127.0.0.2:PORT` is one socket:
// a request to 127.0.0.2 goes to the server that listens there, others to
// the wildcard's.
func TestWildcardAndSpecificListen(t *testing.T) {
	// The test needs a fixed port (a wildcard and a specific address
	// share it); another test may take the one picked, so pick again.
	var lb *limpet
	var port string
	for attempt := 0; lb == nil; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
		lb, err = tryStartLimpet(t, fmt.Sprintf(`
server { listen %[1]s; access_log off; location / { return 200 "wildcard"; } }
server { listen 127.0.0.2:%[1]s; access_log off; location / { return 200 "specific"; } }
server { listen 0.0.0.0:%[1]s; server_name other; access_log off; location / { return 200 "other"; } }
`, port))
		if err != nil && attempt == 4 {
			t.Fatal(err)
		}
	}
	// A bare port is 0.0.0.0, and 127.0.0.2 goes through its socket
	// (IPv6's [::] is a socket of its own: listen6_test.go).
	if n := len(lb.rt.Addrs()); n != 1 {
		t.Fatalf("%d sockets, want one", n)
	}
	for host, want := range map[string]string{"127.0.0.1": "wildcard", "127.0.0.2": "specific"} {
		res, err := http.Get("http://" + net.JoinHostPort(host, port) + "/")
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 64)
		n, _ := res.Body.Read(body)
		res.Body.Close()
		if got := strings.TrimSpace(string(body[:n])); got != want {
			t.Errorf("request to %s: %q, want %q", host, got, want)
		}
	}
}
