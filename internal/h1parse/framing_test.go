package h1parse

import (
	"maps"
	"net/http"
	"reflect"
	"testing"
)

// framingOf is what FieldsFramed should report of a header Fields parsed:
// counts and first values looked up, and names looked at one by one.
func framingOf(h http.Header) Framing {
	first := func(name string) string {
		if vv := h[name]; len(vv) > 0 {
			return vv[0]
		}
		return ""
	}
	f := Framing{
		Host:              first("Host"),
		ContentLength:     first("Content-Length"),
		Connection:        first("Connection"),
		Hosts:             len(h["Host"]),
		ContentLengths:    len(h["Content-Length"]),
		Connections:       len(h["Connection"]),
		TransferEncodings: len(h["Transfer-Encoding"]),
		Trailers:          len(h["Trailer"]),
		Pragmas:           len(h["Pragma"]),
	}
	for name := range h {
		for i := 0; i < len(name); i++ {
			if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				f.OddNames = true
			}
		}
	}
	return f
}

func TestFieldsFramed(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  Framing
	}{
		{"none", "\r\n", Framing{}},
		{"request", "Host: a\r\nUser-Agent: wrk\r\nCookie: s=1\r\n\r\n", Framing{Host: "a", Hosts: 1}},
		{"response", "Content-Length: 12\r\nConnection: close\r\nDate: d\r\n\r\n",
			Framing{ContentLength: "12", Connection: "close", ContentLengths: 1, Connections: 1}},
		{"other case", "HOST: a\r\ncontent-length: 1\r\nconnection: x\r\ntransfer-encoding: chunked\r\ntrailer: t\r\npragma: no-cache\r\n\r\n",
			Framing{Host: "a", ContentLength: "1", Connection: "x", Hosts: 1, ContentLengths: 1, Connections: 1,
				TransferEncodings: 1, Trailers: 1, Pragmas: 1}},
		{"repeated", "Host: a\r\nhost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: a\r\nConnection: b\r\n\r\n",
			Framing{Host: "a", ContentLength: "1", Connection: "a", Hosts: 2, ContentLengths: 2, Connections: 2}},
		{"underscore", "X_Y: 1\r\n\r\n", Framing{OddNames: true}},
		{"dot", "X.Y: 1\r\n\r\n", Framing{OddNames: true}},
		{"letters, digits, hyphens", "X-1-y: 1\r\n\r\n", Framing{}},
		{"names like the framing ones", "Hosts: a\r\nContent-Lengths: 1\r\nX-Connection: c\r\nPragma-X: p\r\n\r\n", Framing{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := Fields(tt.block)
			for _, omitHost := range []bool{false, true} {
				var f Framing
				h, ok := FieldsFramed(nil, tt.block, make([]string, 4), &f, omitHost)
				if !ok || f != tt.want {
					t.Fatalf("FieldsFramed(%q, omitHost %v): %+v, %v; want %+v", tt.block, omitHost, f, ok, tt.want)
				}
				if omitHost {
					want = maps.Clone(want)
					delete(want, "Host")
				}
				if !reflect.DeepEqual(h, want) {
					t.Errorf("FieldsFramed(%q, omitHost %v) = %v, want %v", tt.block, omitHost, h, want)
				}
			}
		})
	}
}

// TestFramingCloses: Framing.Closes decides as Closes does with the
// Connection field's values.
func TestFramingCloses(t *testing.T) {
	for _, block := range []string{
		"\r\n", "Connection: close\r\n\r\n", "Connection: keep-alive\r\n\r\n",
		"Connection: keep-alive\r\nConnection: close\r\n\r\n", "Connection: x\r\nConnection: keep-alive\r\n\r\n",
	} {
		var f Framing
		h, ok := FieldsFramed(nil, block, nil, &f, false)
		if !ok {
			t.Fatalf("FieldsFramed(%q) declined", block)
		}
		for _, minor := range []int{0, 1} {
			if got, want := f.Closes(minor, h), Closes(minor, h["Connection"]); got != want {
				t.Errorf("%q: Framing.Closes(%d) = %v, Closes %v", block, minor, got, want)
			}
		}
	}
}

// FuzzFieldsFramed checks FieldsFramed against Fields and what looking
// the names up in its header tells, for a lent array of the first byte's
// size modulo 8, Host left out or not by its next bit, and a kept map
// (holding a field of its own, which must go) or none by the one after.
func FuzzFieldsFramed(f *testing.F) {
	f.Add(byte(2), "Host: a\r\nContent-Length: 1\r\nconnection: close\r\n\r\n")
	f.Add(byte(9), "host: a\r\nHost: b\r\nX_Y: 1\r\nPragma: p\r\n\r\n")
	f.Fuzz(func(t *testing.T, arg byte, block string) {
		want, wantOK := Fields(block)
		var fr Framing
		omitHost := arg&8 != 0
		var kept http.Header
		if arg&16 != 0 {
			kept = http.Header{"X-Stale": {"from before"}}
		}
		got, ok := FieldsFramed(kept, block, make([]string, arg%8), &fr, omitHost)
		if ok != wantOK {
			t.Fatalf("FieldsFramed(%q) ok = %v, Fields' %v", block, ok, wantOK)
		}
		if !ok {
			return
		}
		if wantFr := framingOf(want); fr != wantFr {
			t.Errorf("FieldsFramed(%q): %+v, want %+v", block, fr, wantFr)
		}
		if omitHost {
			delete(want, "Host")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FieldsFramed(%q, omitHost %v) = %v, want %v", block, omitHost, got, want)
		}
	})
}
