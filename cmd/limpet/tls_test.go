package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/tlstest"
)

// TestTestModeTLS: `limpet -t` loads every certificate and key, refuses a
// bad one at its line, and warns of an expired certificate and of a
// SameSite=None cookie without Secure.
func TestTestModeTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	crt, key := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true}).Write(t, dir, "a")
	_, otherKey := ca.Issue(t, "b.test", tlstest.Opts{ECDSA: true}).Write(t, dir, "b")
	oldCrt, oldKey := ca.Issue(t, "old", tlstest.Opts{ECDSA: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).Write(t, dir, "old")
	junk := filepath.Join(dir, "junk.pem")
	tlstest.WriteFile(t, junk, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
	server := func(c, k, extra string) string {
		return "upstream u {\n    server 127.0.0.1:9;\n    sticky cookie s samesite=none;\n}\nserver {\n    listen 127.0.0.1:18443 ssl;\n    ssl_certificate " + c + ";\n    ssl_certificate_key " + k + ";\n" + extra + "    location / { proxy_pass http://u; }\n}\n"
	}
	tests := []struct {
		name string
		conf string
		code int
		want []string // lines of stderr, FILE for the file
	}{
		{"good, with warnings", server(oldCrt, oldKey, ""), 0, []string{
			`limpet: [warn] the "samesite=none" parameter of "sticky" without "secure": browsers reject such a cookie in FILE:3`,
			`limpet: [warn] the certificate "` + oldCrt + `" has expired (not after `,
		}},
		{"key of another certificate", server(crt, otherKey, ""), 1, []string{
			`limpet: [emerg] cannot load certificate key "` + otherKey + `": it does not match the certificate "` + crt + `" in FILE:8`,
		}},
		{"bad PEM", server(junk, key, ""), 1, []string{
			`limpet: [emerg] cannot load certificate "` + junk + `": x509: malformed certificate in FILE:7`,
		}},
		{"unknown cipher", server(crt, key, "    ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:NOT-A-CIPHER;\n"), 1, []string{
			`limpet: [emerg] unknown cipher "NOT-A-CIPHER" in "ssl_ciphers" "ECDHE-RSA-AES128-GCM-SHA256:NOT-A-CIPHER" in FILE:9`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, tt.conf)
			var stdout, stderr bytes.Buffer
			if code := run([]string{"-t", "-c", path}, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit code %d, want %d\nstderr: %s", code, tt.code, stderr.String())
			}
			out := stderr.String()
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(out, w) {
					t.Errorf("stderr lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestCurlHTTPS: curl, verifying with --cacert, gets an answer over TLS
// from a real limpet process, with the certificate SNI chose.
func TestCurlHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed")
		}
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "Test Root")
	crt, key := ca.Issue(t, "a.test", tlstest.Opts{ECDSA: true, DNS: []string{"a.test"}}).Write(t, dir, "a")
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, ca.PEM())
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := writeConf(t, "server {\n    listen "+addr+" ssl;\n    server_name a.test;\n    ssl_certificate "+crt+";\n    ssl_certificate_key "+key+";\n    access_log off;\n    return 200 \"$scheme $https $ssl_server_name $ssl_protocol\\n\";\n}\n")
	cmd := exec.Command(buildLimpet(t), "-c", conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	waitListening(t, addr)
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "--cacert", caFile,
		"--resolve", "a.test:"+port+":127.0.0.1", "https://a.test:"+port+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s\nlimpet: %s", err, out, stderr.String())
	}
	if got, want := string(out), "https on a.test TLSv1.3\n"; got != want {
		t.Errorf("curl got %q, want %q", got, want)
	}
}
