package proxy

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

// BenchmarkStaticFile serves a 4 KiB file (robots.txt, an ACME token, an
// error page) through the handler: location choice, the file opened and
// stat'ed, its headers, the body copied. benchWriter has no ReadFrom, so
// this is the copy path; over TCP the body goes to sendfile instead.
func BenchmarkStaticFile(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "robots.txt"), []byte(strings.Repeat("x", 4096)), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.LoadBytes("/bench/limpet.conf", []byte(`
server { listen 127.0.0.1:8080; server_name lb; access_log off;
    root `+dir+`;
    location / { try_files $uri =404; } }`), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewHandler(cfg.Servers, -1, &Env{})
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://lb/robots.txt", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.RequestURI = "/robots.txt"
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}
