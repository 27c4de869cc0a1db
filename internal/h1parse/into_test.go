package h1parse

import (
	"net/http"
	"reflect"
	"testing"
)

// TestFieldsInto: a map kept from one message to the next holds each
// message's fields and nothing of the one before, whatever their names
// and number, and is the header returned; a nil map is made.
func TestFieldsInto(t *testing.T) {
	blocks := []string{
		"Content-Length: 2\r\nSet-Cookie: a=1\r\nX-Old: 1\r\n\r\n",
		"Content-Length: 3\r\nContent-Type: text/plain\r\n\r\n",
		"Set-Cookie: b=2\r\nset-cookie: c=3\r\nDate: d\r\n\r\n",
		"\r\n",
		"X-Old: 2\r\n\r\n",
		"Bad Name: x\r\n\r\n", // declined: the next one must not see it
		"Content-Length: 0\r\n\r\n",
	}
	h := http.Header{"X-Stale": {"from before"}}
	values := make([]string, 8)
	for _, block := range blocks {
		want, wantOK := Fields(block)
		got, ok := FieldsInto(h, block, values)
		if ok != wantOK {
			t.Fatalf("FieldsInto(%q) ok = %v, Fields' %v", block, ok, wantOK)
		}
		if !ok {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FieldsInto(%q) = %v, want %v", block, got, want)
		}
		if reflect.ValueOf(got).UnsafePointer() != reflect.ValueOf(h).UnsafePointer() {
			t.Errorf("FieldsInto(%q) returned a map of its own, not the caller's", block)
		}
	}
	got, ok := FieldsInto(nil, "A: 1\r\n\r\n", values)
	if !ok || !reflect.DeepEqual(got, http.Header{"A": {"1"}}) {
		t.Errorf("FieldsInto(nil, ...) = %v, %v", got, ok)
	}
}

func BenchmarkFieldsInto(b *testing.B) {
	block := "Content-Length: 4096\r\nContent-Type: text/plain\r\nX-Backend: b1\r\nDate: Wed, 02 Dec 2026 18:00:00 GMT\r\n\r\n"
	values := make([]string, 8)
	h := make(http.Header)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := FieldsInto(h, block, values); !ok {
			b.Fatal("declined")
		}
	}
}
