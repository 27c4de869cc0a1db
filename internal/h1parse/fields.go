// Package h1parse parses HTTP/1.1 header blocks of the common shape in
// one pass over bytes already read, for limpet's server (internal/h1srv)
// and client (internal/h1).
//
// It is a fast path, not a second parser: every message it accepts, it
// parses exactly as net/http's ReadRequest and ReadResponse do (the fuzz
// tests of its callers compare the two), and it declines everything else
// (obsolete line folding, bare LF line ends, field names with spaces,
// Transfer-Encoding, repeated Content-Length, ...), which the caller then
// hands to the standard library, errors included. What it saves is the
// line-by-line reading through bufio and textproto, a string per field
// value, and most of the canonicalizing of field names: the whole block is
// converted to one string, and the values and canonical names are parts
// of it.
package h1parse

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// Head returns the header block at the start of br's buffer, when it is
// there whole: its first line (request or status line) and its field
// lines through the empty line that ends them, as parts of one string
// (the block's one copy), and the block's length, for the caller to
// discard once it has parsed it. ok is false when the buffer holds no
// whole block, or when a bare LF ends the first line (net/http's
// readers end lines there); nothing is consumed either way.
func Head(br *bufio.Reader) (line, fields string, n int, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	n = blockEnd(buf)
	if n == 0 {
		return "", "", 0, false
	}
	line, fields, _ = strings.Cut(string(buf[:n]), "\r\n")
	if strings.IndexByte(line, '\n') >= 0 {
		return "", "", 0, false
	}
	return line, fields, n, true
}

// blockEnd returns the length of the header block at the start of b, up
// to and including the empty line that ends it, or 0 when b holds no
// whole block.
func blockEnd(b []byte) int {
	i := bytes.Index(b, crlfcrlf)
	if i < 0 {
		return 0
	}
	return i + len(crlfcrlf)
}

var crlfcrlf = []byte("\r\n\r\n")

// Version returns the minor version of the protocols the fast path reads:
// 1 for "HTTP/1.1", 0 for "HTTP/1.0"; ok is false for any other.
func Version(proto string) (minor int, ok bool) {
	switch proto {
	case "HTTP/1.1":
		return 1, true
	case "HTTP/1.0":
		return 0, true
	}
	return 0, false
}

// Closes reports whether a message of HTTP/1.minor whose Connection field
// has the values connection ends its connection, as net/http's
// shouldClose decides: HTTP/1.0 unless it asks for keep-alive, HTTP/1.1
// when it says close.
func Closes(minor int, connection []string) bool {
	if minor == 0 {
		return httpsyntax.HasToken(connection, "close") || !httpsyntax.HasToken(connection, "keep-alive")
	}
	return httpsyntax.HasToken(connection, "close")
}

// Fields parses the field lines of block, which starts at the first field
// line and ends with the empty line (CRLF) that ends the header block, as
// textproto.Reader.ReadMIMEHeader would: names canonicalized, values with
// the spaces and tabs around them trimmed, repeated names in order. It
// returns false, and no header, for what it leaves to the standard
// library: a line not ending in CRLF, a field name that is not a token,
// obsolete line folding, and a value with a control character.
func Fields(block string) (http.Header, bool) { return FieldsBacked(block, nil) }

// FieldsBacked is Fields for a caller that provides the array its
// header's values are kept in: values, when it has room for a value per
// field line, else one Fields allocates. Most names appear once, and
// their one-value slices are parts of that one array; a caller that
// allocates values as part of an object of its own (h1's response holds
// the http.Response, its body and its header's values together) spares
// an allocation per message. values must not be used for anything else
// while the header is, since the header's slices are parts of it.
func FieldsBacked(block string, values []string) (http.Header, bool) {
	return FieldsInto(nil, block, values)
}

// FieldsInto is FieldsBacked for a caller that keeps the header's map
// too, from one message to the next: h, when not nil, is cleared (its
// table stays) and filled, and is the header returned; a nil h is made
// as FieldsBacked makes one. When it returns false, h holds what it had
// filled by then, which nobody should read. As for values, h must not be
// used for anything else while the header is.
func FieldsInto(h http.Header, block string, values []string) (http.Header, bool) {
	n := strings.Count(block, "\n") - 1 // lines, less the empty one
	if n < 0 {
		return nil, false
	}
	if h == nil {
		h = make(http.Header, n)
	} else if len(h) > 0 {
		clear(h)
	}
	if n == 0 {
		return h, block == "\r\n"
	}
	if len(values) < n {
		values = make([]string, n)
	}
	// Most names appear once, and each is assigned without looking it
	// up first; a header where one repeats (len(h) tells) is filled
	// again, looking every name up.
	ok, repeated := fill(h, block, values, false)
	if repeated {
		clear(h)
		ok, _ = fill(h, block, values, true)
	}
	if !ok {
		return nil, false
	}
	return h, true
}

// fill adds the fields of block to h, giving each name seen once a
// one-value slice of values (capped, so that a second value allocates),
// one per field line. With merge, a repeated name's values are appended;
// without, a repeated name's last line replaces the others, and repeated
// reports that one did. ok is false for a block Fields declines.
func fill(h http.Header, block string, values []string, merge bool) (ok, repeated bool) {
	lines := 0
	for {
		i := strings.IndexByte(block, '\n')
		if i < 1 || block[i-1] != '\r' {
			return false, false
		}
		line := block[:i-1]
		block = block[i+1:]
		if line == "" {
			return block == "", len(h) < lines
		}
		colon := strings.IndexByte(line, ':')
		if colon < 1 {
			return false, false // no name, or no colon, or a folded line
		}
		key, ok := canonicalName(line[:colon])
		if !ok {
			return false, false
		}
		value, ok := fieldValue(line[colon+1:])
		if !ok {
			return false, false
		}
		if merge {
			if vv, seen := h[key]; seen {
				h[key] = append(vv, value)
				continue
			}
		}
		if lines == len(values) {
			// More field lines than the block has line ends, less
			// one: the empty line that ends it is missing.
			return false, false
		}
		values[lines] = value
		h[key] = values[lines : lines+1 : lines+1]
		lines++
	}
}

// fieldValue returns v with the spaces and tabs around it trimmed, and
// false when v holds a byte textproto refuses (a control character other
// than tab).
func fieldValue(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	start, end := 0, len(v)
	for start < end && (v[start] == ' ' || v[start] == '\t') {
		start++
	}
	for end > start && (v[end-1] == ' ' || v[end-1] == '\t') {
		end--
	}
	return v[start:end], true
}

// canonicalName returns name in textproto's canonical form (the first
// letter and each letter after a hyphen upper case, the others lower
// case): name itself when it already is, a shared constant for common
// names, a new string otherwise. It returns false when name is not a
// token (RFC 9110 section 5.6.2).
func canonicalName(name string) (string, bool) {
	canonical := true
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !tokenByte[c] {
			return "", false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if canonical {
		return name, true
	}
	var buf [64]byte
	if len(name) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(name), true
	}
	b := buf[:len(name)]
	upper = true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	// The compiler does not copy b to look it up.
	if s, ok := commonNames[string(b)]; ok {
		return s, true
	}
	return string(b), true
}

// commonNames interns the canonical names of fields that clients and
// servers often send in another case (HTTP/2 gateways send lower case).
var commonNames = func() map[string]string {
	m := make(map[string]string)
	for _, s := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
		"Accept-Ranges", "Authorization", "Cache-Control", "Cdn-Loop",
		"Connection", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Length", "Content-Type", "Cookie",
		"Date", "Etag", "Expect", "Expires", "Forwarded", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
		"Keep-Alive", "Last-Modified", "Location", "Origin", "Pragma",
		"Proxy-Connection", "Range", "Referer", "Server", "Set-Cookie",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Upgrade-Insecure-Requests", "User-Agent", "Vary", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Requested-With",
	} {
		m[s] = s
	}
	return m
}()

// tokenByte is the set of bytes of a token (RFC 9110 section 5.6.2).
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
