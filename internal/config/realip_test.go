package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestRealIPConfig: what each level ends up with, and nginx's errors.
func TestRealIPConfig(t *testing.T) {
	cfg := mustLoad(t, `
set_real_ip_from 10.0.0.0/8;
set_real_ip_from app-01.internal;
real_ip_header X-Forwarded-For;
server {
    location / { return 200; }
    location /own/ { set_real_ip_from 192.168.1.7/24; real_ip_recursive on; return 200; }
}`)
	srv := cfg.Servers[0]
	want := RealIP{From: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}, Header: "X-Forwarded-For"}
	if got := srv.Locations[0].Proxy.RealIP; !reflect.DeepEqual(got, want) {
		t.Errorf("inherited %+v, want %+v", got, want)
	}
	// A level's own list replaces the outer one; the host bits are
	// masked, with nginx's warning.
	want = RealIP{From: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}, Header: "X-Forwarded-For", Recursive: true}
	if got := srv.Locations[1].Proxy.RealIP; !reflect.DeepEqual(got, want) {
		t.Errorf("own %+v, want %+v", got, want)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Msg != "low address bits of 192.168.1.7/24 are meaningless" {
		t.Errorf("warnings %v", cfg.Warnings)
	}

	tests := []struct{ name, src, want string }{
		{"unknown host", "set_real_ip_from nowhere.internal;", `host not found in set_real_ip_from "nowhere.internal" in FILE:1`},
		{"bad CIDR", "set_real_ip_from 10.0.0.0/99;", `invalid parameter "10.0.0.0/99" in FILE:1`},
		{"proxy_protocol", "real_ip_header proxy_protocol;", `"real_ip_header proxy_protocol" is not supported by limpet: it reads no PROXY protocol in FILE:1`},
		{"header twice", "real_ip_header X-Real-IP;\nreal_ip_header X-Forwarded-For;", `"real_ip_header" directive is duplicate in FILE:2`},
		{"recursive not a flag", "real_ip_recursive yes;", `invalid value "yes" in "real_ip_recursive" directive, it must be "on" or "off" in FILE:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.src)
			if want := strings.ReplaceAll(tt.want, "FILE", path); err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant  %s", err, want)
			}
		})
	}
	// unix: is accepted with a warning: limpet has no unix listeners.
	cfg = mustLoad(t, "set_real_ip_from unix:;")
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Msg, `"set_real_ip_from unix:" has no effect in limpet`) {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}
