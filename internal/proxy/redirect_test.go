package proxy

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// TestAbsoluteRedirect checks ngx_http_header_filter's rule for a
// relative Location: the scheme of the connection, the host from
// server_name_in_redirect, Host or the local address, the local port
// unless it is the scheme's default or port_in_redirect is off.
func TestAbsoluteRedirect(t *testing.T) {
	on := config.Redirects{Absolute: true, Port: true}
	tests := []struct {
		name   string
		host   string // the request's Host; "-" for none
		tls    bool
		scheme string
		local  string
		rs     config.Redirects
		target string
		want   string
	}{
		{"http, port 80 left out", "Example.COM:8080", false, "http", "10.0.0.1:80", on, "/x?a=b", "http://example.com/x?a=b"},
		{"http, another port", "example.com", false, "http", "10.0.0.1:8080", on, "/x", "http://example.com:8080/x"},
		{"https by vr.Scheme, 443 left out", "example.com", false, "https", "10.0.0.1:443", on, "/x", "https://example.com/x"},
		{"https by r.TLS, port 80 kept", "example.com", true, "http", "10.0.0.1:80", on, "/x", "https://example.com:80/x"},
		{"trailing dot of Host dropped", "example.com.", false, "http", "10.0.0.1:80", on, "/x", "http://example.com/x"},
		{"IPv6 Host kept in brackets", "[::1]:8080", false, "http", "[::1]:8080", on, "/x", "http://[::1]:8080/x"},
		{"no Host: the local address", "-", false, "http", "192.0.2.7:81", on, "/x", "http://192.0.2.7:81/x"},
		{"no Host, IPv6 local address", "-", false, "http", "[2001:db8::1]:80", on, "/x", "http://[2001:db8::1]/x"},
		{"no Host, IPv4-mapped local address", "-", false, "http", "[::ffff:127.0.0.1]:80", on, "/x", "http://127.0.0.1/x"},
		{"server_name_in_redirect", "other.test", false, "http", "10.0.0.1:80", config.Redirects{Absolute: true, ServerName: true, Port: true}, "/x", "http://primary.test/x"},
		{"port_in_redirect off", "example.com", false, "http", "10.0.0.1:8080", config.Redirects{Absolute: true}, "/x", "http://example.com/x"},
		{"absolute_redirect off", "example.com", false, "http", "10.0.0.1:8080", config.Redirects{Port: true}, "/x", "/x"},
		{"not starting with a slash", "example.com", false, "http", "10.0.0.1:8080", on, "x/y", "x/y"},
		{"absolute already", "example.com", false, "http", "10.0.0.1:8080", on, "https://a.test/", "https://a.test/"},
		{"empty", "example.com", false, "http", "10.0.0.1:8080", on, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			if tt.host == "-" {
				r.Host = ""
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			vr := &vars.Request{R: r, Scheme: tt.scheme, ServerName: "primary.test", Local: netip.MustParseAddrPort(tt.local)}
			if got := absoluteRedirect(vr, tt.rs, tt.target); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
