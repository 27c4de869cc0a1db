package runtime

import (
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/tlstest"
)

// On a wildcard socket that also serves specific addresses, `ssl` and the
// certificate are each address's, as nginx keeps them (ngx_http_addr_conf_t):
// the connection's local address decides.
func TestTLSPerAddressOnWildcardSocket(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	wc, wk := ca.Issue(t, "wild.test", tlstest.Opts{ECDSA: true, DNS: []string{"wild.test"}}).Write(t, dir, "wild")
	tc, tk := ca.Issue(t, "three.test", tlstest.Opts{ECDSA: true, DNS: []string{"three.test"}}).Write(t, dir, "three")
	fc, fk := ca.Issue(t, "five.test", tlstest.Opts{ECDSA: true, DNS: []string{"five.test"}}).Write(t, dir, "five")
	caFile := filepath.Join(dir, "clients.pem")
	tlstest.WriteFile(t, caFile, tlstest.NewCA(t, "Client CA").PEM())
	r := strings.NewReplacer("{{wc}}", wc, "{{wk}}", wk, "{{tc}}", tc, "{{tk}}", tk, "{{fc}}", fc, "{{fk}}", fk, "{{ca}}", caFile)
	lb, port := startOnSharedPort(t, r.Replace(`
server { listen %[1]s ssl; server_name wild.test; ssl_certificate {{wc}}; ssl_certificate_key {{wk}}; access_log off; return 200 "wild"; }
server { listen 127.0.0.2:%[1]s; access_log off; return 200 "plain two"; }
server { listen 127.0.0.3:%[1]s ssl; server_name three.test; ssl_certificate {{tc}}; ssl_certificate_key {{tk}}; access_log off; return 200 "three"; }
server { listen 127.0.0.5:%[1]s ssl; server_name five.test; ssl_certificate {{fc}}; ssl_certificate_key {{fk}};
         ssl_client_certificate {{ca}}; ssl_verify_client on; access_log off; return 200 "five"; }
`), io.Discard)
	if n := len(lb.rt.Addrs()); n != 1 {
		t.Fatalf("%d sockets, want the wildcard's", n)
	}
	tests := []struct {
		host   string
		cn     string // the certificate without SNI; "" for plain
		status int
		body   string
	}{
		{"127.0.0.1", "wild.test", 200, "wild"},
		{"127.0.0.2", "", 200, "plain two"},
		{"127.0.0.3", "three.test", 200, "three"},
		// Only 127.0.0.5's server verifies clients.
		{"127.0.0.5", "five.test", 400, "No required SSL certificate was sent"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			addr := net.JoinHostPort(tt.host, port)
			if tt.cn == "" {
				if got := getHost(t, addr, "x"); got != tt.body {
					t.Errorf("plain request: %q, want %q", got, tt.body)
				}
				return
			}
			st, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if cn := st.PeerCertificates[0].Subject.CommonName; cn != tt.cn {
				t.Errorf("certificate %q without SNI, want %q", cn, tt.cn)
			}
			resp, body := tlsDo(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: tt.cn}, "", "/")
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("status %d body %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}

// A plain wildcard socket serves TLS to a specific address with `ssl`.
func TestTLSSpecificAddressOnPlainWildcard(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "two.test", tlstest.Opts{ECDSA: true, DNS: []string{"two.test"}}).Write(t, dir, "two")
	_, port := startOnSharedPort(t, strings.NewReplacer("{{c}}", c, "{{k}}", k).Replace(`
server { listen %[1]s; access_log off; return 200 "plain wild"; }
server { listen 127.0.0.2:%[1]s ssl; ssl_certificate {{c}}; ssl_certificate_key {{k}}; access_log off; return 200 "tls two"; }
`), io.Discard)
	if got := getHost(t, "127.0.0.1:"+port, "x"); got != "plain wild" {
		t.Errorf("127.0.0.1: %q", got)
	}
	if _, body := tlsDo(t, "127.0.0.2:"+port, &tls.Config{RootCAs: ca.Pool(), ServerName: "two.test"}, "", "/"); body != "tls two" {
		t.Errorf("127.0.0.2 over TLS: %q", body)
	}
}
