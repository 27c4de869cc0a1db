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
	// The first LF ends the first line, and must follow a CR; the
	// search for the empty line starts at that CRLF, which it may be
	// the first half of (a message without fields).
	lf := bytes.IndexByte(buf, '\n')
	if lf < 1 || buf[lf-1] != '\r' {
		return "", "", 0, false
	}
	end := bytes.Index(buf[lf-1:], crlfcrlf)
	if end < 0 {
		return "", "", 0, false
	}
	n = lf - 1 + end + len(crlfcrlf)
	block := string(buf[:n])
	return block[:lf-1], block[lf+1:], n, true
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
	return parse(nil, block, values, nil, false)
}

// FieldsInto is FieldsBacked for a caller that keeps the header's map
// too, from one message to the next: h, when not nil, is cleared (its
// table stays, so a reused map allocates nothing) and filled, and is the
// header returned; a nil h is made as FieldsBacked makes one. When it
// returns false, h is empty. As for values, h must not be used for
// anything else while the header is.
func FieldsInto(h http.Header, block string, values []string) (http.Header, bool) {
	return parse(h, block, values, nil, false)
}

// Framing is what FieldsFramed tells of the fields that decide how a
// message is framed and whether its connection lasts, and of its names,
// gathered as the names go by: a caller that would otherwise look these
// names up (most of them absent, each a hash) reads them here. Counts are
// of field lines, values those of the first line of each name.
type Framing struct {
	Host          string // the first Host field's value
	ContentLength string // the first Content-Length field's value
	Connection    string // the first Connection field's value

	// The number of field lines of each name.
	Hosts             int
	ContentLengths    int
	Connections       int
	TransferEncodings int
	Trailers          int
	Pragmas           int

	// OddNames reports that a name has a byte other than a letter, a
	// digit or '-' (an underscore, say), which nginx treats apart.
	OddNames bool
}

// FieldsFramed is FieldsInto that also fills f as it parses. With
// omitHost, the header has no Host field, as http.ReadRequest leaves it
// (the request's Host is the field's value); f has it. What f holds
// means something only when ok is true.
func FieldsFramed(h http.Header, block string, values []string, f *Framing, omitHost bool) (http.Header, bool) {
	*f = Framing{}
	return parse(h, block, values, f, omitHost)
}

// Closes is the package's Closes for a message of HTTP/1.minor whose
// header h was parsed with f: the Connection field's value is f's when
// there is one, and looked up in h only when there are several.
func (f *Framing) Closes(minor int, h http.Header) bool {
	if f.Connections > 1 {
		return Closes(minor, h["Connection"])
	}
	var one [1]string // on the stack: Closes keeps nothing
	if f.Connections == 1 {
		one[0] = f.Connection
	}
	return Closes(minor, one[:f.Connections])
}

// keysOnStack is how many field lines parse keeps the names of in an
// array of its own, on the stack; a block with more spills to the heap.
// Requests of browsers have ten to fifteen fields, responses fewer.
const keysOnStack = 16

// parse is Fields, FieldsBacked, FieldsInto and FieldsFramed (f nil for
// the first three; h nil for the first two). It reads block once (fieldLine): the name byte by byte up to its
// colon, canonical or not, token or not, the value eight bytes at a time
// up to the CR that must be its line's end, control bytes refused on the
// way. The names and values
// go to two arrays, so that the header is made with its size known and
// each name is assigned without being looked up first; when a name
// repeats (len(h) tells), the header is filled again from the arrays,
// merging, without reading block again.
func parse(h http.Header, block string, values []string, f *Framing, omitHost bool) (http.Header, bool) {
	if len(h) > 0 {
		clear(h) // first: a block declined leaves h empty
	}
	// The names of the first lines, written by index to an array on
	// the stack, which takes no write barrier; the others spill.
	var names [keysOnStack]string
	var spill []string
	vals := values[:0]
	lent := len(values) > 0 // vals is values
	for {
		if len(block) < 2 {
			return nil, false // no empty line at the end
		}
		if block[0] == '\r' {
			if block[1] != '\n' || len(block) != 2 {
				return nil, false
			}
			break
		}
		key, value, rest, seen, ok := fieldLine(block)
		if !ok {
			return nil, false
		}
		block = rest
		if f != nil {
			if seen&oddByte != 0 {
				f.OddNames = true
			}
			if f.note(key, value) && omitHost {
				continue
			}
		}
		if len(vals) == cap(vals) {
			// Out of room: an array for this line and those left
			// (the empty line ends them; at least this one when
			// it is missing, which the next turn declines),
			// counted once.
			more := make([]string, len(vals), len(vals)+max(1, strings.Count(block, "\n")))
			copy(more, vals)
			if lent {
				// The caller's array holds nothing of the header,
				// as with one too small to be used at all.
				clear(vals)
				lent = false
			}
			vals = more
		}
		n := len(vals)
		if n < keysOnStack {
			names[n] = key
		} else {
			spill = append(spill, key)
		}
		vals = vals[:n+1]
		vals[n] = value
	}
	onStack := names[:min(len(vals), keysOnStack)]
	if h == nil {
		h = make(http.Header, len(vals))
	}
	assign(h, onStack, vals, false)
	assign(h, spill, vals[len(onStack):], false)
	if len(h) < len(vals) {
		// A name repeats: its last line replaced the others.
		clear(h)
		assign(h, onStack, vals, true)
		assign(h, spill, vals[len(onStack):], true)
	}
	return h, true
}

// fieldLine parses the field line at the start of block: its name,
// canonical, its value, trimmed, and the block after its CRLF; seen has
// oddByte when the name has a byte other than a letter, a digit or '-'.
// ok is false for a line Fields declines. A function of its own, its
// loops keep their variables in registers.
func fieldLine(block string) (key, value, rest string, seen uint8, ok bool) {
	// The name: a token ending at a colon. wrong is the case a letter
	// must not have where it is (upper after a hyphen or at the start)
	// and oddByte; each byte's class tells the next byte's.
	i := 0
	wrong := lowerByte | oddByte
	for i < len(block) {
		k := nameClass[block[i]]
		if k == 0 {
			break
		}
		seen |= k & wrong
		wrong = k >> nextShift
		i++
	}
	if i == 0 || i == len(block) || block[i] != ':' {
		return "", "", "", 0, false // no name, no colon, a name not a token, or a folded line
	}
	key = block[:i]
	if seen&(lowerByte|upperByte) != 0 {
		key = canonicalize(key)
	}
	// The value: spaces and tabs trimmed, no control byte but tab, then
	// CRLF.
	i++
	for i < len(block) && (block[i] == ' ' || block[i] == '\t') {
		i++
	}
	start := i
	// Eight bytes at a time while none is a control byte or DEL, then
	// byte by byte (past a tab) to the CR.
	for i+8 <= len(block) {
		w := block[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if hasLess(x, ' ') || hasLess(x^(ones*0x7f), 1) {
			break
		}
		i += 8
	}
	for i < len(block) && valueByte[block[i]] {
		i++
	}
	if i+1 >= len(block) || block[i] != '\r' || block[i+1] != '\n' {
		return "", "", "", 0, false
	}
	end := i
	for end > start && (block[end-1] == ' ' || block[end-1] == '\t') {
		end--
	}
	return key, block[start:end], block[i+2:], seen & oddByte, true
}

// assign sets h[keys[i]] to values[i], a slice capped so that a second
// value allocates. With merge, a name h has gets the value appended;
// without, its old values are replaced.
func assign(h http.Header, keys, values []string, merge bool) {
	for i, key := range keys {
		if merge {
			if vv, seen := h[key]; seen {
				h[key] = append(vv, values[i])
				continue
			}
		}
		h[key] = values[i : i+1 : i+1]
	}
}

// note counts the field of canonical name key and value v in f, when its
// name is one f tells of, and reports whether it is Host.
func (f *Framing) note(key, v string) (host bool) {
	switch key {
	case "Host":
		if f.Hosts == 0 {
			f.Host = v
		}
		f.Hosts++
		return true
	case "Content-Length":
		if f.ContentLengths == 0 {
			f.ContentLength = v
		}
		f.ContentLengths++
	case "Connection":
		if f.Connections == 0 {
			f.Connection = v
		}
		f.Connections++
	case "Transfer-Encoding":
		f.TransferEncodings++
	case "Trailer":
		f.Trailers++
	case "Pragma":
		f.Pragmas++
	}
	return false
}

// The classes of the bytes of a field name, in nameClass: the low four
// bits say what the byte is, the high four what the next byte must not
// be (lowerByte after '-', else upperByte, and always oddByte).
const (
	tokenByte uint8 = 1 << iota // a byte of a token (RFC 9110 section 5.6.2)
	lowerByte                   // a lower-case letter
	upperByte                   // an upper-case letter
	oddByte                     // a token byte but a letter, a digit or '-'

	nextShift = 4
)

// nameClass classes the bytes of field names; 0 is a byte no token has.
var nameClass = func() (t [256]uint8) {
	for c := range t {
		var k uint8
		switch {
		case '0' <= c && c <= '9':
			k = tokenByte
		case 'a' <= c && c <= 'z':
			k = tokenByte | lowerByte
		case 'A' <= c && c <= 'Z':
			k = tokenByte | upperByte
		case c == '-':
			k = tokenByte
		case strings.IndexByte("!#$%&'*+.^_`|~", byte(c)) >= 0:
			k = tokenByte | oddByte
		default:
			continue
		}
		next := upperByte | oddByte
		if c == '-' {
			next = lowerByte | oddByte
		}
		t[c] = k | next<<nextShift
	}
	return t
}()

// ones has a 1 in each byte of a word.
const ones = 0x0101010101010101

// hasLess reports whether a byte of x is less than n (n at most 128).
func hasLess(x uint64, n uint8) bool {
	return (x-ones*uint64(n))&^x&(ones*0x80) != 0
}

// valueByte is the set of bytes textproto takes in a field value: all but
// the control characters, tab excepted.
var valueByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= ' ' && c != 0x7f || c == '\t'
	}
	return t
}()

// canonicalize returns name, a token not in textproto's canonical form,
// in that form (the first letter and each letter after a hyphen upper
// case, the others lower case): a shared constant for common names, a new
// string otherwise.
func canonicalize(name string) string {
	var buf [64]byte
	if len(name) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(name)
	}
	b := buf[:len(name)]
	upper := true
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
		return s
	}
	return string(b)
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
