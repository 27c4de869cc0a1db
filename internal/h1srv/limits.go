package h1srv

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/limpet-lb/limpet/internal/errpage"
)

// HeaderLimits bounds the header block a client may send, with nginx's
// directives and defaults; its zero value is nginx's defaults. nginx reads
// a request into a buffer of BufferSize and moves a line that does not fit
// into one of the large buffers; limpet reads into a fixed, pooled 4 KiB
// buffer and enforces the limits that scheme implies:
//   - the request line, its CRLF included, fits in the larger of
//     BufferSize and LargeBufferSize, or the answer is 414;
//   - so does every field line, and the whole block fits in BufferSize +
//     LargeBuffers × LargeBufferSize, or the answer is 400 with nginx's
//     "Request Header Or Cookie Too Large" page;
//   - the block has at most MaxFields field lines (max_headers), or the
//     same 400.
//
// What a connection holds while it reads a header is bounded by these,
// not by what the client sends: the read stops once the block's limit
// is passed.
type HeaderLimits struct {
	// BufferSize is client_header_buffer_size, in bytes (default 1k).
	BufferSize int
	// LargeBuffers and LargeBufferSize are large_client_header_buffers
	// (default 4 8k).
	LargeBuffers    int
	LargeBufferSize int
	// MaxFields is max_headers (default 1000).
	MaxFields int
}

// nginx's defaults, and the shortest field line there is.
const (
	defaultHeaderBuffer    = 1 << 10
	defaultLargeBuffers    = 4
	defaultLargeBufferSize = 8 << 10
	defaultMaxHeaderFields = 1000
	minFieldLineLen        = len("a:\r\n")
)

// limits are the effective bounds of a HeaderLimits.
type limits struct {
	line   int // longest request or field line, CRLF included
	block  int // whole header block
	fields int // field lines
	// quick: a buffered header block no longer than this cannot break
	// a limit, so the fast path need not scan it.
	quick int
}

func (l HeaderLimits) effective() limits {
	or := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	buf := or(l.BufferSize, defaultHeaderBuffer)
	n := or(l.LargeBuffers, defaultLargeBuffers)
	size := or(l.LargeBufferSize, defaultLargeBufferSize)
	e := limits{line: max(buf, size), block: buf + n*size, fields: or(l.MaxFields, defaultMaxHeaderFields)}
	e.quick = min(e.line, e.block, e.fields*minFieldLineLen)
	return e
}

// headerScan is what the raw bytes of a header block tell that
// http.ReadRequest's result no longer shows: the fields it merges or
// drops, and the sizes the limits bound.
type headerScan struct {
	hosts            int    // Host fields
	hostField        string // the first Host field's value
	contentLengths   int    // Content-Length fields
	transferEncoding bool   // a Transfer-Encoding field
	folded           bool   // a field line folded onto the next (RFC 9112 section 5.2)
	fields           int    // field lines
	underscoreNames  int    // of them, names valid to nginx but for an underscore
	invalidNames     int    // names with other bytes than letters, digits, '-' and '_'
	oddNames         bool   // either of the two above
	requestLine      int    // length of the request line, CRLF included (0: not read whole)
	longestField     int    // of the field lines, CRLF included
	size             int    // of the block, through its empty line
	complete         bool   // the empty line that ends the block was found
}

// scanHeader scans the header block at the start of raw, which may hold
// more (a body, the next request) or less (a block still being read).
func scanHeader(raw []byte) headerScan {
	var sc headerScan
	first := true
	pos := 0
	for pos < len(raw) {
		i := bytes.IndexByte(raw[pos:], '\n')
		if i < 0 {
			// An unfinished line: it counts toward the sizes all the same.
			if !first {
				sc.longestField = max(sc.longestField, len(raw)-pos)
			}
			sc.size = len(raw)
			return sc
		}
		line := raw[pos : pos+i]
		n := i + 1
		pos += n
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if first {
			if len(line) > 0 { // RFC 9112 section 2.2: empty lines may precede the request line
				first = false
				sc.requestLine = n
			}
			continue
		}
		if len(line) == 0 {
			sc.size, sc.complete = pos, true
			return sc
		}
		sc.fields++
		sc.longestField = max(sc.longestField, n)
		if line[0] == ' ' || line[0] == '\t' {
			sc.folded = true
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		switch nameKind(name) {
		case nameUnderscore:
			sc.underscoreNames++
			sc.oddNames = true
		case nameInvalid:
			sc.invalidNames++
			sc.oddNames = true
		}
		switch line[0] | 0x20 {
		case 'h':
			if hasName(line, "host:") {
				if sc.hosts == 0 {
					sc.hostField = string(bytes.Trim(line[len("host:"):], " \t"))
				}
				sc.hosts++
			}
		case 'c':
			if hasName(line, "content-length:") {
				sc.contentLengths++
			}
		case 't':
			if hasName(line, "transfer-encoding:") {
				sc.transferEncoding = true
			}
		}
	}
	sc.size = len(raw)
	return sc
}

// counted returns the field lines that count toward max_headers: as in
// nginx, not those dropped for their names.
func (sc *headerScan) counted(underscores, keepInvalid bool) int {
	switch {
	case keepInvalid:
		return sc.fields
	case underscores:
		return sc.fields - sc.invalidNames
	}
	return sc.fields - sc.invalidNames - sc.underscoreNames
}

// The kinds of field name nginx tells apart.
const (
	nameValid      = iota // letters, digits and '-'
	nameUnderscore        // and '_': valid with underscores_in_headers on
	nameInvalid           // any other byte
)

// nameKind tells what nginx makes of a field name.
func nameKind[T string | []byte](name T) int {
	kind := nameValid
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case nginxNameByte[b]:
		case b == '_':
			kind = nameUnderscore
		default:
			return nameInvalid
		}
	}
	return kind
}

// nginxNameByte is what nginx takes in a valid field name, besides an
// underscore when underscores_in_headers is on.
var nginxNameByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	t['-'] = true
	return t
}()

// hasName reports whether line starts with name (lower case, its colon
// included), without regard to case.
func hasName(line []byte, name string) bool {
	return len(line) >= len(name) && strings.EqualFold(string(line[:len(name)]), name)
}

// tooLarge returns the status a header block of sc, of which fields
// field lines count toward max_headers, earns under l (414, or
// errpage.HeaderTooLarge), or 0 when it keeps within them. A block still
// unfinished is judged by what it holds so far.
func (l limits) tooLarge(sc headerScan, fields int) int {
	switch {
	case sc.requestLine > l.line, sc.requestLine == 0 && sc.size > l.line:
		return http.StatusRequestURITooLong
	case sc.longestField > l.line, sc.size > l.block, fields > l.fields:
		return errpage.HeaderTooLarge
	}
	return 0
}
