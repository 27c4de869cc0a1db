package h1

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// quietServer answers every GET on a connection with response, reading
// the requests into a fixed buffer, so that it allocates nothing per
// request: what a test counts per request is the client's alone.
func quietServer(t testing.TB, response string) *rawServer {
	answer := []byte(response)
	return newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		var buf [4096]byte
		have := 0
		for {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
			for {
				i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				have = copy(buf[:], buf[i+4:have])
				if _, err := c.Write(answer); err != nil {
					return
				}
			}
			if have == len(buf) {
				return // a head larger than the buffer: not ours
			}
		}
	})
}

// quietResponse is a response of the common shape: whole in one segment,
// its header parsed by the fast path, its body in the buffer with it.
const quietResponse = "HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 18:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 11\r\n\r\nhello world"

// forwardOnce sends one GET through the fast path as the proxy does
// (RoundTripForward, nginx's timeouts, a Forward with the attempt's
// start), reads the body to its end and checks the response.
func forwardOnce(tb testing.TB, tr *Transport, req *http.Request, fwd *Forward, buf []byte) {
	forwardOnceAt(tb, tr, req, fwd, buf, true)
}

// forwardOnceAt is forwardOnce with Forward.Now set to time.Now() when
// withNow, and zero otherwise.
func forwardOnceAt(tb testing.TB, tr *Transport, req *http.Request, fwd *Forward, buf []byte, withNow bool) {
	fwd.Now = time.Time{}
	if withNow {
		fwd.Now = time.Now()
	}
	res, err := tr.RoundTripForward(context.Background(), req, fwd)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.ReadFull(res.Body, buf[:11])
	if err != nil || string(buf[:n]) != "hello world" {
		tb.Fatalf("body %q, %v", buf[:n], err)
	}
	if _, err := res.Body.Read(buf); err != io.EOF {
		tb.Fatalf("after the body: %v, want io.EOF", err)
	}
	if res.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		tb.Fatalf("header %v", res.Header)
	}
}

func quietRequest(tb testing.TB, s *rawServer) (*http.Request, *Forward) {
	req := newRequest(tb, context.Background(), "GET", s.url("/path?q=1"), nil)
	fwd := &Forward{
		Client: http.Header{"User-Agent": {"bench"}, "Accept": {"*/*"}, "Cookie": {"SERVERID=0123456789abcdef0123456789abcdef"}},
		Fields: []Field{{"X-Real-Ip", "192.0.2.1"}, {"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "http"}},
	}
	return req, fwd
}

// TestFastPathAllocs: a response of the common shape costs the fast path
// four allocations: the header block's string, the header map (the map
// and its one group of slots) and one object holding the http.Response,
// its body and its header's values.
func TestFastPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	s := quietServer(t, quietResponse)
	tr := New(proxyOptions)
	defer tr.CloseIdleConnections()
	req, fwd := quietRequest(t, s)
	buf := make([]byte, 64)
	forwardOnce(t, tr, req, fwd, buf) // dials
	allocs := testing.AllocsPerRun(200, func() { forwardOnce(t, tr, req, fwd, buf) })
	if allocs > 4 {
		t.Errorf("%v allocations per request, want at most 4", allocs)
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// BenchmarkForwardQuiet is the proxy's request through the fast path to a
// server that costs next to nothing: the client's own CPU and
// allocations per request.
func BenchmarkForwardQuiet(b *testing.B) {
	s := quietServer(b, quietResponse)
	tr := New(proxyOptions)
	defer tr.CloseIdleConnections()
	req, fwd := quietRequest(b, s)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		forwardOnce(b, tr, req, fwd, buf)
	}
}

// TestClockReadings counts the transport's readings of the clock per
// request of the common shape on a pooled connection: one for the wait
// for the response headers (the write may have blocked) and one for the
// connection's idle time, when it goes back to the pool. The attempt's
// start, which is also the first write's, is the caller's Forward.Now when
// it gives one; the body, in the buffer with the headers, is read without
// a deadline.
func TestClockReadings(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		withNow bool // the caller gives Forward.Now
		want    int
	}{
		{"proxy's timeouts and Forward.Now", proxyOptions, true, 2},
		{"proxy's timeouts, no Forward.Now", proxyOptions, false, 3},
		{"no timeouts", Options{}, true, 1},
		{"no timeouts, no Forward.Now", Options{}, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := quietServer(t, quietResponse)
			tr := New(tt.opts)
			defer tr.CloseIdleConnections()
			var readings atomic.Int64
			tr.clock = func() time.Time {
				readings.Add(1)
				return deadline.Now()
			}
			req, fwd := quietRequest(t, s)
			buf := make([]byte, 64)
			forwardOnce(t, tr, req, fwd, buf) // dials
			const n = 20
			readings.Store(0)
			for range n {
				forwardOnceAt(t, tr, req, fwd, buf, tt.withNow)
			}
			if got := readings.Load(); got != n*int64(tt.want) {
				t.Errorf("%d readings of the clock in %d requests, want %d per request", got, n, tt.want)
			}
			if c := s.conns.Load(); c != 1 {
				t.Errorf("%d connections, want 1", c)
			}
		})
	}
}
