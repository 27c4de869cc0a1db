package runtime

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/tlstest"
)

// Requests ssl_verify_client refuses (400 pages, 421) are in the access
// log of the request's server, as nginx logs them.
func TestTLSRefusedRequestsLogged(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	clientCA := tlstest.NewCA(t, "Client CA")
	pub, pubKey := ca.Issue(t, "public.test", tlstest.Opts{ECDSA: true, DNS: []string{"public.test"}}).Write(t, dir, "public")
	priv, privKey := ca.Issue(t, "private.test", tlstest.Opts{ECDSA: true, DNS: []string{"private.test"}}).Write(t, dir, "private")
	caFile := filepath.Join(dir, "clients.pem")
	tlstest.WriteFile(t, caFile, clientCA.PEM())
	l := startLimpet(t, `
server {
    listen 127.0.0.1:0 ssl;
    server_name public.test;
    ssl_certificate {{pub}};
    ssl_certificate_key {{pubkey}};
    access_log off;
    return 200 "public";
}
server {
    listen 127.0.0.1:0 ssl;
    server_name private.test;
    ssl_certificate {{priv}};
    ssl_certificate_key {{privkey}};
    ssl_client_certificate {{ca}};
    ssl_verify_client on;
    access_log {{log}};
    return 200 "private";
}`, "{{pub}}", pub, "{{pubkey}}", pubKey, "{{priv}}", priv, "{{privkey}}", privKey, "{{ca}}", caFile)
	addr := strings.TrimPrefix(l.url, "http://")
	tests := []struct {
		sni, path string
		status    int
	}{
		{"private.test", "/nocert", 400},
		{"public.test", "/misdirected", 421},
	}
	for _, tt := range tests {
		resp, _ := tlsDo(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: tt.sni}, "private.test", tt.path)
		if resp.StatusCode != tt.status {
			t.Fatalf("%s: status %d, want %d", tt.path, resp.StatusCode, tt.status)
		}
	}
	// Shutdown waits for the requests' log lines and flushes them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(tests) {
		t.Fatalf("%d access log lines, want %d: %q", len(lines), len(tests), lines)
	}
	for i, tt := range tests {
		for _, want := range []string{`"uri":"` + tt.path + `"`, `"status":` + strconv.Itoa(tt.status), `"host":"private.test"`} {
			if !strings.Contains(lines[i], want) {
				t.Errorf("log line %q lacks %s", lines[i], want)
			}
		}
	}
}
