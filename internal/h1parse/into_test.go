package h1parse

import (
	"reflect"
	"strings"
	"testing"
)

// TestFieldsIntoIsFields: whatever storage the caller lends, FieldsInto
// parses as Fields does, accepts and declines alike, and a second value
// of a name never overwrites the caller's storage of another.
func TestFieldsIntoIsFields(t *testing.T) {
	blocks := []string{
		"\r\n",
		"Host: a\r\n\r\n",
		"Host: a\r\nAccept: */*\r\nCookie: x=1\r\nAccept: text/html\r\nuser-agent:  wrk \r\n\r\n",
		"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nA: 6\r\nF: 7\r\n\r\n",
		"Bad Name: x\r\n\r\n",
		"Folded: a\r\n b\r\n\r\n",
		"Bare: lf\n\r\n",
		"Ctl: a\x01b\r\n\r\n",
		"0:\r\n1:\r\n", // no empty line: more lines than the count of them
		"",
	}
	for _, block := range blocks {
		want, wantOK := Fields(block)
		for size := range 8 {
			values := make([]string, size)
			got, ok := FieldsInto(block, values)
			if ok != wantOK || !reflect.DeepEqual(got, want) {
				t.Errorf("FieldsInto(%q) with %d values = %v, %v; Fields: %v, %v", block, size, got, ok, want, wantOK)
			}
			for k, vv := range got {
				for _, v := range vv {
					if !strings.Contains(block, v) {
						t.Errorf("FieldsInto(%q) with %d values: %s: %q, not from the block", block, size, k, v)
					}
				}
			}
		}
	}
}

// FuzzFieldsInto compares FieldsInto with Fields, for a lent array of the
// first byte's size modulo 8.
func FuzzFieldsInto(f *testing.F) {
	f.Add(byte(2), "Host: a\r\nAccept: */*\r\nAccept: x\r\n\r\n")
	f.Fuzz(func(t *testing.T, size byte, block string) {
		want, wantOK := Fields(block)
		got, ok := FieldsInto(block, make([]string, size%8))
		if ok != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("FieldsInto(%q) = %v, %v; Fields: %v, %v", block, got, ok, want, wantOK)
		}
	})
}
