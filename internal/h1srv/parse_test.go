package h1srv

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// parseBoth parses raw with parseBuffered and with http.ReadRequest, each
// from its own buffered reader, and fails t when parseBuffered accepted
// raw and the two disagree in any field, in the body or in what they left
// unread. It reports whether parseBuffered accepted raw.
func parseBoth(t *testing.T, raw string) bool {
	t.Helper()
	fast := bufio.NewReaderSize(strings.NewReader(raw), bufSize)
	_, _ = fast.Peek(1)
	got, hosts, odd, ok := parseBuffered(newRequest(context.Background()), fast)
	if !ok {
		if fast.Buffered() != min(len(raw), bufSize) {
			t.Fatalf("parseBuffered declined %q but consumed some of it", raw)
		}
		return false
	}
	std := bufio.NewReaderSize(strings.NewReader(raw), bufSize)
	want, err := http.ReadRequest(std)
	if err != nil {
		t.Fatalf("parseBuffered accepted %q; http.ReadRequest says %v", raw, err)
	}
	wantHosts := strings.Count(strings.ToLower(raw[:strings.Index(raw, "\r\n\r\n")]), "\nhost:")
	if hosts != wantHosts {
		t.Errorf("%q: hosts = %d, want %d", raw, hosts, wantHosts)
	}
	wantOdd := false
	for k := range want.Header {
		wantOdd = wantOdd || nameKind(k) != nameValid
	}
	if odd != wantOdd {
		t.Errorf("%q: odd = %v, want %v", raw, odd, wantOdd)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"Method", got.Method, want.Method},
		{"URL", got.URL, want.URL},
		{"Proto", got.Proto, want.Proto},
		{"ProtoMajor", got.ProtoMajor, want.ProtoMajor},
		{"ProtoMinor", got.ProtoMinor, want.ProtoMinor},
		{"Header", got.Header, want.Header},
		{"ContentLength", got.ContentLength, want.ContentLength},
		{"TransferEncoding", got.TransferEncoding, want.TransferEncoding},
		{"Close", got.Close, want.Close},
		{"Host", got.Host, want.Host},
		{"Trailer", got.Trailer, want.Trailer},
		{"RequestURI", got.RequestURI, want.RequestURI},
		{"NoBody", got.Body == http.NoBody, want.Body == http.NoBody},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%q: %s = %#v, http.ReadRequest gives %#v", raw, f.name, f.got, f.want)
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
		t.Errorf("%q: body %q, %v; http.ReadRequest's %q, %v", raw, gotBody, gotErr, wantBody, wantErr)
	}
	gotRest, _ := io.ReadAll(fast)
	wantRest, _ := io.ReadAll(std)
	if string(gotRest) != string(wantRest) {
		t.Errorf("%q: left %q unread, http.ReadRequest %q", raw, gotRest, wantRest)
	}
	return true
}

var parseSeeds = []struct {
	raw      string
	accepted bool
}{
	{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"GET /a/b.html?x=1&y=%20 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nCookie: limpet=abc\r\n\r\n", true},
	{"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", true},
	{"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel", true},
	{"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
	{"POST /form HTTP/1.1\r\nHost: a\r\ncontent-length: 007\r\n\r\n1234567GET", true},
	{"GET / HTTP/1.0\r\n\r\n", true},
	{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
	{"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", true},
	{"GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\nX-A: 2\r\n\r\nGET / HTTP/1.1\r\n", true},
	{"GET / HTTP/1.1\r\nHost:\r\n\r\n", true},
	{"GET /;p=1,2:3@x$&+= HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"GET / HTTP/1.1\r\nHost: a\r\nConnection: clo\u017fe\r\n\r\n", true},
	{"GET / HTTP/1.0\r\nConnection: \u212aeep-alive\r\n\r\n", true},
	{"GET / HTTP/1.0\r\nConnection: keep-alive, clo\u017fe\r\n\r\n", true},
	{"GET /a?b?? HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"GET / HTTP/1.1\r\nX_Y: 1\r\nHOST: a\r\nconnection: close\r\nConnection: keep-alive\r\n\r\n", true},
	{"GET / HTTP/1.0\r\nHost: a\r\nConnection: x\r\nconnection: keep-alive\r\n\r\n", true},
	{"GET /a HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nHost: a\r\nF: 6\r\n\r\n", true},

	{"GET /a%20b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET /(x) HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET * HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", false},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nx", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nTrailer: X\r\n\r\n", false},
	{"GET / HTTP/1.1\nHost: a\n\n", false},
	{"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", false},
	{"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET /a?b HTTP/1.1 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET  HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: a\r\n", false},
	{"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n", false},
}

func TestParseBuffered(t *testing.T) {
	for _, s := range parseSeeds {
		if got := parseBoth(t, s.raw); got != s.accepted {
			t.Errorf("parseBuffered(%q) accepted: %v, want %v", s.raw, got, s.accepted)
		}
	}
}

// FuzzParseBuffered checks that every request parseBuffered accepts,
// http.ReadRequest reads the same.
func FuzzParseBuffered(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) { parseBoth(t, raw) })
}
