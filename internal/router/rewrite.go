package router

import (
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
)

// UpstreamURI returns the request-target to send upstream, by nginx's
// proxy_pass rules:
//
//   - when proxy_pass has no URI part (HasURI false), or the location is a
//     regex location, the request URI goes unchanged, as the client sent it
//     (requestURI, with its arguments);
//   - otherwise the matched prefix (see Locations.Match) of the normalized
//     path is replaced by the URI of proxy_pass: with "location /name/" and
//     "proxy_pass http://b/remote/", "/name/x" becomes "/remote/x". The URI
//     of proxy_pass is sent as written in the configuration, the rest of
//     the path escaped again, and "?"+rawQuery follows when there are
//     arguments.
//
// A normalizedPath that does not start with prefix (a caller's mistake)
// is treated like the first case rather than producing a wrong path.
//
// An absolute-form requestURI ("http://host/path?q", which net/http keeps
// in Request.RequestURI) is reduced to its origin form ("/path?q"), which
// is what nginx forwards.
func UpstreamURI(pp *config.ProxyPass, loc *config.Location, prefix, normalizedPath, rawQuery, requestURI string) string {
	if pp == nil || !pp.HasURI || loc == nil || loc.Modifier == "~" || loc.Modifier == "~*" ||
		!strings.HasPrefix(normalizedPath, prefix) {
		return originForm(requestURI)
	}
	rest := normalizedPath[len(prefix):]
	n := len(pp.URI) + len(rest)
	if rawQuery != "" {
		n += 1 + len(rawQuery)
	}
	b := make([]byte, 0, n+escapeGrowth(rest))
	b = append(b, pp.URI...)
	b = appendEscapedPath(b, rest)
	if rawQuery != "" {
		b = append(b, '?')
		b = append(b, rawQuery...)
	}
	return string(b)
}

// originForm strips "scheme://authority" from an absolute-form target.
func originForm(requestURI string) string {
	if requestURI == "" || requestURI[0] == '/' {
		return requestURI
	}
	i := strings.Index(requestURI, "://")
	if i < 0 {
		return requestURI // "*" or something net/http would not pass
	}
	rest := requestURI[i+3:]
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		if rest[j] == '?' {
			return "/" + rest[j:]
		}
		return rest[j:]
	}
	return "/"
}

// shouldEscape reports whether c must be percent-encoded in a path. It
// keeps what RFC 3986 section 3.3 allows unencoded in a path (unreserved,
// sub-delims, ':', '@' and '/'). That is a superset of what nginx's
// ngx_escape_uri(NGX_ESCAPE_URI) encodes (space, '#', '%', '?', controls
// and non-ASCII): nginx would also send '"', '<', '>', '\', '^', '`', '{',
// '|' and '}' raw, which is not a valid request-target, so limpet encodes
// them; a backend decodes both forms to the same path. Unlike
// url.PathEscape, ';' and ',' are kept, as nginx keeps them.
func shouldEscape(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return false
	}
	switch c {
	case '-', '.', '_', '~', // unreserved
		'!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', // sub-delims
		':', '@', '/':
		return false
	}
	return true
}

func escapeGrowth(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if shouldEscape(s[i]) {
			n += 2
		}
	}
	return n
}

func appendEscapedPath(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if shouldEscape(c) {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
