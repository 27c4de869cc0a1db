package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hideLength hides a reader's length, so http.NewRequest cannot set
// ContentLength from it.
type hideLength struct{ io.Reader }

func TestBodies(t *testing.T) {
	type seen struct {
		cl   int64
		te   []string
		body string
		clH  string
	}
	got := make(chan seen, 1)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server reading body: %v", err)
		}
		got <- seen{r.ContentLength, r.TransferEncoding, string(b), r.Header.Get("Content-Length")}
		out := "echo:" + string(b)
		if r.URL.Query().Get("chunked") != "" {
			_, _ = io.WriteString(w, out[:len(out)/2])
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, out[len(out)/2:])
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		_, _ = io.WriteString(w, out)
	})
	tests := []struct {
		name     string
		method   string
		body     io.Reader
		length   int64 // ContentLength to set; -2 leaves NewRequest's
		query    string
		wantCL   int64
		wantTE   []string
		wantCLH  string
		wantBody string
		resCL    int64
	}{
		{name: "GET", method: "GET", length: -2, wantCL: 0, resCL: 5},
		{name: "POST without body", method: "POST", length: -2, wantCL: 0, wantCLH: "0", resCL: 5},
		{name: "POST length", method: "POST", body: strings.NewReader("hello"), length: -2, wantCL: 5, wantCLH: "5", wantBody: "hello", resCL: 10},
		{name: "POST chunked", method: "POST", body: hideLength{strings.NewReader("hello chunked")}, length: -1, wantCL: -1, wantTE: []string{"chunked"}, wantBody: "hello chunked", resCL: 18},
		{name: "PUT zero length with body is chunked", method: "PUT", body: hideLength{strings.NewReader("abc")}, length: 0, wantCL: -1, wantTE: []string{"chunked"}, wantBody: "abc", resCL: 8},
		{name: "chunked response", method: "POST", body: strings.NewReader("hi"), length: -2, query: "?chunked=1", wantCL: 2, wantCLH: "2", wantBody: "hi", resCL: -1},
		{name: "chunked both ways", method: "POST", body: hideLength{strings.NewReader("both")}, length: -1, query: "?chunked=1", wantCL: -1, wantTE: []string{"chunked"}, wantBody: "both", resCL: -1},
	}
	tr := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, context.Background(), tt.method, s.URL+"/"+tt.query, tt.body)
			if tt.length != -2 {
				req.ContentLength = tt.length
			}
			res, body, err := fetch(tr, req)
			if err != nil {
				t.Fatal(err)
			}
			sv := <-got
			if sv.cl != tt.wantCL || fmt.Sprint(sv.te) != fmt.Sprint(tt.wantTE) || sv.body != tt.wantBody || sv.clH != tt.wantCLH {
				t.Errorf("server saw ContentLength %d, TransferEncoding %q, Content-Length header %q, body %q; want %d, %q, %q, %q",
					sv.cl, sv.te, sv.clH, sv.body, tt.wantCL, tt.wantTE, tt.wantCLH, tt.wantBody)
			}
			if want := "echo:" + tt.wantBody; body != want {
				t.Errorf("response body %q, want %q", body, want)
			}
			if res.ContentLength != tt.resCL {
				t.Errorf("response ContentLength %d, want %d", res.ContentLength, tt.resCL)
			}
		})
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections for %d requests, want 1", n, len(tests))
	}
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		name      string
		server    func(t *testing.T) (url string, conns func() int32)
		wantConns int32
	}{
		{"keep-alive", func(t *testing.T) (string, func() int32) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
			return s.URL, s.conns.Load
		}, 1},
		{"Connection: close", func(t *testing.T) (string, func() int32) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				_, _ = io.WriteString(w, "ok")
			})
			return s.URL, s.conns.Load
		}, 100},
		{"HTTP/1.0", func(t *testing.T) (string, func() int32) {
			s := cannedServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false)
			return s.url("/"), s.conns.Load
		}, 100},
		{"close-delimited body", func(t *testing.T) (string, func() int32) {
			s := cannedServer(t, "HTTP/1.1 200 OK\r\n\r\nok", true)
			return s.url("/"), s.conns.Load
		}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, conns := tt.server(t)
			tr := New(Options{})
			for i := range 100 {
				_, body, err := fetch(tr, newRequest(t, context.Background(), "GET", url, nil))
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if body != "ok" {
					t.Fatalf("request %d: body %q", i, body)
				}
			}
			if n := conns(); n != tt.wantConns {
				t.Errorf("%d connections for 100 requests, want %d", n, tt.wantConns)
			}
		})
	}
}

// TestStaleConnection: a server that closes each connection after one
// response, without saying so. The probe finds the closed idle connection;
// without it, the request is retried on a new one, when it is safe to
// repeat.
func TestStaleConnection(t *testing.T) {
	tests := []struct {
		name    string
		noProbe bool
		method  string
		body    io.Reader
		wantErr bool
	}{
		{name: "probe GET", method: "GET"},
		{name: "probe POST", method: "POST", body: strings.NewReader("x")},
		{name: "retry GET", noProbe: true, method: "GET"},
		{name: "retry HEAD", noProbe: true, method: "HEAD"},
		{name: "no retry for POST", noProbe: true, method: "POST", wantErr: true},
		{name: "no retry for a body", noProbe: true, method: "PUT", body: strings.NewReader("x"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cannedServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true)
			tr := New(Options{})
			tr.noProbe = tt.noProbe
			if _, _, err := fetch(tr, newRequest(t, context.Background(), "GET", s.url("/"), nil)); err != nil {
				t.Fatal(err)
			}
			// Let the server's FIN arrive; the probe looks only at
			// connections idle for probeAfter.
			wait := 20 * time.Millisecond
			if !tt.noProbe {
				wait += probeAfter
			}
			time.Sleep(wait)
			_, _, err := fetch(tr, newRequest(t, context.Background(), tt.method, s.url("/"), tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error: %v", err, tt.wantErr)
			}
			if err == nil && s.conns.Load() != 2 {
				t.Errorf("%d connections, want 2", s.conns.Load())
			}
			if err != nil && isDialError(err) {
				t.Errorf("error %v reads as a dial error", err)
			}
			if err != nil && !IsStale(err) {
				t.Errorf("error %v is not marked stale: the server is not to blame", err)
			}
		})
	}
}

func TestDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tr := New(Options{ConnectTimeout: time.Second})
	_, err = tr.RoundTrip(newRequest(t, context.Background(), "GET", "http://"+addr+"/", nil))
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("error %#v, want a *net.OpError with Op \"dial\"", err)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
		_, _ = readHead(bufio.NewReader(c))
		<-done // never answer
	})
	tr := New(Options{ResponseHeaderTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", s.url("/"), nil))
	elapsed := time.Since(start)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v, want a net.Error whose Timeout is true", err)
	}
	if want := "h1: timeout awaiting response headers (ResponseHeaderTimeout)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if isDialError(err) {
		t.Error("a header timeout reads as a dial error")
	}
	if elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("timed out after %v, want about 100ms", elapsed)
	}
	if n := tr.pool(s.addr).len(); n != 0 {
		t.Errorf("%d idle connections after a timeout, want 0", n)
	}
}

func TestContextCancel(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stall-body":
			_, _ = io.WriteString(w, "first")
			w.(http.Flusher).Flush()
		case "/stall-headers":
		default:
			_, _ = io.WriteString(w, "ok")
			return
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	tr := New(Options{})

	t.Run("mid-body", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res, err := tr.RoundTrip(newRequest(t, ctx, "GET", s.URL+"/stall-body", nil))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "first" {
			t.Fatalf("read %q, %v", buf, err)
		}
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err = res.Body.Read(buf)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read error %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("read returned after %v", d)
		}
		_ = res.Body.Close()
	})
	t.Run("Close during a blocked Read", func(t *testing.T) {
		res, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", s.URL+"/stall-body", nil))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(res.Body, buf); err != nil {
			t.Fatal(err)
		}
		// As the proxy's idle-timeout timer does.
		time.AfterFunc(50*time.Millisecond, func() { _ = res.Body.Close() })
		if _, err := res.Body.Read(buf); err == nil {
			t.Error("a Read after Close succeeded")
		}
	})
	t.Run("waiting for headers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := tr.RoundTrip(newRequest(t, ctx, "GET", s.URL+"/stall-headers", nil))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := tr.RoundTrip(newRequest(t, ctx, "GET", s.URL+"/", nil))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
	if n := tr.pool(s.Listener.Addr().String()).len(); n != 0 {
		t.Errorf("%d idle connections after cancelled requests, want 0", n)
	}
	before := s.conns.Load()
	if _, body, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL+"/", nil)); err != nil || body != "ok" {
		t.Fatalf("next request: %q, %v", body, err)
	}
	if n := s.conns.Load(); n != before+1 {
		t.Errorf("the next request made %d connections, want a new one", n-before)
	}
}

func TestNoBodyResponses(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1000")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		}
	})
	tests := []struct {
		method, path string
		status       int
		length       int64
	}{
		{"HEAD", "/head", 200, 1000},
		{"GET", "/204", 204, 0},
		{"GET", "/304", 304, 0},
		{"HEAD", "/head", 200, 1000},
	}
	tr := New(Options{})
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			res, body, err := fetch(tr, newRequest(t, context.Background(), tt.method, s.URL+tt.path, nil))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || res.ContentLength != tt.length || body != "" {
				t.Errorf("got %d, ContentLength %d, body %q; want %d, %d, empty", res.StatusCode, res.ContentLength, body, tt.status, tt.length)
			}
		})
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// pattern is an endless reader of a repeating byte pattern.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

func TestLargeBodyStreams(t *testing.T) {
	const size = 32 << 20
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			_, _ = io.Copy(w, io.LimitReader(pattern{}, size))
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			t.Errorf("server reading body: %v", err)
		}
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	})
	tr := New(Options{})
	tests := []struct {
		name   string
		method string
		body   io.Reader
		length int64
	}{
		{"download", "GET", nil, 0},
		{"upload with length", "POST", io.LimitReader(pattern{}, size), size},
		{"upload chunked", "POST", hideLength{io.LimitReader(pattern{}, size)}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			req := newRequest(t, context.Background(), tt.method, s.URL+"/", tt.body)
			req.ContentLength = tt.length
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if tt.method == "GET" {
				n, err := io.Copy(io.Discard, res.Body)
				if err != nil {
					t.Fatal(err)
				}
				got = strconv.FormatInt(n, 10)
			} else {
				b, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			_ = res.Body.Close()
			runtime.ReadMemStats(&after)
			if want := strconv.Itoa(size); got != want {
				t.Errorf("%s bytes went through, want %s", got, want)
			}
			// Client and server together; buffering the body would
			// cost 32 MiB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("%d bytes allocated for a %d-byte body: it was buffered", alloc, size)
			}
		})
	}
}

func TestFallback(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name   string
		method string
		url    string
		header http.Header
	}{
		{"upgrade", "GET", s.URL, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}},
		{"upgrade among tokens", "GET", s.URL, http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {"websocket"}}},
		{"expect continue", "PUT", s.URL, http.Header{"Expect": {"100-Continue"}}},
		{"https", "GET", "https://example.com/", nil},
		{"connect", "CONNECT", s.URL, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tr := New(Options{Fallback: rec})
			req := newRequest(t, context.Background(), tt.method, tt.url, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 299 || rec.count() != 1 || rec.reqs[0] != req {
				t.Errorf("status %d and %d fallback calls; want the fallback's 299 for this request", res.StatusCode, rec.count())
			}
		})
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("the fast path made %d connections, want 0", n)
	}
}

// TestDefaultFallbackUpgrade: without a Fallback, upgrades go to a standard
// transport, whose 101 response body is the connection, as the proxy needs.
func TestDefaultFallbackUpgrade(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		br := bufio.NewReader(c)
		if _, err := readHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_, _ = io.Copy(c, br)
	})
	tr := New(Options{})
	req := newRequest(t, context.Background(), "GET", s.url("/"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rw, ok := res.Body.(io.ReadWriteCloser)
	if res.StatusCode != 101 || !ok {
		t.Fatalf("status %d, body %T; want 101 with an io.ReadWriteCloser", res.StatusCode, res.Body)
	}
	if _, err := io.WriteString(rw, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "ping" {
		t.Errorf("echoed %q, %v", buf, err)
	}
}

func TestInvalidRequestsAreNotSent(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name    string
		edit    func(r *http.Request)
		wantErr string
	}{
		{"CRLF in value", func(r *http.Request) { r.Header["X-Evil"] = []string{"a\r\nX-Injected: 1"} }, `h1: invalid header field value for "X-Evil"`},
		{"LF in value", func(r *http.Request) { r.Header["X-Evil"] = []string{"a\nb"} }, `h1: invalid header field value for "X-Evil"`},
		{"NUL in value", func(r *http.Request) { r.Header["X-Evil"] = []string{"a\x00b"} }, `h1: invalid header field value for "X-Evil"`},
		{"space in name", func(r *http.Request) { r.Header["X Evil"] = []string{"a"} }, `h1: invalid header field name "X Evil"`},
		{"colon in name", func(r *http.Request) { r.Header["X-Evil:"] = []string{"a"} }, `h1: invalid header field name "X-Evil:"`},
		{"CRLF in Host", func(r *http.Request) { r.Host = "example.com\r\nX-Injected: 1" }, `h1: invalid Host header "example.com\r\nX-Injected: 1"`},
		{"CRLF in query", func(r *http.Request) { r.URL.RawQuery = "a=1 HTTP/1.1\r\nX: y" }, `h1: invalid character in request target "/?a=1 HTTP/1.1\r\nX: y"`},
		{"space in method", func(r *http.Request) { r.Method = "GET /x" }, `h1: invalid method "GET /x"`},
		{"length without body", func(r *http.Request) { r.ContentLength = 5 }, `h1: ContentLength=5 with no Body`},
	}
	tr := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, context.Background(), "GET", s.URL+"/", nil)
			tt.edit(req)
			_, err := tr.RoundTrip(req)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error %q, want %q", err, tt.wantErr)
			}
		})
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("%d connections made for invalid requests, want 0", n)
	}
}

func TestRequestHead(t *testing.T) {
	heads := make(chan string, 1)
	rec := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		br := bufio.NewReader(c)
		for {
			head, err := readHead(br)
			if err != nil {
				return
			}
			if strings.Contains(head, "Content-Length: 5\r\n") {
				_, _ = io.CopyN(io.Discard, br, 5)
			}
			heads <- head
			_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	tests := []struct {
		name   string
		method string
		body   string
		header http.Header
		host   string
		want   []string // the head's lines after the request line, in any order
	}{
		{
			name: "framing and hop-by-hop fields replaced", method: "POST", body: "hello", host: "good.example",
			header: http.Header{
				"Transfer-Encoding": {"chunked"}, "Content-Length": {"999"}, "content-length": {"7"},
				"Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}, "Te": {"trailers"},
				"Trailer": {"X-T"}, "Upgrade": {"h2c"}, "Host": {"evil.example"}, "X-Ok": {"  yes  "},
				"User-Agent": {"limpet-test"},
			},
			want: []string{"Host: good.example", "Content-Length: 5", "User-Agent: limpet-test", "X-Ok: yes"},
		},
		{
			name: "default User-Agent", method: "GET",
			want: []string{"Host: " + rec.addr, "User-Agent: Go-http-client/1.1"},
		},
		{
			name: "empty User-Agent sends none", method: "GET", header: http.Header{"User-Agent": {""}, "X-Empty": {""}},
			want: []string{"Host: " + rec.addr, "X-Empty: "},
		},
		{
			name: "Connection: close", method: "DELETE", header: http.Header{"Connection": {"close"}, "User-Agent": {""}},
			want: []string{"Host: " + rec.addr, "Connection: close", "Content-Length: 0"},
		},
	}
	tr := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req := newRequest(t, context.Background(), tt.method, rec.url("/p?q=1"), body)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			req.Host = tt.host
			if _, _, err := fetch(tr, req); err != nil {
				t.Fatal(err)
			}
			head := <-heads
			lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
			if want := tt.method + " /p?q=1 HTTP/1.1"; lines[0] != want {
				t.Errorf("request line %q, want %q", lines[0], want)
			}
			got := map[string]bool{}
			for _, l := range lines[1:] {
				got[l] = true
			}
			for _, w := range tt.want {
				if !got[w] {
					t.Errorf("head lacks %q:\n%s", w, head)
				}
				delete(got, w)
			}
			if len(got) > 0 {
				t.Errorf("head has unexpected lines %v:\n%s", got, head)
			}
		})
	}
}

// TestResponseFraming: what is read of a response; those whose framing
// is refused are TestInvalidFraming's.
func TestResponseFraming(t *testing.T) {
	tests := []struct {
		name     string
		response string
		wantBody string
		wantErr  string
		bodyErr  error
	}{
		{
			name:     "body shorter than its length",
			response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
			wantBody: "abc",
			bodyErr:  io.ErrUnexpectedEOF,
		},
		{
			name:     "informational responses skipped",
			response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			wantBody: "ok",
		},
		{
			name:     "101 to a request without Upgrade",
			response: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
			wantErr:  "h1: reading response headers: h1: unexpected 101 Switching Protocols to a request without Upgrade",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cannedServer(t, tt.response, true)
			tr := New(Options{})
			res, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", s.url("/"), nil))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %q, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if string(b) != tt.wantBody || !errors.Is(err, tt.bodyErr) {
				t.Errorf("body %q, %v; want %q, %v", b, err, tt.wantBody, tt.bodyErr)
			}
		})
	}
}

func TestConcurrency(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			_, _ = io.Copy(w, r.Body)
			return
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	tr := New(Options{})
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			for i := range 50 {
				path := "/" + strconv.Itoa(g) + "/" + strconv.Itoa(i)
				var req *http.Request
				if i%3 == 0 {
					req = newRequest(t, context.Background(), "POST", s.URL+"/", strings.NewReader(path))
				} else {
					req = newRequest(t, context.Background(), "GET", s.URL+path, nil)
				}
				_, body, err := fetch(tr, req)
				if err != nil {
					t.Errorf("%s: %v", path, err)
					return
				}
				if body != path {
					t.Errorf("%s: body %q", path, body)
					return
				}
			}
		})
	}
	wg.Wait()
	p := tr.pool(s.Listener.Addr().String())
	p.mu.Lock()
	p.grace = 0 // what is left of the burst's surplus goes at once
	p.mu.Unlock()
	p.trim()
	if n := p.len(); n > DefaultMaxIdlePerHost {
		t.Errorf("%d idle connections, want at most %d", n, DefaultMaxIdlePerHost)
	}
	t.Logf("%d connections for 2500 requests", s.conns.Load())
}

func TestIdleLimits(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	addr := s.Listener.Addr().String()

	t.Run("MaxIdlePerHost", func(t *testing.T) {
		// Five at once, with a limit of two: two beyond it are kept
		// for the grace, then closed, and the two most recently used
		// stay; the fifth, beyond twice the limit, is closed at once.
		tr := New(Options{MaxIdlePerHost: 2})
		p := tr.pool(addr)
		p.grace = 100 * time.Millisecond
		var open []*http.Response
		for range 5 {
			res, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", s.URL, nil))
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, res)
		}
		for _, res := range open {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
		}
		if n := p.len(); n != 4 {
			t.Errorf("%d idle connections right after, want 4 (twice the limit) for the grace", n)
		}
		// Reused within the grace: no new connection.
		before := s.conns.Load()
		if _, _, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL, nil)); err != nil {
			t.Fatal(err)
		}
		if s.conns.Load() != before {
			t.Error("a new connection while idle ones were kept")
		}
		deadline := time.Now().Add(2 * time.Second)
		for p.len() != 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := p.len(); n != 2 {
			t.Errorf("%d idle connections after the grace, want 2", n)
		}
	})
	t.Run("NoIdle", func(t *testing.T) {
		tr := New(Options{MaxIdlePerHost: -1})
		if _, _, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL, nil)); err != nil {
			t.Fatal(err)
		}
		if n := tr.pool(addr).len(); n != 0 {
			t.Errorf("%d idle connections, want none", n)
		}
	})
	t.Run("IdleTimeout", func(t *testing.T) {
		tr := New(Options{IdleTimeout: 50 * time.Millisecond})
		if _, _, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL, nil)); err != nil {
			t.Fatal(err)
		}
		if n := tr.pool(addr).len(); n != 1 {
			t.Fatalf("%d idle connections, want 1", n)
		}
		time.Sleep(200 * time.Millisecond)
		if n := tr.pool(addr).len(); n != 0 {
			t.Errorf("%d idle connections after the idle timeout, want 0", n)
		}
	})
	t.Run("CloseIdleConnections", func(t *testing.T) {
		tr := New(Options{})
		if _, _, err := fetch(tr, newRequest(t, context.Background(), "GET", s.URL, nil)); err != nil {
			t.Fatal(err)
		}
		tr.CloseIdleConnections()
		if n := tr.pool(addr).len(); n != 0 {
			t.Errorf("%d idle connections, want 0", n)
		}
	})
	t.Run("Close before EOF", func(t *testing.T) {
		tr := New(Options{})
		res, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", s.URL, nil))
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if _, err := res.Body.Read(make([]byte, 1)); err == nil {
			t.Error("read after Close succeeded")
		}
		if n := tr.pool(addr).len(); n != 0 {
			t.Errorf("%d idle connections, want 0", n)
		}
	})
}

func TestTrailers(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Res")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Res", "res-"+r.Trailer.Get("X-Req"))
	})
	tr := New(Options{})
	req := newRequest(t, context.Background(), "POST", s.URL, hideLength{strings.NewReader("data")})
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Req": {"sent"}}
	res, body, err := fetch(tr, req)
	if err != nil {
		t.Fatal(err)
	}
	if body != "body" || res.Trailer.Get("X-Res") != "res-sent" {
		t.Errorf("body %q, trailer %q; want \"body\", \"res-sent\"", body, res.Trailer.Get("X-Res"))
	}
}

// TestEarlyResponse: a server that refuses a large upload answers before
// reading it; that answer, not the failed write, is the result.
func TestEarlyResponse(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})
	tr := New(Options{})
	req := newRequest(t, context.Background(), "POST", s.URL, io.LimitReader(pattern{}, 64<<20))
	req.ContentLength = 64 << 20
	res, _, err := fetch(tr, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", res.StatusCode)
	}
}

func TestWriteTimeout(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
		<-done // never read
	})
	tr := New(Options{WriteTimeout: 100 * time.Millisecond})
	req := newRequest(t, context.Background(), "POST", s.url("/"), io.LimitReader(pattern{}, 256<<20))
	req.ContentLength = 256 << 20
	_, err := tr.RoundTrip(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || isDialError(err) {
		t.Errorf("error %v, want a timeout that is not a dial error", err)
	}
}

func TestRequestErrors(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	tr := New(Options{})

	t.Run("body shorter than ContentLength", func(t *testing.T) {
		req := newRequest(t, context.Background(), "POST", s.URL, hideLength{strings.NewReader("abc")})
		req.ContentLength = 5
		_, err := tr.RoundTrip(req)
		if want := "h1: ContentLength=5 with Body length 3"; err == nil || err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
	t.Run("body read error", func(t *testing.T) {
		boom := errors.New("client went away")
		req := newRequest(t, context.Background(), "POST", s.URL, io.MultiReader(strings.NewReader("ab"), iotestErr{boom}))
		req.ContentLength = 5
		_, err := tr.RoundTrip(req)
		if !errors.Is(err, boom) || err.Error() != "h1: reading request body: client went away" {
			t.Errorf("error %v, want the body's error wrapped", err)
		}
	})
	t.Run("response headers too large", func(t *testing.T) {
		big := cannedServer(t, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 4096)+"\r\nContent-Length: 0\r\n\r\n", false)
		tr := New(Options{MaxResponseHeaderBytes: 1024})
		_, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", big.url("/"), nil))
		if !errors.Is(err, errHeadersTooLarge) {
			t.Errorf("error %v, want %v", err, errHeadersTooLarge)
		}
	})
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

// BodyReadTimeout bounds each read of the body: a stream that keeps
// talking outlives it, one that falls silent fails with a timeout.
func TestBodyReadTimeout(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		for i := range 4 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		if r.URL.Path == "/silent" {
			time.Sleep(500 * time.Millisecond)
		}
	})
	tr := New(Options{BodyReadTimeout: 150 * time.Millisecond})
	defer tr.CloseIdleConnections()
	for path, wantErr := range map[string]bool{"/talking": false, "/silent": true} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if applied, ok := res.Body.(interface{ ReadTimeoutApplied() bool }); !ok || !applied.ReadTimeoutApplied() {
			t.Errorf("%s: the body does not report its read timeout", path)
		}
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
		var ne net.Error
		if got := err != nil; got != wantErr || (wantErr && !(errors.As(err, &ne) && ne.Timeout())) {
			t.Errorf("%s: read error %v, want a timeout: %v", path, err, wantErr)
		}
	}
}
