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
// 1.1, field lines h1parse.FieldsBacked accepts, at most one Host and one
// Content-Length, no Transfer-Encoding, Trailer or Pragma. The request,
// rq's (with its context and URL), is the one http.ReadRequest would return
// (FuzzParseBuffered compares them), and hosts is the number of Host
// fields it had (ReadRequest deletes them). Otherwise ok is false and
// nothing is consumed: the caller reads the request with
// http.ReadRequest, which also words the errors. odd says that a field
// name has a byte nginx does not take in a name (see nameKind), for the
// caller to drop such fields without looking at every name again.
func parseBuffered(rq *request, br *bufio.Reader) (req *http.Request, hosts int, odd, ok bool) {
	line, fields, end, ok := h1parse.Head(br)
	if !ok {
		return nil, 0, false, false
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !httpsyntax.ValidToken(method) {
		return nil, 0, false, false
	}
	minor, ok := h1parse.Version(proto)
	if !ok {
		return nil, 0, false, false
	}
	if !originForm(target, &rq.url) {
		return nil, 0, false, false
	}
	h, ok := h1parse.FieldsInto(rq.header, fields, rq.values[:])
	if !ok {
		return nil, 0, false, false
	}
	host := h["Host"]
	cl := h["Content-Length"]
	if len(host) > 1 || len(cl) > 1 || h["Transfer-Encoding"] != nil || h["Trailer"] != nil || h["Pragma"] != nil {
		return nil, 0, false, false
	}
	length := int64(0)
	if len(cl) == 1 {
		if length, ok = h1parse.ContentLength(cl[0]); !ok {
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
		RequestURI:    target,
	}
	if len(host) == 1 {
		r.Host = host[0]
		delete(h, "Host")
	}
	r.Close = h1parse.Closes(minor, h["Connection"])
	if length > 0 {
		r.Body = h1parse.NewBody(br, length)
	}
	_, _ = br.Discard(end)
	// r stays on the stack: its copy in rq is the one.
	return rq.setRequest(&r), len(host), oddNames(fields), true
}

// oddNames reports whether a field name of block, field lines that
// h1parse.Fields accepted, is not of letters, digits and '-' alone. A
// name ends at its line's first colon.
func oddNames(block string) bool {
	for {
		colon := strings.IndexByte(block, ':')
		if colon < 0 {
			return false
		}
		if nameKind(block[:colon]) != nameValid {
			return true
		}
		nl := strings.IndexByte(block[colon:], '\n')
		if nl < 0 {
			return false
		}
		block = block[colon+nl+1:]
	}
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
