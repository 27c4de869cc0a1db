// Package vars evaluates nginx variables ($host, $remote_addr, $http_NAME,
// ...) in configuration values: proxy_set_header values, hash keys and
// return texts.
//
// A value is compiled once, at configuration time, into a Template: a list
// of literal and variable segments, each variable resolved to an opcode and,
// for the $http_, $arg_ and $cookie_ families, to its argument already in
// the form the per-request lookup wants (for example the canonical header
// key "X-Forwarded-Proto" for $http_x_forwarded_proto). Expanding then only
// appends bytes to the caller's buffer, so the proxy's per-request work does
// not allocate for the common variables.
//
// The syntax is that of nginx's script compiler (ngx_http_script_compile):
// $name and ${name}, name being ASCII letters, digits and '_', compared
// case-insensitively. Two deliberate differences: a '$' followed by neither
// a name nor '{' is kept literally (nginx rejects it with "invalid variable
// name" and offers no way to write a dollar sign), and regex captures ($1 to
// $9) are rejected by Compile: they, and the configuration's own variables,
// need a Registry (user.go).
//
// Variable semantics follow ngx_http_variables.c; the differences forced by
// net/http are noted where each variable is evaluated.
package vars

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// Request is what variables are evaluated against. The proxy fills one per
// request; filling it needs no allocation, as every field is a value or a
// string the proxy already has.
type Request struct {
	// R is the incoming request.
	R *http.Request
	// Remote is the client address ($remote_addr, $remote_port). When it
	// is the zero value, R.RemoteAddr is parsed instead.
	Remote netip.AddrPort
	// Local is the address the connection was accepted on ($server_addr,
	// $server_port). When it is the zero value, the address net/http
	// stores in the request context (http.LocalAddrContextKey) is used.
	Local netip.AddrPort
	// Scheme is "http" or "https" ($scheme). When empty, it is derived
	// from R.TLS.
	Scheme string
	// ServerName is the first server_name of the virtual server that took
	// the request ($server_name, and $host when the request has no Host).
	ServerName string
	// ProxyHost is the upstream name or host:port of proxy_pass ($proxy_host).
	ProxyHost string
	// URI is the normalized current URI, without arguments ($uri,
	// $document_uri). When empty, R.URL.Path is used.
	URI string
	// LimitReqStatus and LimitConnStatus are the outcomes of limit_req
	// and limit_conn ($limit_req_status, $limit_conn_status): "PASSED",
	// "DELAYED", "REJECTED", "DELAYED_DRY_RUN", "REJECTED_DRY_RUN", or ""
	// when no limit applied (nginx's "not found").
	LimitReqStatus  string
	LimitConnStatus string
	// Response is what is known of the response and the connection
	// ($status, $upstream_addr, $request_id...: late.go); nil leaves
	// those variables empty.
	Response *Response
	// AddURIToAlias is nginx's add_uri_to_alias: try_files found a file
	// in a regex location with alias, so the file served is the alias
	// followed by the URI instead of the alias alone (internal/static).
	// Each location the request is served in starts with it false.
	AddURIToAlias bool
	// Referers is the valid_referers of the location (or server) the
	// request is in, which $invalid_referer checks the Referer against;
	// nil leaves the variable "" (valid), as in nginx without the
	// directive.
	Referers *Referers
	// User holds the values of the configuration's own variables (set,
	// map, named captures) and the last regex captures; nil when the
	// configuration has none (user.go).
	User *Values
}

// kind is what a template segment evaluates to.
type kind uint8

const (
	kLiteral kind = iota
	kHost
	kHTTPHost
	kRemoteAddr
	kBinaryRemoteAddr
	kRemotePort
	kProxyAddXFF
	kScheme
	kServerName
	kServerPort
	kServerAddr
	kRequestURI
	kURI
	kArgs
	kIsArgs
	kArg
	kRequestMethod
	kProxyHost
	kServerProtocol
	kContentType
	kContentLength
	kHeader
	kCookie
	kLimitReqStatus
	kLimitConnStatus
	kUser    // a variable of the configuration's Registry (user.go)
	kCapture // a regex capture, $0 to $9 (user.go)
	// kInvalidReferer is $invalid_referer (referer.go). It is not in
	// simple: nginx's variable is changeable, so `set $invalid_referer`
	// defines a variable of the configuration that shadows it.
	kInvalidReferer
)

// simple maps the names of the variables that take no argument to their
// kind. $http_host sits here rather than in the $http_ family because
// net/http moves the Host header out of Request.Header into Request.Host.
var simple = map[string]kind{
	"host":                      kHost,
	"http_host":                 kHTTPHost,
	"remote_addr":               kRemoteAddr,
	"binary_remote_addr":        kBinaryRemoteAddr,
	"remote_port":               kRemotePort,
	"proxy_add_x_forwarded_for": kProxyAddXFF,
	"scheme":                    kScheme,
	"server_name":               kServerName,
	"server_port":               kServerPort,
	"server_addr":               kServerAddr,
	"request_uri":               kRequestURI,
	"uri":                       kURI,
	"document_uri":              kURI,
	"args":                      kArgs,
	"query_string":              kArgs,
	"is_args":                   kIsArgs,
	"request_method":            kRequestMethod,
	"proxy_host":                kProxyHost,
	"server_protocol":           kServerProtocol,
	"content_type":              kContentType,
	"content_length":            kContentLength,
	"limit_req_status":          kLimitReqStatus,
	"limit_conn_status":         kLimitConnStatus,
}

// segment is one piece of a template: a literal, or a variable with its
// precomputed argument (header key, argument name or cookie name).
type segment struct {
	kind kind
	text string
	// n and uv are a kUser segment's slot and variable, or a kCapture
	// segment's capture number (user.go).
	n  int
	uv *userVar
}

// Template is a configuration value compiled for fast expansion. It is
// immutable and safe for concurrent use.
type Template struct {
	src  string
	segs []segment
}

// Compile parses s, resolving every variable it holds. The errors use
// nginx's words, for example `unknown "foo" variable`, so that the config
// package only has to add the file and line.
func Compile(s string) (*Template, error) { return compile(s, nil) }

// compile is Compile with the user variables and captures of g, when g
// is not nil.
func compile(s string, g *Registry) (*Template, error) {
	t := &Template{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{kind: kLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			lit.WriteString(s[i : i+j])
			i += j
			continue
		}
		// s[i] == '$'
		var name string
		next := i + 1
		switch {
		case next < len(s) && s[next] == '{':
			end := next + 1
			for end < len(s) && isNameByte(s[end]) {
				end++
			}
			name = s[next+1 : end]
			if next+1 == len(s) {
				return nil, errors.New("invalid variable name")
			}
			if end == len(s) || s[end] != '}' {
				return nil, fmt.Errorf("the closing bracket in %q variable is missing", name)
			}
			if name == "" {
				return nil, errors.New("invalid variable name")
			}
			next = end + 1
		default:
			end := next
			for end < len(s) && isNameByte(s[end]) {
				end++
			}
			if end == next {
				// A '$' that starts no name is kept literally (see the
				// package comment).
				lit.WriteByte('$')
				i = next
				continue
			}
			name = s[next:end]
			next = end
			if c := name[0]; g != nil && c >= '0' && c <= '9' {
				// nginx reads one digit: "$10" is $1 then "0".
				name, next = name[:1], next-len(name)+1
			}
		}
		seg, err := g.resolve(name)
		if err != nil {
			return nil, err
		}
		flush()
		t.segs = append(t.segs, seg)
		i = next
	}
	flush()
	return t, nil
}

// MustCompile is like Compile but panics on error; it is meant for values
// written in Go code, such as defaults and tests.
func MustCompile(s string) *Template {
	t, err := Compile(s)
	if err != nil {
		panic(fmt.Sprintf("vars: Compile(%q): %v", s, err))
	}
	return t
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// resolve turns a variable name into a segment. Names are lowercased first,
// as ngx_http_get_variable_index does.
func resolve(name string) (segment, error) {
	if c := name[0]; c >= '0' && c <= '9' {
		return segment{}, fmt.Errorf("regex capture \"$%s\" is not supported", name)
	}
	lower := strings.ToLower(name)
	if k, ok := simple[lower]; ok {
		return segment{kind: k}, nil
	}
	if arg, ok := strings.CutPrefix(lower, "http_"); ok && arg != "" {
		// nginx compares header names case-insensitively with '-' spelled
		// '_'; net/http stores them canonicalized, so canonicalize once
		// here and let Append index the map directly.
		key := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(arg, "_", "-"))
		return segment{kind: kHeader, text: key}, nil
	}
	if arg, ok := strings.CutPrefix(lower, "arg_"); ok && arg != "" {
		return segment{kind: kArg, text: arg}, nil
	}
	if arg, ok := strings.CutPrefix(lower, "cookie_"); ok && arg != "" {
		return segment{kind: kCookie, text: arg}, nil
	}
	if lower == "invalid_referer" {
		return segment{kind: kInvalidReferer}, nil
	}
	if seg, ok := resolveLate(lower); ok { // late.go's families
		return seg, nil
	}
	return segment{}, fmt.Errorf("unknown %q variable", lower)
}

// Static returns the value and true when the template holds no variable,
// so callers can skip expansion entirely.
func (t *Template) Static() (string, bool) {
	switch len(t.segs) {
	case 0:
		return "", true
	case 1:
		if t.segs[0].kind == kLiteral {
			return t.segs[0].text, true
		}
	}
	return "", false
}

// String returns the source text the template was compiled from.
func (t *Template) String() string { return t.src }

// Expand returns the expansion of the template for r.
func (t *Template) Expand(r *Request) string {
	if s, ok := t.Static(); ok {
		return s
	}
	return string(t.Append(nil, r))
}

// Append appends the expansion of the template for r to dst and returns the
// extended buffer. It allocates only when dst must grow, except for
// $request_uri on a request without RequestURI and for $server_addr and
// $server_port when neither Request.Local nor the request context carries
// the local address.
func (t *Template) Append(dst []byte, r *Request) []byte {
	for i := range t.segs {
		seg := &t.segs[i]
		if seg.kind == kLiteral {
			dst = append(dst, seg.text...)
			continue
		}
		dst = appendVar(dst, seg, r)
	}
	return dst
}
