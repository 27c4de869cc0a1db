package runtime

import (
	"net/http"
	"strings"
	"testing"
)

// TestRealIP: behind a trusted proxy, limpet takes the client's address
// from X-Forwarded-For, recursively: the backend's X-Real-IP, the access
// rules and the access log all see it; an untrusted peer's header is not
// believed.
func TestRealIP(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    set_real_ip_from 127.0.0.1;
    set_real_ip_from 10.0.0.0/8;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    location / {
        proxy_set_header X-Real-IP $remote_addr;
        proxy_pass http://app;
    }
    location /private/ {
        deny 203.0.113.66;
        proxy_pass http://app;
    }
}
server {
    listen 127.0.0.2:0;
    access_log off;
    location / { proxy_set_header X-Real-IP $remote_addr; proxy_pass http://app; }
}`, "{{app}}", app.addr())
	c := newClient(t)

	get(t, c, lb.url+"/", "X-Forwarded-For", "198.51.100.1, 203.0.113.7, 10.1.1.1")
	if r, _ := app.lastRequest(); r.Header.Get("X-Real-IP") != "203.0.113.7" {
		t.Errorf("backend saw X-Real-IP %q, want 203.0.113.7", r.Header.Get("X-Real-IP"))
	}
	if res, _ := get(t, c, lb.url+"/private/x", "X-Forwarded-For", "203.0.113.66"); res.StatusCode != http.StatusForbidden {
		t.Errorf("denied client behind the proxy: %d, want 403", res.StatusCode)
	}
	if res, _ := get(t, c, lb.url+"/private/x", "X-Forwarded-For", "203.0.113.67"); res.StatusCode != http.StatusOK {
		t.Errorf("other client behind the proxy: %d, want 200", res.StatusCode)
	}
	lines := lb.accessLog(t)
	if len(lines) == 0 || !strings.Contains(lines[0], `"203.0.113.7"`) {
		t.Errorf("access log %q does not name the real client", lines)
	}

	// The second server trusts nobody: the header is the client's word.
	other := "http://" + lb.rt.Addrs()[1].String()
	get(t, c, other+"/", "X-Forwarded-For", "203.0.113.7")
	if r, _ := app.lastRequest(); r.Header.Get("X-Real-IP") != "127.0.0.1" {
		t.Errorf("untrusting server: X-Real-IP %q, want 127.0.0.1", r.Header.Get("X-Real-IP"))
	}
}
