package h1srv

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/limpet-lb/limpet/internal/h1parse"
	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// parseBuffered parses the request whose header block is whole in br's
// buffer, when it has the common shape: an origin-form target, HTTP/1.0 or
// 1.1, field lines h1parse.Fields accepts, at most one Host and one
// Content-Length, no Transfer-Encoding, Trailer or Pragma. The request is
// the one http.ReadRequest would return (FuzzParseBuffered compares them),
// and hosts is the number of Host fields it had (ReadRequest deletes
// them). Otherwise ok is false and nothing is consumed: the caller reads
// the request with http.ReadRequest, which also words the errors.
func parseBuffered(br *bufio.Reader) (req *http.Request, hosts int, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	end := h1parse.BlockEnd(buf)
	if end == 0 {
		return nil, 0, false
	}
	block := string(buf[:end]) // the one copy: every string below is part of it
	line, fields, _ := strings.Cut(block, "\r\n")
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !httpsyntax.ValidToken(method) {
		return nil, 0, false
	}
	var minor int
	switch proto {
	case "HTTP/1.1":
		minor = 1
	case "HTTP/1.0":
	default:
		return nil, 0, false
	}
	u, ok := originForm(target)
	if !ok {
		return nil, 0, false
	}
	h, ok := h1parse.Fields(fields)
	if !ok {
		return nil, 0, false
	}
	host := h["Host"]
	cl := h["Content-Length"]
	if len(host) > 1 || len(cl) > 1 || h["Transfer-Encoding"] != nil || h["Trailer"] != nil || h["Pragma"] != nil {
		return nil, 0, false
	}
	length := int64(0)
	if len(cl) == 1 {
		if length, ok = contentLength(cl[0]); !ok {
			return nil, 0, false
		}
	}
	req = &http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    1,
		ProtoMinor:    minor,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: length,
		RequestURI:    target,
	}
	if len(host) == 1 {
		req.Host = host[0]
		delete(h, "Host")
	}
	conn := h["Connection"]
	if minor == 0 {
		req.Close = httpsyntax.HasToken(conn, "close") || !httpsyntax.HasToken(conn, "keep-alive")
	} else {
		req.Close = httpsyntax.HasToken(conn, "close")
	}
	if length > 0 {
		req.Body = &fixedBody{r: br, n: length}
	}
	_, _ = br.Discard(end)
	return req, len(host), true
}

// originForm returns the URL of an origin-form request target, as
// url.ParseRequestURI does, when it has nothing to unescape: a path of
// bytes that need no escaping and the query as it is. It returns false
// for anything else (escapes, a fragment mark, an empty query, control
// bytes, an absolute or authority form).
func originForm(target string) (*url.URL, bool) {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' || hasQuery && (query == "" || strings.IndexByte(query, '?') == len(query)-1) {
		// "/a?" and "/a?b?" set ForceQuery, or cut the query elsewhere.
		return nil, false
	}
	for i := 0; i < len(path); i++ {
		if !pathByte[path[i]] {
			return nil, false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c == 0x7f {
			return nil, false
		}
	}
	return &url.URL{Path: path, RawQuery: query}, true
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

// contentLength parses a Content-Length of up to 18 digits, which
// strconv.ParseUint(s, 10, 63) accepts too.
func contentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// fixedBody is a request body of a known length read from the
// connection's buffer: net/http's, without its locks, which h1srv's body
// wrapper has. The connection ending before the body does is
// io.ErrUnexpectedEOF; its last bytes come with io.EOF.
type fixedBody struct {
	r *bufio.Reader
	n int64 // bytes left
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	switch {
	case err == io.EOF && b.n > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.n == 0:
		err = io.EOF
	}
	return n, err
}

// Close does nothing: what is left of the body is the server's to read
// or not (see body.discardRest).
func (b *fixedBody) Close() error { return nil }
