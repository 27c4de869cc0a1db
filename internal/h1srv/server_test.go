package h1srv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination tests can read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Server
	addr string
	log  *syncBuffer
	done chan error
}

func start(t *testing.T, h http.Handler, opts ...func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &syncBuffer{}
	s := &Server{Settings: Settings{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}, ErrorLog: log.New(lb, "", 0)}
	for _, o := range opts {
		o(s)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), log: lb, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-ts.done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ts
}

// client is a raw connection that writes requests by hand and reads
// responses with http.ReadResponse.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response to a request of method and its whole body.
func (c *client) read(method string) (*http.Response, string) {
	c.t.Helper()
	res, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("reading the body: %v", err)
	}
	return res, string(b)
}

// get sends one request on c and checks the answer.
func (c *client) get(path string) {
	c.t.Helper()
	c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := c.read("GET"); res.StatusCode != 200 || body != "hello" {
		c.t.Fatalf("GET %s: %d %q", path, res.StatusCode, body)
	}
}

// closed reports whether the server closed the connection.
func (c *client) closed() bool {
	_ = c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.br.ReadByte()
	return err == io.EOF
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "5")
	_, _ = io.WriteString(w, "hello")
}

func TestKeepAlive(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello))
	c := dial(t, ts.addr)
	for i := range 100 {
		c.send("GET /" + fmt.Sprint(i) + " HTTP/1.1\r\nHost: x\r\n\r\n")
		res, body := c.read("GET")
		if res.StatusCode != 200 || body != "hello" || res.Close {
			t.Fatalf("request %d: %d %q close=%v", i, res.StatusCode, body, res.Close)
		}
		if res.Header.Get("Date") == "" {
			t.Fatalf("no Date header")
		}
		if _, ok := res.Header["Content-Type"]; ok {
			t.Fatalf("Content-Type invented: %q", res.Header.Get("Content-Type"))
		}
	}
}

func TestPipelined(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	c := dial(t, ts.addr)
	c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n" +
		"GET /d HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"GET /a ", "POST /b abc", "POST /c def", "GET /d "} {
		if _, body := c.read("GET"); body != want {
			t.Errorf("body %q, want %q", body, want)
		}
	}
}

func TestResponseFraming(t *testing.T) {
	big := strings.Repeat("x", 10000)
	tests := []struct {
		name, request, method string
		handler               http.HandlerFunc
		status                int
		body                  string
		length                int64 // -1: chunked
		header                map[string]string
		absent                []string
		keep                  bool
		short                 bool // the body is cut short
	}{
		{name: "Content-Length from the handler", handler: hello, status: 200, body: "hello", length: 5, keep: true},
		{name: "small body gets a Content-Length", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "small")
		}, status: 200, body: "small", length: 5, keep: true},
		{name: "large body is chunked", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, big)
		}, status: 200, body: big, length: -1, keep: true},
		{name: "many writes are chunked", handler: func(w http.ResponseWriter, r *http.Request) {
			for range 10 {
				_, _ = io.WriteString(w, big[:1000])
			}
		}, status: 200, body: big, length: -1, keep: true},
		{name: "empty body", handler: func(w http.ResponseWriter, r *http.Request) {}, status: 200, length: 0, keep: true},
		{name: "HEAD keeps the headers", method: "HEAD", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hello")
		}, status: 200, length: 5, header: map[string]string{"Content-Type": "text/plain"}, keep: true},
		{name: "HEAD without a length", method: "HEAD", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello")
		}, status: 200, length: 5, keep: true},
		{name: "204 has no body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(204)
			if _, err := io.WriteString(w, "no"); err != http.ErrBodyNotAllowed {
				t.Errorf("Write after 204: %v", err)
			}
		}, status: 204, length: 0, absent: []string{"Content-Length", "Transfer-Encoding"}, keep: true},
		{name: "304 has no body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"1"`)
			w.WriteHeader(304)
		}, status: 304, length: 0, header: map[string]string{"Etag": `"1"`}, keep: true},
		{name: "no Content-Type when set to nil", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = io.WriteString(w, "<html>")
		}, status: 200, body: "<html>", length: 6, absent: []string{"Content-Type"}, keep: true},
		{name: "Connection: close from the handler", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			hello(w, r)
		}, status: 200, body: "hello", length: 5},
		{name: "Connection: close from the client", request: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			handler: hello, status: 200, body: "hello", length: 5},
		{name: "HTTP/1.0 closes", request: "GET / HTTP/1.0\r\n\r\n",
			handler: hello, status: 200, body: "hello", length: 5},
		{name: "HTTP/1.0 keep-alive", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			handler: hello, status: 200, body: "hello", length: 5, header: map[string]string{"Connection": "keep-alive"}, keep: true},
		{name: "HTTP/1.0 without a length is close-delimited", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, big)
			}, status: 200, body: big, length: -1, absent: []string{"Transfer-Encoding"}},
		{name: "short body closes", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "hello")
		}, status: 200, length: 10, short: true},
		{name: "unread small body is discarded", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
			handler: hello, status: 200, body: "hello", length: 5, keep: true},
		{name: "partly read body closes", request: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhelloworld",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 3))
				var mb *http.MaxBytesError
				if !errors.As(err, &mb) {
					t.Errorf("MaxBytesReader: %v", err)
				}
				w.WriteHeader(413)
			}, status: 413, length: 0},
		{name: "1xx before the response", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>")
			w.WriteHeader(103)
			hello(w, r)
		}, status: 200, body: "hello", length: 5, header: map[string]string{"Link": "</a.css>"}, keep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, tt.handler)
			c := dial(t, ts.addr)
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req := tt.request
			if req == "" {
				req = method + " / HTTP/1.1\r\nHost: x\r\n\r\n"
			}
			c.send(req)
			if tt.short {
				res, err := http.ReadResponse(c.br, nil)
				if err != nil || res.ContentLength != tt.length {
					t.Fatalf("got %v, %v", res, err)
				}
				if b, err := io.ReadAll(res.Body); string(b) != "hello" || err != io.ErrUnexpectedEOF {
					t.Errorf("short body: %q, %v", b, err)
				}
				return
			}
			res, body := c.read(method)
			if res.StatusCode == 103 {
				res, body = c.read(method)
			}
			if !tt.keep && res.ProtoAtLeast(1, 1) && !strings.Contains(req, "HTTP/1.0") && !res.Close {
				t.Errorf("no Connection: close")
			}
			if res.StatusCode != tt.status || body != tt.body {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, body, tt.status, tt.body)
			}
			if tt.length == -1 {
				if res.ContentLength != -1 || (res.ProtoAtLeast(1, 1) && len(res.TransferEncoding) == 0 && !strings.Contains(tt.request, "HTTP/1.0")) {
					t.Errorf("length %d, encoding %q: want chunked or close-delimited", res.ContentLength, res.TransferEncoding)
				}
			} else if res.ContentLength != tt.length {
				t.Errorf("Content-Length %d, want %d", res.ContentLength, tt.length)
			}
			for k, v := range tt.header {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := res.Header[k]; ok {
					t.Errorf("%s present: %q", k, res.Header[k])
				}
			}
			if res.Header.Get("Date") == "" {
				t.Errorf("no Date header")
			}
			if tt.keep {
				c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				if res, _ := c.read("GET"); res.StatusCode == 0 {
					t.Errorf("second request failed")
				}
			} else if !c.closed() {
				t.Errorf("connection not closed")
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name, request string
		status        int
	}{
		{"garbage", "GARBAGE\r\n\r\n", 400},
		{"missing Host on HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding and content-length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n", 400},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400},
		{"invalid header value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"HTTP/2 request line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
			c := dial(t, ts.addr)
			c.send(tt.request)
			res, _ := c.read("GET")
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if !c.closed() {
				t.Errorf("connection not closed")
			}
			if called {
				t.Errorf("handler called")
			}
		})
	}
}

func TestGoodOddities(t *testing.T) {
	var got []string
	var mu sync.Mutex
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Host+" "+r.RequestURI+" "+r.RemoteAddr[:10])
		mu.Unlock()
		if _, ok := r.Header["Host"]; ok {
			t.Errorf("Host left in r.Header")
		}
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); !ok || a.Port == 0 {
			t.Errorf("LocalAddrContextKey: %v", r.Context().Value(http.LocalAddrContextKey))
		}
	}))
	c := dial(t, ts.addr)
	c.send("GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n" +
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
		"GET http://abs.example/x HTTP/1.1\r\nHost: abs.example\r\n\r\n")
	for range 3 {
		if res, _ := c.read("GET"); res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	want := []string{"example.com /a?b=c 127.0.0.1:", " / 127.0.0.1:", "abs.example http://abs.example/x 127.0.0.1:"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExpectContinue(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	c := dial(t, ts.addr)
	c.send("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue", line, err)
	}
	if blank, _ := c.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q", blank)
	}
	c.send("hello")
	if res, body := c.read("PUT"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("got %d %q", res.StatusCode, body)
	}

	// A handler that answers without reading gets no 100 Continue, and
	// the connection closes since the client may not send the body.
	ts2 := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }))
	c = dial(t, ts2.addr)
	c.send("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if res, _ := c.read("PUT"); res.StatusCode != 403 || !res.Close {
		t.Fatalf("got %d close=%v, want 403 and close", res.StatusCode, res.Close)
	}
}

func TestTrailers(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, body := c.read("GET")
	if body != "body" || res.Trailer.Get("X-Sum") != "42" || res.Trailer.Get("X-Late") != "yes" {
		t.Errorf("body %q, trailers %v", body, res.Trailer)
	}
}

func TestFlushStreams(t *testing.T) {
	release := make(chan struct{})
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		<-release
		_, _ = io.WriteString(w, "second")
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("before the handler returned: %q, %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(res.Body)
	if string(rest) != "second" {
		t.Fatalf("rest %q", rest)
	}
}

func TestHijack(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
			t.Errorf("Write after Hijack: %v", err)
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	}))
	c := dial(t, ts.addr)
	// The first line rides with the request: it must reach the hijacker
	// through the buffered reader.
	c.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\none\n")
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("got %v, %v", res, err)
	}
	for _, l := range []string{"one\n", "two\n"} {
		if l == "two\n" {
			c.send(l)
		}
		got, err := c.br.ReadString('\n')
		if err != nil || got != "echo "+l {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	// Shutdown leaves hijacked connections alone.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.send("three\n")
	if got, _ := c.br.ReadString('\n'); got != "echo three\n" {
		t.Fatalf("after Shutdown: %q", got)
	}
}

func TestDeadlines(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				t.Errorf("SetReadDeadline: %v", err)
			}
			_, err := io.ReadAll(r.Body)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("reading a stalled body: %v, want a timeout", err)
			}
			w.WriteHeader(408)
		}))
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		if res, _ := c.read("POST"); res.StatusCode != 408 {
			t.Errorf("status %d", res.StatusCode)
		}
	})
	t.Run("write", func(t *testing.T) {
		errc := make(chan error, 1)
		ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			if err := rc.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			_, _ = io.WriteString(w, "x")
			defer func() {
				if v := recover(); v != nil {
					errc <- fmt.Errorf("panic %v", v)
				}
			}()
			errc <- rc.Flush()
		}))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Flush past the write deadline: %v", err)
		}
	})
}

func TestClientGoneCancelsContext(t *testing.T) {
	for _, withBody := range []bool{false, true} {
		t.Run(fmt.Sprint("body=", withBody), func(t *testing.T) {
			cancelled := make(chan time.Duration, 1)
			ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				start := time.Now()
				select {
				case <-r.Context().Done():
					cancelled <- time.Since(start)
				case <-time.After(5 * time.Second):
					cancelled <- -1
				}
			}))
			c := dial(t, ts.addr)
			if withBody {
				c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
			} else {
				c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			}
			time.Sleep(200 * time.Millisecond)
			c.c.Close()
			if d := <-cancelled; d < 0 || d > time.Second {
				t.Errorf("context cancelled after %v, want within 1s", d)
			}
		})
	}
	t.Run("fast requests are not watched", func(t *testing.T) {
		ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Context().Err() != nil {
				t.Errorf("context done during the request")
			}
		}))
		c := dial(t, ts.addr)
		for range 3 {
			c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			c.read("GET")
		}
	})
	t.Run("pipelined byte is kept", func(t *testing.T) {
		ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				time.Sleep(300 * time.Millisecond)
				if r.Context().Err() != nil {
					t.Errorf("context cancelled by a pipelined request")
				}
			}
			_, _ = io.WriteString(w, r.URL.Path)
		}))
		c := dial(t, ts.addr)
		c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(150 * time.Millisecond) // the watch is reading now
		c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, want := range []string{"/slow", "/next"} {
			if _, body := c.read("GET"); body != want {
				t.Errorf("body %q, want %q", body, want)
			}
		}
	})
	t.Run("request end cancels", func(t *testing.T) {
		ctxc := make(chan context.Context, 1)
		ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ctxc <- r.Context() }))
		c := dial(t, ts.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.read("GET")
		if err := (<-ctxc).Err(); err != context.Canceled {
			t.Errorf("context after the request: %v", err)
		}
	})
}

func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		hello(w, r)
	}))
	idle := dial(t, ts.addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")
	active := dial(t, ts.addr)
	active.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered

	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()
	if !idle.closed() {
		t.Errorf("idle connection not closed")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Errorf("still accepting")
	}
	close(release)
	res, body := active.read("GET")
	if body != "hello" || !res.Close {
		t.Errorf("in-flight response %q close=%v", body, res.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// A connection accepted before Shutdown whose first request has not
// been read yet is served, not closed: its client (a binary upgrade's, a
// graceful stop's) may have sent the request already, and a request on a
// new connection is not retried.
func TestShutdownServesFreshConnection(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello), func(s *Server) { s.NoParking = true })
	c := dial(t, ts.addr)
	waitUntil(t, "the connection tracked", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return len(ts.conns) == 1
	})
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()
	waitUntil(t, "Shutdown under way", func() bool {
		_, err := net.Dial("tcp", ts.addr)
		return err != nil
	})
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, body := c.read("GET")
	if res.StatusCode != 200 || body != "hello" || !res.Close {
		t.Errorf("fresh connection in Shutdown: %d %q close=%v", res.StatusCode, body, res.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// waitUntil polls cond, for a server state no event announces.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within 10s: %s", what)
		}
	}
}

func TestShutdownTimeoutThenClose(t *testing.T) {
	ctxErr := make(chan error, 1)
	entered := make(chan struct{})
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		ctxErr <- r.Context().Err()
	}))
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	if err := ts.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-ctxErr:
		if err != context.Canceled {
			t.Errorf("request context: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("Close did not cancel the request")
	}
	if !c.closed() {
		t.Errorf("connection not closed")
	}
	if err := ts.Serve(nil); err != http.ErrServerClosed {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestIdleTimeoutZeroDisablesKeepAlive(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello), func(s *Server) { s.IdleTimeout = 0 })
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, _ := c.read("GET"); !res.Close {
		t.Errorf("no Connection: close")
	}
	if !c.closed() {
		t.Errorf("connection not closed")
	}
}

func TestTimeouts(t *testing.T) {
	ts := start(t, http.HandlerFunc(hello), func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\n") // and no more
	start := time.Now()
	if !c.closed() || time.Since(start) > time.Second {
		t.Errorf("slow header not cut off in time")
	}
	c = dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.read("GET")
	start = time.Now()
	if !c.closed() || time.Since(start) < 250*time.Millisecond {
		t.Errorf("idle connection closed after %v, want ~300ms", time.Since(start))
	}
}

func TestPanics(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/boom":
			panic("boom")
		}
		hello(w, r)
	}))
	for _, path := range []string{"/abort", "/boom"} {
		c := dial(t, ts.addr)
		c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if !c.closed() {
			t.Errorf("%s: connection not closed", path)
		}
	}
	c := dial(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.read("GET"); body != "hello" {
		t.Errorf("after panics: %q", body)
	}
	logged := ts.log.String()
	if !strings.Contains(logged, "panic serving") || !strings.Contains(logged, "boom") || !strings.Contains(logged, "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", logged)
	}
	if strings.Count(logged, "panic serving") != 1 {
		t.Errorf("http.ErrAbortHandler logged:\n%s", logged)
	}
}

func TestStdClient(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Len", fmt.Sprint(len(b)))
		_, _ = w.Write(b)
	}))
	cl := &http.Client{Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	for _, n := range []int{0, 10, 5000, 300000} {
		body := strings.Repeat("z", n)
		res, err := cl.Post("http://"+ts.addr+"/", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(got) != body || res.Header.Get("X-Len") != fmt.Sprint(n) {
			t.Errorf("n=%d: echo of %d bytes", n, len(got))
		}
	}
}

// TestFullDuplex: a body read blocked on the client, in another
// goroutine, does not hold up the response's header.
func TestFullDuplex(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		read := make(chan struct{})
		go func() {
			defer close(read)
			_, _ = io.Copy(io.Discard, r.Body)
		}()
		time.Sleep(50 * time.Millisecond) // the read now waits for the client
		w.WriteHeader(http.StatusAccepted)
		_ = rc.Flush()
		<-read
	}))
	c := dial(t, ts.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	_ = c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("the response header did not come while the body was being read: %v, %v", res, err)
	}
	c.send("defghij") // the rest of the body: the handler ends
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("reading the response: %v", err)
	}
}

// TestExpectContinueFromAnotherGoroutine: the body of a request that
// expects 100-continue, read in another goroutine while the handler writes
// its header, neither deadlocks nor loses the response.
func TestExpectContinueFromAnotherGoroutine(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(io.Discard, r.Body)
		}()
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		<-done
	}))
	for i := range 200 {
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
		res, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if res.StatusCode == http.StatusContinue {
			c.send("abc")
			if res, err = http.ReadResponse(c.br, nil); err != nil {
				t.Fatalf("request %d after 100: %v", i, err)
			}
		} else {
			c.send("abc")
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, res.StatusCode)
		}
		_ = c.c.Close()
	}
}

// TestContinueWhileTheHandlerSetsADeadline: the 100 Continue, written by
// the goroutine reading the body, and the handler's SetWriteDeadline do
// not race (go test -race).
func TestContinueWhileTheHandlerSetsADeadline(t *testing.T) {
	ts := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		go func() {
			_, _ = io.ReadAll(r.Body)
			close(done)
		}()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second))
		<-done
		hello(w, r)
	}))
	for range 20 {
		c := dial(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
		res, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == http.StatusContinue {
			c.send("abc")
			res, _ = c.read("POST")
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
}
