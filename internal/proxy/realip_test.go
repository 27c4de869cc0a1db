package proxy

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// TestRealIP: the address ngx_http_realip_module would give $remote_addr.
func TestRealIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name      string
		header    string
		recursive bool
		peer      string
		lines     []string
		want      string
	}{
		{"X-Real-IP from a trusted peer", "X-Real-Ip", false, "127.0.0.1:5000", []string{"203.0.113.7"}, "203.0.113.7:0"},
		{"untrusted peer: unchanged", "X-Real-Ip", false, "192.0.2.9:5000", []string{"203.0.113.7"}, "192.0.2.9:5000"},
		{"no field: unchanged", "X-Real-Ip", false, "127.0.0.1:5000", nil, "127.0.0.1:5000"},
		{"garbage: unchanged", "X-Real-Ip", false, "127.0.0.1:5000", []string{"not-an-ip"}, "127.0.0.1:5000"},
		{"with a port", "X-Real-Ip", false, "127.0.0.1:5000", []string{"[2001:db8::1]:8080"}, "[2001:db8::1]:8080"},
		{"IPv4-mapped peer is trusted", "X-Real-Ip", false, "[::ffff:127.0.0.1]:5000", []string{"203.0.113.7"}, "203.0.113.7:0"},
		{"X-Forwarded-For: the last", "X-Forwarded-For", false, "127.0.0.1:1", []string{"198.51.100.1, 10.0.0.5"}, "10.0.0.5:0"},
		{"recursive: the last untrusted", "X-Forwarded-For", true, "127.0.0.1:1", []string{"198.51.100.1, 203.0.113.7,10.0.0.5 , 10.0.0.6"}, "203.0.113.7:0"},
		{"recursive over several lines", "X-Forwarded-For", true, "127.0.0.1:1", []string{"198.51.100.1", "10.0.0.5"}, "198.51.100.1:0"},
		{"recursive, all trusted: the first", "X-Forwarded-For", true, "127.0.0.1:1", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1:0"},
		{"recursive stops at garbage, keeping what it had", "X-Forwarded-For", true, "127.0.0.1:1", []string{"junk, 10.0.0.2"}, "10.0.0.2:0"},
		{"another field", "Cf-Connecting-Ip", false, "10.1.2.3:1", []string{"198.51.100.4"}, "198.51.100.4:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ri := compileRealIP(config.RealIP{From: trusted, Header: tt.header, Recursive: tt.recursive})
			r := &http.Request{Header: http.Header{}}
			for _, l := range tt.lines {
				r.Header.Add(tt.header, l)
			}
			vr := &vars.Request{R: r, Remote: netip.MustParseAddrPort(tt.peer)}
			ri.apply(r, vr)
			if got := vr.Remote.String(); got != tt.want {
				t.Errorf("remote %s, want %s", got, tt.want)
			}
		})
	}
	if compileRealIP(config.RealIP{Header: "X-Real-Ip"}) != nil {
		t.Error("no set_real_ip_from must compile to nothing")
	}
}
