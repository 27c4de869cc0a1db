package h1

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkParseBuffered is the fast path's parse of a response alone,
// from a buffer that holds it: bench/backend's (Go's net/http with three
// fields set) and one of nginx's shape.
func BenchmarkParseBuffered(b *testing.B) {
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct{ name, raw string }{
		{"backend", "HTTP/1.1 200 OK\r\nContent-Length: 256\r\nContent-Type: text/plain\r\n" +
			"Date: Wed, 02 Dec 2026 18:00:00 GMT\r\nX-Backend: app1\r\n\r\n"},
		{"nginx", "HTTP/1.1 200 OK\r\nServer: nginx/1.27.0\r\nDate: Wed, 02 Dec 2026 18:00:00 GMT\r\n" +
			"Content-Type: text/html\r\nContent-Length: 615\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n" +
			"Connection: keep-alive\r\nETag: \"674c3a00-267\"\r\nAccept-Ranges: bytes\r\n\r\n"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			r := strings.NewReader(bm.raw)
			br := bufio.NewReader(r)
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(bm.raw)
				br.Reset(r)
				_, _ = br.Peek(1)
				if _, ok := parseBuffered(br, req, new(response)); !ok {
					b.Fatal("declined")
				}
			}
		})
	}
}
