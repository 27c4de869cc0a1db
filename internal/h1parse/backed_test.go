package h1parse

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// TestFieldsBacked: the header's one-value slices are parts of the
// caller's array when it has room for every field line, and of one of
// FieldsBacked's own otherwise; the header is Fields' either way.
func TestFieldsBacked(t *testing.T) {
	const block = "Date: d\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\n"
	want := http.Header{"Date": {"d"}, "Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2"}, "Content-Length": {"2"}}
	tests := []struct {
		name   string
		room   int
		backed bool // the values are parts of the caller's array
	}{
		{"room for every line", 5, true},
		{"more room", 8, true},
		{"too little room", 4, false},
		{"none", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := make([]string, tt.room)
			h, ok := FieldsBacked(block, values)
			if !ok || !reflect.DeepEqual(h, want) {
				t.Fatalf("FieldsBacked = %v, %v; want %v", h, ok, want)
			}
			for _, name := range []string{"Date", "Content-Type", "Content-Length"} {
				v := &h[name][0]
				in := false
				for i := range values {
					in = in || v == &values[i]
				}
				if in != tt.backed {
					t.Errorf("%s's value in the caller's array: %v, want %v", name, in, tt.backed)
				}
			}
			if !tt.backed && !reflect.DeepEqual(values, make([]string, tt.room)) {
				t.Errorf("caller's array written to: %q", values)
			}
			// A second value is appended to a slice of its own, never
			// over the next field's value in the shared array.
			h["Date"] = append(h["Date"], "e")
			if !reflect.DeepEqual(h["Content-Type"], []string{"text/plain"}) {
				t.Errorf("appending to Date changed Content-Type: %q", h["Content-Type"])
			}
		})
	}
}

// TestBodyBuffered: a Body tells whether its next Read is served by the
// buffer alone, and Reset makes a Body as NewBody does.
func TestBodyBuffered(t *testing.T) {
	// The header and the body's first byte arrive together, the
	// body's second byte later.
	src := &chunks{parts: []string{"headx", "y"}}
	br := bufio.NewReaderSize(src, 16)
	if _, err := br.Peek(5); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Discard(4); err != nil {
		t.Fatal(err)
	}
	var b Body
	b.Reset(br, 2)
	steps := []struct {
		buffered bool   // Buffered before the Read
		read     string // what the Read returns
		err      error
	}{
		{true, "x", nil},
		{false, "y", io.EOF},
		{true, "", io.EOF},
	}
	for i, st := range steps {
		if got := b.Buffered(); got != st.buffered {
			t.Errorf("step %d: Buffered = %v, want %v", i, got, st.buffered)
		}
		before := src.reads
		p := make([]byte, 4)
		n, err := b.Read(p)
		if string(p[:n]) != st.read || !errors.Is(err, st.err) && err != st.err {
			t.Errorf("step %d: Read = %q, %v; want %q, %v", i, p[:n], err, st.read, st.err)
		}
		if read := src.reads != before; read == st.buffered {
			t.Errorf("step %d: the source was read: %v; Buffered said %v", i, read, st.buffered)
		}
	}
}

// chunks returns its parts, one per Read, then io.EOF.
type chunks struct {
	parts []string
	reads int
}

func (c *chunks) Read(p []byte) (int, error) {
	c.reads++
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	if c.parts[0] == "" {
		c.parts = c.parts[1:]
	}
	return n, nil
}

func BenchmarkFieldsResponse(b *testing.B) {
	block := "Content-Length: 4096\r\nContent-Type: text/plain\r\nX-Backend: b1\r\nDate: Wed, 02 Dec 2026 18:00:00 GMT\r\n\r\n"
	values := make([]string, 8)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := FieldsBacked(block, values); !ok {
			b.Fatal("declined")
		}
	}
}

// FuzzFieldsBacked compares FieldsBacked with Fields, for a lent array of the
// first byte's size modulo 8.
func FuzzFieldsBacked(f *testing.F) {
	f.Add(byte(2), "Host: a\r\nAccept: */*\r\nAccept: x\r\n\r\n")
	f.Fuzz(func(t *testing.T, size byte, block string) {
		want, wantOK := Fields(block)
		got, ok := FieldsBacked(block, make([]string, size%8))
		if ok != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("FieldsBacked(%q) = %v, %v; Fields: %v, %v", block, got, ok, want, wantOK)
		}
	})
}
