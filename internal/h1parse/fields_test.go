package h1parse

import (
	"bufio"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

// stdFields parses block with the standard library, as ReadRequest and
// ReadResponse do after their first line.
func stdFields(block string) (http.Header, error) {
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(block))).ReadMIMEHeader()
	return http.Header(h), err
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  http.Header // nil: declined
	}{
		{"none", "\r\n", http.Header{}},
		{"usual", "Host: a\r\nUser-Agent: wrk\r\nCookie: s=1\r\n\r\n",
			http.Header{"Host": {"a"}, "User-Agent": {"wrk"}, "Cookie": {"s=1"}}},
		{"lower case names", "host: a\r\ncontent-length: 0\r\nx-my-thing: 1\r\n\r\n",
			http.Header{"Host": {"a"}, "Content-Length": {"0"}, "X-My-Thing": {"1"}}},
		{"upper case names", "HOST: a\r\nX-FORWARDED-FOR: b\r\n\r\n",
			http.Header{"Host": {"a"}, "X-Forwarded-For": {"b"}}},
		{"repeated", "Accept: a\r\nX: 1\r\naccept: b\r\n\r\n",
			http.Header{"Accept": {"a", "b"}, "X": {"1"}}},
		{"spaces and tabs trimmed", "X:  \t a b \t \r\nY:\r\nZ:\t\r\n\r\n",
			http.Header{"X": {"a b"}, "Y": {""}, "Z": {""}}},
		{"obs-text value", "X: caf\xc3\xa9\r\n\r\n", http.Header{"X": {"caf\xc3\xa9"}}},
		{"token punctuation", "X-A_b.c!#$%&'*+^`|~: v\r\n\r\n", http.Header{"X-A_b.c!#$%&'*+^`|~": {"v"}}},
		{"long name", "X-" + strings.Repeat("abcdefgh", 10) + ": v\r\n\r\n",
			http.Header{"X-Abcdefgh" + strings.Repeat("abcdefgh", 9): {"v"}}},

		{"bare LF", "Host: a\n\r\n", nil},
		{"bare LF end", "Host: a\r\n\n", nil},
		{"folded", "X: a\r\n b\r\n\r\n", nil},
		{"leading space", " X: a\r\n\r\n", nil},
		{"space before colon", "Bad Name: x\r\n\r\n", nil},
		{"space at name end", "X : a\r\n\r\n", nil},
		{"no colon", "X a\r\n\r\n", nil},
		{"empty name", ": a\r\n\r\n", nil},
		{"control in value", "X: a\x01b\r\n\r\n", nil},
		{"CR in value", "X: a\rb\r\n\r\n", nil},
		{"DEL in value", "X: a\x7f\r\n\r\n", nil},
		{"non-token name", "X\"Y: a\r\n\r\n", nil},
		{"no end", "X: a\r\n", nil},
		{"no end, repeated", "0:\r\n0:\r\n", nil},
		{"bytes after the end", "X: a\r\n\r\nmore", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Fields(tt.block)
			if tt.want == nil {
				if ok {
					t.Fatalf("Fields(%q) = %v, want it declined", tt.block, got)
				}
				return
			}
			if !ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Fields(%q) = %v, %v; want %v", tt.block, got, ok, tt.want)
			}
			std, err := stdFields(tt.block)
			if err != nil || !reflect.DeepEqual(std, tt.want) {
				t.Fatalf("textproto gives %v, %v for %q; the table is wrong", std, err, tt.block)
			}
		})
	}
}

func TestHead(t *testing.T) {
	tests := []struct {
		in           string
		line, fields string
		n            int
	}{
		{"", "", "", 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n", "", "", 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1", "Host: a\r\n\r\n", 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", "GET / HTTP/1.1", "Host: a\r\n\r\n", 27},
		{"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 204 No Content", "\r\n", 27},
		{"GET / HTTP/1.1\n\n", "", "", 0},
		{"HTTP/1.0 100 \n\r\n\r\n", "", "", 0}, // a bare LF ends the first line
		{"\nGET / HTTP/1.1\r\n\r\n", "", "", 0},
		{"\r\n\r\n", "", "\r\n", 4},
		{"GET / HTTP/1.1\r\nX: a\nb\r\n\r\n", "GET / HTTP/1.1", "X: a\nb\r\n\r\n", 26}, // Fields' to decline
	}
	for _, tt := range tests {
		br := bufio.NewReader(strings.NewReader(tt.in))
		_, _ = br.Peek(1)
		line, fields, n, ok := Head(br)
		if line != tt.line || fields != tt.fields || n != tt.n || ok != (tt.n > 0) {
			t.Errorf("Head(%q) = %q, %q, %d, %v; want %q, %q, %d", tt.in, line, fields, n, ok, tt.line, tt.fields, tt.n)
		}
		if br.Buffered() != len(tt.in) {
			t.Errorf("Head(%q) consumed input", tt.in)
		}
	}
}

// FuzzHead compares Head with its definition: the block runs to the
// first empty line, and its first line to the first CRLF, which must come
// before any other LF.
func FuzzHead(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", "\r\n\r\n", "A\nB\r\n\r\n", "A\r\n\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var wantLine, wantFields string
		wantN := strings.Index(in, "\r\n\r\n") + 4
		if wantN > 3 {
			wantLine, wantFields, _ = strings.Cut(in[:wantN], "\r\n")
			if strings.IndexByte(wantLine, '\n') >= 0 {
				wantLine, wantFields, wantN = "", "", 0
			}
		} else {
			wantN = 0
		}
		br := bufio.NewReaderSize(strings.NewReader(in), max(16, len(in)))
		_, _ = br.Peek(len(in))
		line, fields, n, ok := Head(br)
		if line != wantLine || fields != wantFields || n != wantN || ok != (wantN > 0) {
			t.Errorf("Head(%q) = %q, %q, %d, %v; want %q, %q, %d", in, line, fields, n, ok, wantLine, wantFields, wantN)
		}
	})
}

func TestCloses(t *testing.T) {
	tests := []struct {
		minor int
		conn  []string
		want  bool
	}{
		{1, nil, false},
		{1, []string{"keep-alive, Close"}, true},
		{1, []string{"clo\u017fe"}, false},
		{0, nil, true},
		{0, []string{"Keep-Alive"}, false},
		{0, []string{"keep-alive", "close"}, true},
	}
	for _, tt := range tests {
		if got := Closes(tt.minor, tt.conn); got != tt.want {
			t.Errorf("Closes(%d, %q) = %v, want %v", tt.minor, tt.conn, got, tt.want)
		}
	}
}

// FuzzFields checks that what Fields accepts, textproto parses the same.
func FuzzFields(f *testing.F) {
	for _, s := range []string{
		"\r\n", "Host: a\r\nCookie: x=1; y=2\r\n\r\n", "a: b\r\nA: c\r\n\r\n",
		"X:\t v \r\n\r\n", "x-y-z: 1\r\n\r\n", "X: a\r\n b\r\n\r\n", "Bad Name: x\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, block string) {
		got, ok := Fields(block)
		if !ok {
			return
		}
		std, err := stdFields(block)
		if err != nil {
			t.Fatalf("Fields accepted %q, textproto says %v", block, err)
		}
		if !reflect.DeepEqual(got, std) {
			t.Fatalf("Fields(%q) = %v, textproto gives %v", block, got, std)
		}
	})
}

func BenchmarkFields(b *testing.B) {
	block := "Host: 127.0.0.1:19080\r\nUser-Agent: wrk\r\nAccept: */*\r\nCookie: limpet=abcdef0123456789\r\n\r\n"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Fields(block); !ok {
			b.Fatal("declined")
		}
	}
}

func BenchmarkTextproto(b *testing.B) {
	block := "Host: 127.0.0.1:19080\r\nUser-Agent: wrk\r\nAccept: */*\r\nCookie: limpet=abcdef0123456789\r\n\r\n"
	r := strings.NewReader(block)
	br := bufio.NewReader(r)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(block)
		br.Reset(r)
		if _, err := textproto.NewReader(br).ReadMIMEHeader(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, tt := range []struct {
		proto string
		minor int
		ok    bool
	}{
		{"HTTP/1.1", 1, true}, {"HTTP/1.0", 0, true},
		{"HTTP/2.0", 0, false}, {"HTTP/1.2", 0, false}, {"http/1.1", 0, false}, {"HTTP/1.1 ", 0, false}, {"", 0, false},
	} {
		if minor, ok := Version(tt.proto); minor != tt.minor || ok != tt.ok {
			t.Errorf("Version(%q) = %d, %v; want %d, %v", tt.proto, minor, ok, tt.minor, tt.ok)
		}
	}
}
