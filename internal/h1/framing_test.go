package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// framingShapes are responses whose framing nginx refuses, with nginx's
// words for each (h1 prefixes them with "h1: invalid response header: "),
// and, last, shapes that are sound and must still be read. Each body holds
// "SECRET", which must never come out of a refused response.
var framingShapes = []struct {
	name     string
	response string
	wantErr  string // "" for a response that is read
	wantBody string
}{
	{
		name:     "duplicate Content-Length, differing",
		response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 6\r\n\r\nSECRET",
		wantErr:  `upstream sent duplicate header line: "Content-Length: 6", previous value: "Content-Length: 3"`,
	},
	{
		name:     "duplicate Content-Length, identical",
		response: "HTTP/1.1 200 OK\r\nContent-Length: 6\r\ncontent-length: 6\r\n\r\nSECRET",
		wantErr:  `upstream sent duplicate header line: "content-length: 6", previous value: "Content-Length: 6"`,
	},
	{
		name:     "Content-Length then Transfer-Encoding",
		response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
		wantErr:  `upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time`,
	},
	{
		name:     "Transfer-Encoding then Content-Length",
		response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
		wantErr:  `upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time`,
	},
	{
		name:     "duplicate Transfer-Encoding",
		response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
		wantErr:  `upstream sent duplicate header line: "Transfer-Encoding: chunked", previous value: "Transfer-Encoding: chunked"`,
	},
	{
		name:     "unknown Transfer-Encoding",
		response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
		wantErr:  `upstream sent unknown "Transfer-Encoding": "gzip, chunked"`,
	},
	{
		name:     "Transfer-Encoding identity",
		response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nSECRET",
		wantErr:  `upstream sent unknown "Transfer-Encoding": "identity"`,
	},
	{
		name:     "Transfer-Encoding in HTTP/1.0",
		response: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
		wantErr:  `upstream sent "Transfer-Encoding" in an HTTP/1.0 response: "chunked"`,
	},
	{
		name:     "negative Content-Length",
		response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nSECRET",
		wantErr:  `upstream sent invalid "Content-Length" header: "Content-Length: -1"`,
	},
	{
		name:     "signed Content-Length",
		response: "HTTP/1.1 200 OK\r\nContent-Length: +6\r\n\r\nSECRET",
		wantErr:  `upstream sent invalid "Content-Length" header: "Content-Length: +6"`,
	},
	{
		name:     "garbage Content-Length",
		response: "HTTP/1.1 200 OK\r\nContent-Length: 6x\r\n\r\nSECRET",
		wantErr:  `upstream sent invalid "Content-Length" header: "Content-Length: 6x"`,
	},
	{
		name:     "list of Content-Length values",
		response: "HTTP/1.1 200 OK\r\nContent-Length: 6, 6\r\n\r\nSECRET",
		wantErr:  `upstream sent invalid "Content-Length" header: "Content-Length: 6, 6"`,
	},
	{
		name:     "empty Content-Length",
		response: "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nSECRET",
		wantErr:  `upstream sent invalid "Content-Length" header: "Content-Length: "`,
	},
	{
		name:     "Content-Length beyond 63 bits",
		response: "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nSECRET",
		wantErr:  `upstream sent invalid "Content-Length" header: "Content-Length: 9223372036854775808"`,
	},
	{
		name:     "folded Content-Length",
		response: "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n 0\r\n\r\nSECRET",
		wantErr:  `upstream sent a folded header line: " 0"`,
	},
	{
		name:     "a folded line after another field",
		response: "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 6\r\n\r\nSECRET",
		wantErr:  `upstream sent a folded header line: " b"`,
	},
	{
		name:     "a space before the colon",
		response: "HTTP/1.1 200 OK\r\nContent-Length : 6\r\nContent-Length: 2\r\n\r\nSECRET",
		wantErr:  `upstream sent invalid header: "Content-Length : 6"`,
	},
	{
		name:     "a space inside a name",
		response: "HTTP/1.1 200 OK\r\nX A: a\r\nContent-Length: 6\r\n\r\nSECRET",
		wantErr:  `upstream sent invalid header: "X A: a"`,
	},
	{
		name:     "duplicate Content-Length on a 204",
		response: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
		wantErr:  `upstream sent duplicate header line: "Content-Length: 0", previous value: "Content-Length: 0"`,
	},
	{
		name:     "malformed status line",
		response: "HTTP/1.1 2x0 OK\r\nContent-Length: 6\r\n\r\nSECRET",
		wantErr:  `malformed HTTP status code "2x0"`,
	},

	{name: "one Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET", wantBody: "SECRET"},
	{name: "Content-Length with leading zeros", response: "HTTP/1.1 200 OK\r\nContent-Length: 006\r\n\r\nSECRET", wantBody: "SECRET"},
	{name: "chunked", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n", wantBody: "SECRET"},
	{name: "Content-Length of 19 digits", response: "HTTP/1.1 304 Not Modified\r\nContent-Length: 1000000000000000000\r\n\r\n", wantBody: ""},
	{name: "HTTP/1.0 until the close", response: "HTTP/1.0 200 OK\r\n\r\nSECRET", wantBody: "SECRET"},
}

// TestInvalidFraming sends each shape from a real loopback server, with
// the header block whole in h1's buffer (parseBuffered, then readStd in
// place) and with one too large for it (readStd's copy). A refused
// response is an invalid header, nothing of it is returned, and its
// connection is closed: the server reads EOF.
func TestInvalidFraming(t *testing.T) {
	filler := "X-Filler: " + strings.Repeat("f", readBufferSize+100) + "\r\n"
	for _, where := range []string{"in the buffer", "beyond the buffer"} {
		for _, tt := range framingShapes {
			t.Run(where+"/"+tt.name, func(t *testing.T) {
				response := tt.response
				if where == "beyond the buffer" {
					// After the status line, before the fields
					// that frame the body.
					i := strings.Index(response, "\r\n") + 2
					response = response[:i] + filler + response[i:]
				}
				closed := make(chan error, 1)
				s := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
					br := bufio.NewReader(c)
					if _, err := http.ReadRequest(br); err != nil {
						closed <- err
						return
					}
					if _, err := io.WriteString(c, response); err != nil || tt.wantErr == "" {
						closed <- err
						return // a sound response may end with the close
					}
					// Bounded: a connection left open fails the test.
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, err := br.ReadByte()
					closed <- err
				})
				tr := New(Options{})
				res, err := tr.RoundTrip(newRequest(t, context.Background(), "GET", s.url("/"), nil))
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("error %v, want the response", err)
					}
					b, err := io.ReadAll(res.Body)
					_ = res.Body.Close()
					if err != nil || string(b) != tt.wantBody {
						t.Fatalf("body %q, %v; want %q", b, err, tt.wantBody)
					}
					return
				}
				if res != nil {
					b, _ := io.ReadAll(res.Body)
					t.Fatalf("got a response, status %d, body %q; want none", res.StatusCode, b)
				}
				if want := "h1: invalid response header: " + tt.wantErr; err == nil || err.Error() != want {
					t.Fatalf("error %v,\nwant %s", err, want)
				}
				if !IsInvalidHeader(err) || IsStale(err) || isDialError(err) {
					t.Errorf("error %v: IsInvalidHeader %v, IsStale %v, dial error %v; want an invalid header only",
						err, IsInvalidHeader(err), IsStale(err), isDialError(err))
				}
				// A close with the response unread is a reset.
				if err := <-closed; err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("the server's read after its response: %v, want EOF or a reset (the connection closed)", err)
				}
				if n := tr.pool(s.addr).len(); n != 0 {
					t.Errorf("%d idle connections, want none", n)
				}
			})
		}
	}
}

// TestCheckHeadOfPrefixes: a sound response's header block cut anywhere,
// as it may arrive in pieces, is never refused: the unfinished last line
// is not judged.
func TestCheckHeadOfPrefixes(t *testing.T) {
	for _, tt := range framingShapes {
		if tt.wantErr != "" {
			continue
		}
		for n := range len(tt.response) {
			if _, err := checkHead([]byte(tt.response[:n])); err != nil {
				t.Errorf("%s cut after %d bytes (%q): %v", tt.name, n, tt.response[:n], err)
			}
		}
	}
}

// checkHead alone gives the verdicts and words of nginx's rules, the
// status line's version included (an HTTP/1.0 response may not be
// chunked); what is not HTTP at all is http.ReadResponse's to refuse.
func TestCheckHead(t *testing.T) {
	for _, tt := range framingShapes {
		_, err := checkHead([]byte(tt.response))
		switch {
		case tt.wantErr == "":
			if err != nil {
				t.Errorf("%s: checkHead refused a sound response: %v", tt.name, err)
			}
		case strings.HasPrefix(tt.wantErr, "upstream "):
			if want := "h1: invalid response header: " + tt.wantErr; err == nil || err.Error() != want {
				t.Errorf("%s: checkHead: %v, want %s", tt.name, err, want)
			}
		}
	}
}
