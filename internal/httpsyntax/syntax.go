// Package httpsyntax holds the HTTP/1.1 syntax checks that limpet's client
// (internal/h1) and server (internal/h1srv) share: tokens, Host values and
// comma-separated header lists.
package httpsyntax

import "strings"

// ValidToken reports whether s is a token (RFC 9110 section 5.6.2): the
// syntax of methods and field names.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// ValidHost reports whether s may be a Host header: the bytes of a
// host[:port] (RFC 3986 section 3.2.2) and of IPv6 literals, as Go's own
// client and server allow.
func ValidHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hostByte[s[i]] {
			return false
		}
	}
	return true
}

// ClientHost reports whether s is a Host that nginx accepts from a
// client (ngx_http_validate_host): a reg-name or IPv4 address of
// unreserved, sub-delim and pct-encoded bytes with no empty label (".."),
// or a bracketed IP literal, then optionally ':' and a port of digits no
// greater than 65535; not empty once a trailing dot is dropped. nginx
// answers 400 to anything else ("client sent invalid host header"), which
// keeps values such as "..example.com", "host:98777", "a:9000:80" and
// "[::1" from becoming a $host or choosing a virtual server.
func ClientHost(s string) bool {
	const (
		inHost = iota
		inLiteral
		afterLiteral
		inPort
	)
	state := inHost
	end := len(s) // where the host part ends
	dot := -2     // position of the last '.'
	port := 0
	i := 0
	if s != "" && s[0] == '[' {
		state, i = inLiteral, 1
	}
	for ; i < len(s); i++ {
		c := s[i]
		switch state {
		case inHost, inLiteral:
			switch {
			case hostNameByte[c]: // the common case first
			case c == '.':
				if dot == i-1 {
					return false // an empty label
				}
				dot = i
			case c == ':':
				if state == inHost {
					end, state = i, inPort
				}
			case c == ']' && state == inLiteral:
				end, state = i+1, afterLiteral
			case c == '%' && state == inHost:
			default:
				return false
			}
		case afterLiteral:
			if c != ':' {
				return false
			}
			state = inPort
		case inPort:
			if c < '0' || c > '9' {
				return false
			}
			if port = port*10 + int(c-'0'); port > 65535 {
				return false
			}
		}
	}
	if state == inLiteral {
		return false // "[::1" never closed
	}
	if dot == end-1 {
		end-- // one trailing dot is dropped
	}
	return end > 0
}

// HasToken reports whether the comma-separated values contain token,
// compared as net/http compares them (httpguts.HeaderValuesContainsToken):
// spaces and tabs around each element trimmed, ASCII letters without
// regard to case, and no other byte above 0x7f matching ("cloſe" is not
// "close", though strings.EqualFold says it is).
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if tokenEqual(trimOWS(t), token) {
				return true
			}
		}
	}
	return false
}

// trimOWS trims the optional whitespace (spaces and tabs) around s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// tokenEqual compares two tokens byte by byte, ASCII letters without
// regard to case; a byte above 0x7f matches nothing.
func tokenEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || lower(x) != lower(y) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// HopHeaders are the hop-by-hop fields of RFC 9110 section 7.6.1, and the
// non-standard ones proxies have long stripped, in canonical form: they
// describe one connection, so a proxy passes none of them on.
var HopHeaders = []string{
	"Connection",
	"Proxy-Connection", // non-standard, sent by old clients
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// HopByHop reports whether name is one of HopHeaders, compared without
// regard to case.
func HopByHop(name string) bool {
	switch len(name) {
	case 2:
		return strings.EqualFold(name, "Te")
	case 7:
		return strings.EqualFold(name, "Trailer") || strings.EqualFold(name, "Upgrade")
	case 10:
		return strings.EqualFold(name, "Connection") || strings.EqualFold(name, "Keep-Alive")
	case 16:
		return strings.EqualFold(name, "Proxy-Connection")
	case 17:
		return strings.EqualFold(name, "Transfer-Encoding")
	case 18:
		return strings.EqualFold(name, "Proxy-Authenticate")
	case 19:
		return strings.EqualFold(name, "Proxy-Authorization")
	}
	return false
}

var tokenByte = byteSet("!#$%&'*+-.^_`|~")

var hostByte = byteSet("!$%&'()*+,-.:;=[]_~")

// hostNameByte is what ngx_http_validate_host allows in a host name
// besides '.', ':' and '%': letters, digits, unreserved and sub-delims.
var hostNameByte = byteSet("-_~!$&'()*+,;=")

// byteSet is the set of ASCII letters and digits and of the bytes in
// extra.
func byteSet(extra string) (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for i := 0; i < len(extra); i++ {
		t[extra[i]] = true
	}
	return t
}
