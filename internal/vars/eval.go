package vars

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// appendVar appends the value of one variable segment. A request without
// R yields empty values for everything taken from it, so templates can be
// expanded outside a request (for example to log them).
func appendVar(dst []byte, seg *segment, r *Request) []byte {
	if isLate(seg.kind) { // late.go's
		dst, _ = appendLate(dst, seg, r)
		return dst
	}
	hr := r.R
	switch seg.kind {
	case kHost:
		// ngx_http_variable_host: the validated Host (lowercased, port and
		// trailing dot removed), else the server's first name. net/http
		// puts the host of an absolute request-target in R.Host too, which
		// matches nginx's preference for the request line.
		var h string
		if hr != nil {
			h = HostName(hr.Host)
		}
		if h == "" {
			return append(dst, r.ServerName...)
		}
		return appendLower(dst, h)
	case kHTTPHost:
		if hr == nil {
			return dst
		}
		return append(dst, hr.Host...)
	case kRemoteAddr:
		if ap := remote(r); ap.IsValid() {
			// Unmap: a dual-stack listener reports IPv4 clients as
			// ::ffff:a.b.c.d, but logs and backends expect a.b.c.d.
			return ap.Addr().Unmap().AppendTo(dst)
		}
		return dst
	case kBinaryRemoteAddr:
		// ngx_http_variable_binary_remote_addr: the address in network
		// order, 4 bytes for IPv4 and 16 for IPv6; unmapped as
		// $remote_addr is, so a client has one key on every listener.
		if ap := remote(r); ap.IsValid() {
			a := ap.Addr().Unmap()
			if a.Is4() {
				b := a.As4()
				return append(dst, b[:]...)
			}
			b := a.As16()
			return append(dst, b[:]...)
		}
		return dst
	case kLimitReqStatus:
		return append(dst, r.LimitReqStatus...)
	case kLimitConnStatus:
		return append(dst, r.LimitConnStatus...)
	case kRemotePort:
		if ap := remote(r); ap.IsValid() {
			return strconv.AppendUint(dst, uint64(ap.Port()), 10)
		}
		return dst
	case kProxyAddXFF:
		// nginx joins every X-Forwarded-For line with ", " and appends the
		// client address; without the header the value is the address.
		if hr != nil {
			for _, v := range hr.Header["X-Forwarded-For"] {
				dst = append(dst, v...)
				dst = append(dst, ", "...)
			}
		}
		if ap := remote(r); ap.IsValid() {
			dst = ap.Addr().Unmap().AppendTo(dst)
		}
		return dst
	case kScheme:
		if r.Scheme != "" {
			return append(dst, r.Scheme...)
		}
		if hr != nil && hr.TLS != nil {
			return append(dst, "https"...)
		}
		return append(dst, "http"...)
	case kServerName:
		return append(dst, r.ServerName...)
	case kServerPort:
		if ap := local(r); ap.IsValid() {
			return strconv.AppendUint(dst, uint64(ap.Port()), 10)
		}
		return dst
	case kServerAddr:
		if ap := local(r); ap.IsValid() {
			return ap.Addr().Unmap().AppendTo(dst)
		}
		return dst
	case kRequestURI:
		if hr == nil {
			return dst
		}
		if hr.RequestURI != "" {
			return append(dst, hr.RequestURI...)
		}
		if hr.URL != nil {
			return append(dst, hr.URL.RequestURI()...)
		}
		return dst
	case kURI:
		if r.URI != "" {
			return append(dst, r.URI...)
		}
		if hr != nil && hr.URL != nil {
			return append(dst, hr.URL.Path...)
		}
		return dst
	case kArgs:
		return append(dst, rawQuery(hr)...)
	case kIsArgs:
		if rawQuery(hr) != "" {
			return append(dst, '?')
		}
		return dst
	case kArg:
		v, _ := arg(rawQuery(hr), seg.text)
		return append(dst, v...)
	case kRequestMethod:
		if hr == nil {
			return dst
		}
		return append(dst, hr.Method...)
	case kProxyHost:
		return append(dst, r.ProxyHost...)
	case kServerProtocol:
		if hr == nil {
			return dst
		}
		return append(dst, hr.Proto...)
	case kContentType:
		if hr == nil {
			return dst
		}
		if v := hr.Header["Content-Type"]; len(v) > 0 {
			return append(dst, v[0]...)
		}
		return dst
	case kContentLength:
		// nginx gives the header as sent. A request built in Go (tests,
		// internal callers) may have only ContentLength, so fall back to
		// it when it is known and positive.
		if hr == nil {
			return dst
		}
		if v := hr.Header["Content-Length"]; len(v) > 0 {
			return append(dst, v[0]...)
		}
		if hr.ContentLength > 0 {
			return strconv.AppendInt(dst, hr.ContentLength, 10)
		}
		return dst
	case kHeader:
		if hr == nil {
			return dst
		}
		vals := hr.Header[seg.text]
		if len(vals) == 0 && seg.text == "Transfer-Encoding" {
			// net/http moves this header into TransferEncoding.
			vals = hr.TransferEncoding
		}
		// Since nginx 1.23.0 repeated headers are joined with ", ", and
		// cookies with "; " as RFC 6265 section 5.4 writes them.
		sep := ", "
		if seg.text == "Cookie" {
			sep = "; "
		}
		for i, v := range vals {
			if i > 0 {
				dst = append(dst, sep...)
			}
			dst = append(dst, v...)
		}
		return dst
	case kUser:
		return appendUser(dst, seg, r)
	case kCapture:
		return appendCapture(dst, seg, r)
	case kInvalidReferer:
		if hr != nil && r.Referers.Invalid(hr.Header) {
			return append(dst, '1')
		}
		return dst
	case kCookie:
		if hr == nil {
			return dst
		}
		v, _ := cookie(hr.Header["Cookie"], seg.text)
		return append(dst, v...)
	}
	if seg.kind >= kHTTPS {
		return appendSSL(dst, seg.kind, hr)
	}
	return dst
}

func rawQuery(hr *http.Request) string {
	if hr == nil || hr.URL == nil {
		return ""
	}
	return hr.URL.RawQuery
}

// remote returns the client address, parsing R.RemoteAddr when the proxy
// left Remote unset (ParseAddrPort does not allocate on success).
func remote(r *Request) netip.AddrPort {
	if r.Remote.IsValid() || r.R == nil {
		return r.Remote
	}
	ap, err := netip.ParseAddrPort(r.R.RemoteAddr)
	if err != nil {
		return netip.AddrPort{}
	}
	return ap
}

// local returns the address the connection was accepted on, from the
// request context when the proxy left Local unset.
func local(r *Request) netip.AddrPort {
	if r.Local.IsValid() || r.R == nil {
		return r.Local
	}
	switch a := r.R.Context().Value(http.LocalAddrContextKey).(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case net.Addr:
		ap, err := netip.ParseAddrPort(a.String())
		if err == nil {
			return ap
		}
	}
	return netip.AddrPort{}
}

// HostName strips the port and one trailing dot from a Host value, as
// ngx_http_validate_host does; brackets of an IPv6 literal are kept. The
// result is a substring, so nothing is allocated. The router applies the
// same rule before choosing a virtual server.
func HostName(h string) string {
	if h == "" {
		return ""
	}
	end := len(h)
	if h[0] == '[' {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			end = i + 1
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		end = i
	}
	h = h[:end]
	if strings.HasSuffix(h, ".") {
		h = h[:len(h)-1]
	}
	return h
}

// appendLower appends s lowercased (ASCII only, like ngx_strlow).
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// arg finds the argument name in a raw query the way ngx_http_arg does:
// the name is compared case-insensitively, must be followed by '=' and
// start the query or follow '&'; the value is returned still escaped.
func arg(query, name string) (string, bool) {
	for query != "" {
		var part string
		part, query, _ = strings.Cut(query, "&")
		if len(part) > len(name) && part[len(name)] == '=' && strings.EqualFold(part[:len(name)], name) {
			return part[len(name)+1:], true
		}
	}
	return "", false
}

// cookie finds a cookie by name in Cookie header lines the way
// ngx_http_parse_multi_header_lines does: pairs are separated by ';' (or
// ','), the name is compared case-insensitively, spaces around '=' are
// skipped, and the value runs to the next ';'.
func cookie(lines []string, name string) (string, bool) {
	for _, line := range lines {
		s := line
		for s != "" {
			if len(s) >= len(name) && strings.EqualFold(s[:len(name)], name) {
				rest := strings.TrimLeft(s[len(name):], " ")
				if v, ok := strings.CutPrefix(rest, "="); ok {
					v = strings.TrimLeft(v, " ")
					if i := strings.IndexByte(v, ';'); i >= 0 {
						v = v[:i]
					}
					return v, true
				}
			}
			// Skip to the next pair.
			i := strings.IndexAny(s, ";,")
			if i < 0 {
				break
			}
			s = strings.TrimLeft(s[i+1:], " ")
		}
	}
	return "", false
}
