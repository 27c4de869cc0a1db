package h1parse

import (
	"net/http"
	"strings"
)

// FieldsInto is Fields with the caller's storage for the values: the
// one-value slices of the names that appear once share values' array
// (each capped to one, so that a second value allocates), and only the
// names beyond len(values) get an array of Fields' own. A caller that
// allocates values with the rest of a message's state, as h1srv does
// with each request's, saves Fields' allocation. The header returned
// refers to values: the caller must not use it for anything else.
func FieldsInto(block string, values []string) (http.Header, bool) {
	n := strings.Count(block, "\n") - 1 // lines, less the empty one
	if n < 0 {
		return nil, false
	}
	h := make(http.Header, n)
	if n == 0 {
		return h, block == "\r\n"
	}
	for left := n; ; left-- {
		i := strings.IndexByte(block, '\n')
		if i < 1 || block[i-1] != '\r' {
			return nil, false
		}
		line := block[:i-1]
		block = block[i+1:]
		if line == "" {
			return h, block == ""
		}
		colon := strings.IndexByte(line, ':')
		if colon < 1 {
			return nil, false // no name, or no colon, or a folded line
		}
		key, ok := canonicalName(line[:colon])
		if !ok {
			return nil, false
		}
		value, ok := fieldValue(line[colon+1:])
		if !ok {
			return nil, false
		}
		if vv, seen := h[key]; seen {
			h[key] = append(vv, value)
			continue
		}
		if len(values) == 0 {
			// For this line and those left: one array, as Fields has.
			values = make([]string, max(left, 1)) // 1: a block without its empty line
		}
		h[key] = values[:1:1]
		values[0] = value
		values = values[1:]
	}
}
