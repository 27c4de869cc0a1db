package runtime

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
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

// A plain HTTP request on a TLS port is read, answered with nginx's 497
// page and logged with its server's access_log, as nginx does.
func TestTLSPlainRequestLogged(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	c, k := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true}).Write(t, dir, "a")
	l := startLimpet(t, "server {\n listen 127.0.0.1:0 ssl;\n server_name a.test;\n ssl_certificate "+c+";\n ssl_certificate_key "+k+
		";\n access_log {{log}};\n return 200 ok;\n}")
	req, err := http.NewRequest("POST", l.url+"/plain?x=1", strings.NewReader("a body"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "a.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "The plain HTTP request was sent to HTTPS port") || !resp.Close {
		t.Fatalf("status %d close %v body %q", resp.StatusCode, resp.Close, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.logPath)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(data))
	for _, want := range []string{`"method":"POST"`, `"uri":"/plain?x=1"`, `"status":400`, `"host":"a.test"`} {
		if !strings.Contains(line, want) || strings.Contains(line, "\n") {
			t.Errorf("access log %q, want one line with %s", line, want)
		}
	}
}
