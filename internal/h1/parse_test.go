package h1

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// parseBoth parses raw as the response to a request of method with
// parseBuffered and with http.ReadResponse, each from its own buffered
// reader, and fails t when parseBuffered accepted raw and the two
// disagree in any field, in the body or in what they left unread. It
// reports whether parseBuffered accepted raw.
func parseBoth(t *testing.T, raw, method string) bool {
	t.Helper()
	var req *http.Request
	if method != "" {
		req = &http.Request{Method: method}
	}
	fast := bufio.NewReaderSize(strings.NewReader(raw), readBufferSize)
	_, _ = fast.Peek(1)
	got, ok := parseBuffered(fast, req, new(response))
	if !ok {
		if fast.Buffered() != min(len(raw), readBufferSize) {
			t.Fatalf("parseBuffered declined %q but consumed some of it", raw)
		}
		return false
	}
	// The framing rules are applied to what parseBuffered declines
	// only: it must decline whatever they refuse.
	if _, err := checkHead([]byte(raw)); err != nil {
		t.Fatalf("parseBuffered accepted %q (%s), which checkHead refuses: %v", raw, method, err)
	}
	std := bufio.NewReaderSize(strings.NewReader(raw), readBufferSize)
	want, err := http.ReadResponse(std, req)
	if err != nil {
		t.Fatalf("parseBuffered accepted %q (%s); http.ReadResponse says %v", raw, method, err)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"Status", got.Status, want.Status},
		{"StatusCode", got.StatusCode, want.StatusCode},
		{"Proto", got.Proto, want.Proto},
		{"ProtoMajor", got.ProtoMajor, want.ProtoMajor},
		{"ProtoMinor", got.ProtoMinor, want.ProtoMinor},
		{"Header", got.Header, want.Header},
		{"ContentLength", got.ContentLength, want.ContentLength},
		{"TransferEncoding", got.TransferEncoding, want.TransferEncoding},
		{"Close", got.Close, want.Close},
		{"Uncompressed", got.Uncompressed, want.Uncompressed},
		{"Trailer", got.Trailer, want.Trailer},
		{"Request", got.Request == req, want.Request == req},
		{"NoBody", got.Body == http.NoBody, want.Body == http.NoBody},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%q (%s): %s = %#v, http.ReadResponse gives %#v", raw, method, f.name, f.got, f.want)
		}
	}
	gotBody, gotErr := io.ReadAll(got.Body)
	wantBody, wantErr := io.ReadAll(want.Body)
	// And once more: an error or the end must stay what it became.
	_, gotAgain := got.Body.Read(make([]byte, 1))
	_, wantAgain := want.Body.Read(make([]byte, 1))
	if gotAgain != wantAgain {
		t.Errorf("%q: a read after the end gives %v, net/http's %v", raw, gotAgain, wantAgain)
	}
	if string(gotBody) != string(wantBody) || (gotErr == nil) != (wantErr == nil) {
		t.Errorf("%q (%s): body %q, %v; http.ReadResponse's %q, %v", raw, method, gotBody, gotErr, wantBody, wantErr)
	}
	gotRest, _ := io.ReadAll(fast)
	wantRest, _ := io.ReadAll(std)
	if string(gotRest) != string(wantRest) {
		t.Errorf("%q (%s): left %q unread, http.ReadResponse %q", raw, method, gotRest, wantRest)
	}
	return true
}

var parseSeeds = []struct {
	raw      string
	method   string
	accepted bool
}{
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", "GET", true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", "GET", true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello world", "", true},
	{"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n", "POST", true},
	{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", true},
	{"HTTP/1.1 200 OK\r\n\r\n", "HEAD", true},
	{"HTTP/1.1 204 No Content\r\n\r\n", "GET", true},
	{"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET", true},
	{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "PUT", true},
	{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", "GET", true},
	{"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.1 599 custom reason  \r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.1 200 OK\r\nConnection: clo\u017fe\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.0 200 OK\r\nConnection: \u212aeep-alive\r\nContent-Length: 1\r\n\r\nx", "GET", true},
	{"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nconnection: close\r\nContent-Length: 1\r\n\r\nx", "GET", true},

	{"HTTP/1.1 200 OK\r\n\r\nuntil the end", "GET", false},
	{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nx", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", "GET", false},
	{"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nPragma: no-cache\r\n\r\nx", "GET", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTrailer: X\r\n\r\nx", "GET", false},
	{"HTTP/1.1  200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 20\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.12 200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 +20 OK\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", false},
	{"HTTP/1.1 200 OK\nContent-Length: 1\n\nx", "GET", false},
	{"HTTP/1.0 100 \n\r\n\r\n", "0", false},
	{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", "GET", false},
	{"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 1\r\n\r\nx", "GET", false},
}

func TestParseBuffered(t *testing.T) {
	for _, s := range parseSeeds {
		if got := parseBoth(t, s.raw, s.method); got != s.accepted {
			t.Errorf("parseBuffered(%q, %s) accepted: %v, want %v", s.raw, s.method, got, s.accepted)
		}
	}
}

// FuzzParseBuffered checks that every response parseBuffered accepts,
// http.ReadResponse reads the same.
func FuzzParseBuffered(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s.raw, s.method)
	}
	f.Fuzz(func(t *testing.T, raw, method string) { parseBoth(t, raw, method) })
}
