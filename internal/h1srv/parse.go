package h1srv

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"

	"github.com/limpet-lb/limpet/internal/h1parse"
	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// parseBuffered parses the request whose header block is whole in br's
// buffer, when it has the common shape: an origin-form target, HTTP/1.0 or
// 1.1, field lines h1parse.FieldsFramed accepts, at most one Host and one
// Content-Length, no Transfer-Encoding, Trailer or Pragma. The request,
// rq's (with its context and URL), is the one http.ReadRequest would return
// (FuzzParseBuffered compares them), and hosts is the number of Host
// fields it had (ReadRequest deletes them). Otherwise ok is false and
// nothing is consumed: the caller reads the request with
// http.ReadRequest, which also words the errors. odd says that a field
// name has a byte nginx does not take in a name (see nameKind; h1parse
// tells it as the names go by), for the caller to drop such fields
// without looking at every name again.
func parseBuffered(rq *request, br *bufio.Reader) (req *http.Request, hosts int, odd, ok bool) {
	line, fields, end, ok := h1parse.Head(br)
	if !ok {
		return nil, 0, false, false
	}
	// The line ends with a space and "HTTP/1.x": the target runs from
	// the first space to that one. A target with a space of its own,
	// which ReadRequest would cut at the space and then refuse the
	// protocol, originForm refuses.
	method, rest, ok1 := strings.Cut(line, " ")
	if !ok1 || len(rest) < len(" HTTP/1.1") || rest[len(rest)-9] != ' ' || !httpsyntax.ValidToken(method) {
		return nil, 0, false, false
	}
	target, proto := rest[:len(rest)-9], rest[len(rest)-8:]
	minor, ok := h1parse.Version(proto)
	if !ok {
		return nil, 0, false, false
	}
	if !originForm(target, &rq.url) {
		return nil, 0, false, false
	}
	// The fields that decide the framing come with the header, so that
	// none is looked up, and Host is left out of it, as ReadRequest
	// deletes it.
	var f h1parse.Framing
	h, ok := h1parse.FieldsFramed(rq.header, fields, rq.values[:], &f, true)
	if !ok || f.Hosts > 1 || f.ContentLengths > 1 || f.TransferEncodings+f.Trailers+f.Pragmas > 0 {
		return nil, 0, false, false
	}
	length := int64(0)
	if f.ContentLengths == 1 {
		if length, ok = h1parse.ContentLength(f.ContentLength); !ok {
			return nil, 0, false, false
		}
	}
	r := http.Request{
		Method:        method,
		URL:           &rq.url,
		Proto:         proto,
		ProtoMajor:    1,
		ProtoMinor:    minor,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: length,
		Host:          f.Host,
		RequestURI:    target,
	}
	r.Close = f.Closes(minor, h)
	if length > 0 {
		r.Body = h1parse.NewBody(br, length)
	}
	_, _ = br.Discard(end)
	// r stays on the stack: its copy in rq is the one.
	return rq.setRequest(&r), f.Hosts, f.OddNames, true
}

// originForm sets u to the URL of an origin-form request target, as
// url.ParseRequestURI returns it, when it has nothing to unescape: a path of
// bytes that need no escaping and the query, from the first '?', as it
// is. It returns false for anything else (escapes, a fragment mark in the
// path or query, an empty query, control bytes, an absolute or authority
// form).
func originForm(target string, u *url.URL) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' || hasQuery && query == "" {
		return false // "/a?" sets ForceQuery
	}
	for i := 0; i < len(path); i++ {
		if !pathByte[path[i]] {
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	*u = url.URL{Path: path, RawQuery: query}
	return true
}

// pathByte is the set of bytes url.URL keeps unescaped in a path: those
// of a path that has no RawPath.
var pathByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()
