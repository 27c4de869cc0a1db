package h1parse

import (
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
