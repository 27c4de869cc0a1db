package runtime

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rawBackend is a TCP server that answers requests with bytes written by
// hand, for responses no HTTP library sends, and reports how each
// connection ended.
type rawBackend struct {
	ln net.Listener
	// respond answers one request read from a connection; it returns
	// false to stop serving the connection and wait for its close.
	respond func(c net.Conn, req *http.Request) bool

	ended chan connEnd // one per connection, as it ends

	mu    sync.Mutex // guards conns and reqs
	conns []net.Conn
	reqs  []string // "METHOD /path" of each request read, in order
	wg    sync.WaitGroup
}

// connEnd is how a connection of a rawBackend ended: n is its number (from
// 1) and err what the last read said (io.EOF for a close by limpet).
type connEnd struct {
	n   int
	err error
}

func newRawBackend(t *testing.T, respond func(c net.Conn, req *http.Request) bool) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, respond: respond, ended: make(chan connEnd, 16)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			n := len(b.conns)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				b.ended <- connEnd{n: n, err: b.serve(c)}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			_ = c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// serve reads requests and answers them until respond says to stop, then
// reads until the connection ends (bounded) and returns what the read
// said.
func (b *rawBackend) serve(c net.Conn) error {
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, req.Method+" "+req.URL.Path)
		b.mu.Unlock()
		if !b.respond(c, req) {
			_, err := br.ReadByte()
			return err
		}
	}
}

func (b *rawBackend) addr() string { return b.ln.Addr().String() }

func (b *rawBackend) connCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

func (b *rawBackend) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reqs...)
}

// waitEnded waits for the end of connection n and returns what its last
// read said.
func (b *rawBackend) waitEnded(t *testing.T, n int) error {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e := <-b.ended:
			if e.n == n {
				return e.err
			}
		case <-timeout:
			t.Fatalf("connection %d to the backend did not end", n)
		}
	}
}

// closedByPeer reports a read error that says the other side closed the
// connection: EOF, or a reset when it closed with bytes unread.
func closedByPeer(err error) bool {
	return err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

const oneRawServer = `
upstream backend { server {{a}}; }
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / { proxy_pass http://backend; }
}`

// TestUpstreamResponseFraming: a response whose framing nginx refuses is
// a 502 for the client, none of its body is forwarded, the reason is
// logged in nginx's words, and the connection it came on is closed.
func TestUpstreamResponseFraming(t *testing.T) {
	tests := []struct {
		name     string
		response string
		logged   string
	}{
		{"duplicate Content-Length, differing", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 6\r\n\r\nSECRET",
			`upstream sent duplicate header line: \"Content-Length: 6\", previous value: \"Content-Length: 3\"`},
		{"duplicate Content-Length, identical", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 6\r\n\r\nSECRET",
			`upstream sent duplicate header line: \"Content-Length: 6\", previous value: \"Content-Length: 6\"`},
		{"Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
			`upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time`},
		{"Transfer-Encoding and Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
			`upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time`},
		{"unknown Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nSECRET",
			`upstream sent unknown \"Transfer-Encoding\": \"gzip\"`},
		{"negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -6\r\n\r\nSECRET",
			`upstream sent invalid \"Content-Length\" header: \"Content-Length: -6\"`},
		{"garbage Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: six\r\n\r\nSECRET",
			`upstream sent invalid \"Content-Length\" header: \"Content-Length: six\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newRawBackend(t, func(c net.Conn, _ *http.Request) bool {
				_, _ = io.WriteString(c, tt.response)
				return false
			})
			lb := startLimpet(t, oneRawServer, "{{a}}", a.addr())
			res, body := get(t, newClient(t), lb.url+"/")
			if res.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502", res.StatusCode)
			}
			if strings.Contains(body, "SECRET") {
				t.Errorf("the refused response's body reached the client: %q", body)
			}
			if err := a.waitEnded(t, 1); !closedByPeer(err) {
				t.Errorf("the backend's connection: %v, want it closed by limpet", err)
			}
			if log := lb.errLog.String(); !strings.Contains(log, "upstream attempt failed") || !strings.Contains(log, tt.logged) {
				t.Errorf("error log lacks %s:\n%s", tt.logged, log)
			}
			if e := parseLog(t, lb.accessLog(t)); e[0].Status != 502 || e[0].Statuses != "502" {
				t.Errorf("logged status %d, upstream_status %q; want 502, 502", e[0].Status, e[0].Statuses)
			}
		})
	}
}

// TestInvalidHeaderNextUpstream: a refused response is nginx's
// invalid_header failure: it moves the request to the next server only
// when proxy_next_upstream lists invalid_header (its default, "error
// timeout", does not), and it counts against the server either way.
func TestInvalidHeaderNextUpstream(t *testing.T) {
	tests := []struct {
		next       string
		wantStatus []int // of the two requests, sorted
	}{
		{"error timeout", []int{200, 502}},
		{"error timeout invalid_header", []int{200, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			bad := newRawBackend(t, func(c net.Conn, _ *http.Request) bool {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nbad")
				return false
			})
			good := newBackend(t, "good")
			lb := startLimpet(t, `
upstream backend { server {{bad}}; server {{good}}; }
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    location / { proxy_pass http://backend; proxy_next_upstream {{next}}; }
}`, "{{bad}}", bad.addr(), "{{good}}", good.addr(), "{{next}}", tt.next)
			// Round-robin gives each server one of the first two
			// requests.
			var got []int
			for range 2 {
				res, body := get(t, newClient(t), lb.url+"/")
				got = append(got, res.StatusCode)
				if res.StatusCode == 200 && body != "good" {
					t.Errorf("200 with body %q, want the good server's", body)
				}
			}
			if got[0] > got[1] {
				got[0], got[1] = got[1], got[0]
			}
			if got[0] != tt.wantStatus[0] || got[1] != tt.wantStatus[1] {
				t.Errorf("statuses %v, want %v", got, tt.wantStatus)
			}
			if bad.connCount() != 1 {
				t.Errorf("%d connections to the bad server, want 1", bad.connCount())
			}
			if !logHas(lb.errLog.String(), "upstream server temporarily disabled", "server="+bad.addr()) {
				t.Errorf("the bad server's failure was not counted (max_fails=1):\n%s", lb.errLog.String())
			}
		})
	}
}

// logHas reports whether a line of log holds all of parts.
func logHas(log string, parts ...string) bool {
	for line := range strings.SplitSeq(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestDuplicateSingleValuedFields: of a field nginx takes one value of
// (Expires, Content-Type, ETag, Location, ...), the first line reaches the
// client and the others are dropped with a warning; list-valued fields
// and Set-Cookie keep every line.
func TestDuplicateSingleValuedFields(t *testing.T) {
	a := newRawBackend(t, func(c net.Conn, _ *http.Request) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n"+
			"Expires: Thu, 01 Jan 2037 00:00:00 GMT\r\n"+
			"Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"+
			"Content-Type: text/plain\r\n"+
			"Content-Type: text/html\r\n"+
			"ETag: \"one\"\r\n"+
			"ETag: \"two\"\r\n"+
			"Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"+
			"Last-Modified: Tue, 02 Jan 2024 00:00:00 GMT\r\n"+
			"Location: /first\r\n"+
			"Location: /second\r\n"+
			"Cache-Control: no-cache\r\n"+
			"Cache-Control: private\r\n"+
			"Set-Cookie: a=1\r\n"+
			"Set-Cookie: b=2\r\n"+
			"Link: </a.css>\r\n"+
			"Link: </b.css>\r\n"+
			"Content-Length: 2\r\n\r\nok")
		return true
	})
	lb := startLimpet(t, oneRawServer, "{{a}}", a.addr())
	res, body := get(t, newClient(t), lb.url+"/")
	if res.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d, body %q; want 200 ok", res.StatusCode, body)
	}
	for _, f := range []struct {
		name string
		want []string
	}{
		{"Expires", []string{"Thu, 01 Jan 2037 00:00:00 GMT"}},
		{"Content-Type", []string{"text/plain"}},
		{"Etag", []string{`"one"`}},
		{"Last-Modified", []string{"Mon, 01 Jan 2024 00:00:00 GMT"}},
		{"Location", []string{"/first"}},
		{"Cache-Control", []string{"no-cache", "private"}},
		{"Set-Cookie", []string{"a=1", "b=2"}},
		{"Link", []string{"</a.css>", "</b.css>"}},
	} {
		if got := res.Header[f.name]; strings.Join(got, "|") != strings.Join(f.want, "|") {
			t.Errorf("%s: %q, want %q", f.name, got, f.want)
		}
	}
	if !logHas(lb.errLog.String(), "upstream sent duplicate header line, ignored", `header="Expires: Thu, 01 Jan 1970 00:00:00 GMT"`,
		`previous="Expires: Thu, 01 Jan 2037 00:00:00 GMT"`) {
		t.Errorf("no warning for the second Expires:\n%s", lb.errLog.String())
	}
}

// TestBrokenChunkedUploadClosesUpstream: a client's chunked body that
// breaks off in a malformed chunk, after limpet has streamed its first
// chunk upstream, is answered 400, and the upstream connection that
// carried the partial body is closed, never reused: the server reads the
// body's end as the connection's, and the next request comes on a new
// connection, whole.
func TestBrokenChunkedUploadClosesUpstream(t *testing.T) {
	firstChunk := make(chan struct{})
	bodyErr := make(chan error, 1)
	a := newRawBackend(t, func(c net.Conn, req *http.Request) bool {
		if req.Method == http.MethodPut {
			buf := make([]byte, 5)
			if _, err := io.ReadFull(req.Body, buf); err != nil || string(buf) != "hello" {
				bodyErr <- errors.New("first chunk: " + string(buf))
				return false
			}
			close(firstChunk)
			_, err := io.Copy(io.Discard, req.Body)
			bodyErr <- err
			return false
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
		return true
	})
	// Streamed, so the first chunk reaches the backend before the break.
	lb := startLimpet(t, strings.Replace(oneRawServer, "location /", "proxy_request_buffering off; location /", 1), "{{a}}", a.addr())

	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-firstChunk:
	case err := <-bodyErr:
		t.Fatalf("the backend did not get the first chunk: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first chunk did not reach the backend")
	}
	if _, err := io.WriteString(conn, "ZZZ\r\nmore\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", res.StatusCode)
	}
	// The rest of the client's bytes cannot be told from a request: the
	// client's connection ends too.
	if !res.Close {
		t.Errorf("the 400 does not close the client's connection")
	}
	if _, err := br.ReadByte(); !closedByPeer(err) {
		t.Errorf("after the 400, the client's connection reads %v, want its end", err)
	}

	if err := <-bodyErr; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("the backend read the partial body to %v, want io.ErrUnexpectedEOF (the connection closed mid-body)", err)
	}
	if err := a.waitEnded(t, 1); !closedByPeer(err) {
		t.Errorf("the connection with the partial body: %v, want it closed by limpet", err)
	}
	res, body := get(t, newClient(t), lb.url+"/next")
	if res.StatusCode != 200 || body != "next" {
		t.Errorf("the next request: status %d, body %q; want 200 next", res.StatusCode, body)
	}
	if n := a.connCount(); n != 2 {
		t.Errorf("%d connections to the backend, want 2: the next request on a new one", n)
	}
	if got := a.requests(); strings.Join(got, ", ") != "PUT /upload, GET /next" {
		t.Errorf("the backend read the requests %q, want the upload and then the next request, whole", got)
	}
	if logHas(lb.errLog.String(), "upstream server temporarily disabled") {
		t.Errorf("the server was blamed for the client's body:\n%s", lb.errLog.String())
	}
}
