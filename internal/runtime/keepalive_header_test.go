package runtime

import "testing"

// TestKeepaliveHeaderTimeout: keepalive_timeout's header time reaches
// the client as "Keep-Alive: timeout=N".
func TestKeepaliveHeaderTimeout(t *testing.T) {
	lb := startLimpet(t, "server { listen 127.0.0.1:0; keepalive_timeout 30s 25; access_log off; location / { return 200 ok; } }")
	res, _ := get(t, newClient(t), lb.url+"/")
	if got := res.Header.Get("Keep-Alive"); got != "timeout=25" {
		t.Errorf("Keep-Alive %q, want %q", got, "timeout=25")
	}
}
