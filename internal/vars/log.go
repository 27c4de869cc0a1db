package vars

import "net/http"

// Escape is how an access log format escapes the values of its
// variables (log_format's escape= parameter); the literal text of the
// format is written as it is.
type Escape uint8

// The escapings of ngx_http_log_module.
const (
	// EscapeDefault writes '"', '\', and bytes below 0x20 or from 0x7f
	// on as \xHH, and a variable that is not found as "-".
	EscapeDefault Escape = iota
	// EscapeJSON escapes as a JSON string's content; a variable that is
	// not found is empty.
	EscapeJSON
	// EscapeNone writes values as they are, "-" for one not found.
	EscapeNone
)

// ParseEscape returns the Escape of log_format's escape= value.
func ParseEscape(s string) (Escape, bool) {
	switch s {
	case "", "default":
		return EscapeDefault, true
	case "json":
		return EscapeJSON, true
	case "none":
		return EscapeNone, true
	}
	return 0, false
}

// AppendLog appends the expansion of t the way an access log writes a
// format: each variable's value escaped by esc, and "-" for a variable
// nginx would call not found (an absent header, argument or cookie, a
// request that was not proxied for $upstream_addr, and the like).
func (t *Template) AppendLog(dst []byte, r *Request, esc Escape) []byte {
	var scratch [128]byte
	for i := range t.segs {
		seg := &t.segs[i]
		if seg.kind == kLiteral {
			dst = append(dst, seg.text...)
			continue
		}
		var v []byte
		found := true
		if isLate(seg.kind) {
			v, found = appendLate(scratch[:0], seg, r)
		} else {
			v = appendVar(scratch[:0], seg, r)
			// A variable of the configuration (set, map) is found even when
			// empty, as in nginx.
			found = len(v) > 0 || seg.kind == kIsArgs || seg.kind == kUser
		}
		if !found {
			if esc != EscapeJSON {
				dst = append(dst, '-')
			}
			continue
		}
		dst = appendLogEscaped(dst, v, esc)
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// appendLogEscaped appends v escaped as esc says (ngx_http_log_escape,
// ngx_escape_json).
func appendLogEscaped(dst, v []byte, esc Escape) []byte {
	switch esc {
	case EscapeNone:
		return append(dst, v...)
	case EscapeJSON:
		for _, c := range v {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', upperHex[c>>4], upperHex[c&0xf])
			default:
				dst = append(dst, c)
			}
		}
		return dst
	}
	for _, c := range v {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			dst = append(dst, '\\', 'x', upperHex[c>>4], upperHex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// requestURI is the request-target as the client sent it.
func requestURI(hr *http.Request) string {
	if hr.RequestURI != "" {
		return hr.RequestURI
	}
	if hr.URL != nil {
		return hr.URL.RequestURI()
	}
	return ""
}

// requestLength estimates $request_length from what net/http kept of the
// request: the request line, the header fields (Host included) and the
// body's declared length. nginx counts the bytes it read, which differ
// by the whitespace a client put around values.
func requestLength(r *Request) int64 {
	hr := r.R
	n := len(hr.Method) + 1 + len(requestURI(hr)) + 1 + len(hr.Proto) + 2
	if hr.Host != "" {
		n += len("Host: ") + len(hr.Host) + 2
	}
	for k, vs := range hr.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	n += 2
	total := int64(n)
	if hr.ContentLength > 0 {
		total += hr.ContentLength
	}
	return total
}
