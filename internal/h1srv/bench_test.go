package h1srv

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/benchcpu"
)

// BenchmarkServeKeepAlive sends requests of a browser's usual shape, one
// at a time, on one keep-alive connection to a Server whose handler
// answers at once: the server's own cost per request (reading and
// checking the request, writing the response), with the client's in the
// same process.
func BenchmarkServeKeepAlive(b *testing.B) {
	const request = "GET /cart/items?page=2 HTTP/1.1\r\nHost: shop.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Cookie: SERVERID=0123456789abcdef0123456789abcdef; session=abc123\r\n\r\n"
	serveKeepAlive(b, request)
}

// BenchmarkServeKeepAliveWrk is BenchmarkServeKeepAlive with the requests
// of bench/run's returning clients (wrk's, with the sticky cookie): two
// fields.
func BenchmarkServeKeepAliveWrk(b *testing.B) {
	serveKeepAlive(b, "GET / HTTP/1.1\r\nHost: 127.0.0.1:19080\r\nCookie: SERVERID=0123456789abcdef0123456789abcdef\r\n\r\n")
}

// BenchmarkServeKeepAliveWrkReuse is BenchmarkServeKeepAliveWrk with
// Settings.ReuseRequests, as limpet's proxy serves: the request's
// storage and header map are the connection's, not allocated anew.
func BenchmarkServeKeepAliveWrkReuse(b *testing.B) {
	serveKeepAliveWith(b, "GET / HTTP/1.1\r\nHost: 127.0.0.1:19080\r\nCookie: SERVERID=0123456789abcdef0123456789abcdef\r\n\r\n", true)
}

func serveKeepAlive(b *testing.B, request string) { serveKeepAliveWith(b, request, false) }

func serveKeepAliveWith(b *testing.B, request string, reuse bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Settings: Settings{Handler: http.HandlerFunc(hello), IdleTimeout: time.Minute, ReuseRequests: reuse}}
	go func() { _ = s.Serve(ln) }()
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := &http.Request{Method: http.MethodGet}
	b.ReportAllocs()
	defer benchcpu.Report(b, benchcpu.Now())
	for b.Loop() {
		if _, err := io.WriteString(c, request); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
	}
}
