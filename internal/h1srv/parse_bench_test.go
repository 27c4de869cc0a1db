package h1srv

import (
	"bufio"
	"context"
	"strings"
	"testing"
)

// BenchmarkParseBuffered is the fast path's parse of a request alone,
// from a buffer that holds it: the requests of bench/run's returning
// clients (wrk's, with the sticky cookie, as bench/profile proxies them)
// and of a browser.
func BenchmarkParseBuffered(b *testing.B) {
	for _, bm := range []struct{ name, raw string }{
		{"wrk", "GET / HTTP/1.1\r\nHost: 127.0.0.1:19080\r\nCookie: SERVERID=0123456789abcdef0123456789abcdef\r\n\r\n"},
		{"browser", "GET /cart/items?page=2 HTTP/1.1\r\nHost: shop.example.com\r\n" +
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
			"Accept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
			"Cookie: SERVERID=0123456789abcdef0123456789abcdef; session=abc123\r\n\r\n"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			r := strings.NewReader(bm.raw)
			br := bufio.NewReaderSize(r, bufSize)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(bm.raw)
				br.Reset(r)
				_, _ = br.Peek(1)
				if _, _, _, ok := parseBuffered(newRequest(ctx), br); !ok {
					b.Fatal("declined")
				}
			}
		})
	}
}
