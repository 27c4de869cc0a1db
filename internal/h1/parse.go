package h1

import (
	"bufio"
	"net/http"

	"github.com/limpet-lb/limpet/internal/h1parse"
)

// parseBuffered parses the response to req whose header block is whole
// in br's buffer, when it has the common shape: HTTP/1.0 or 1.1, a status
// of three digits, field lines h1parse.FieldsFramed accepts, and a body of known
// length (none, or one Content-Length); no Transfer-Encoding, Trailer or
// Pragma. The response is the one http.ReadResponse would return
// (FuzzParseBuffered compares them). Otherwise ok is false and nothing is
// consumed: the caller reads the response with http.ReadResponse, which
// also words the errors, after checkHead has held its framing to nginx's
// rules. Every response whose framing those rules refuse (several
// Content-Length fields, Transfer-Encoding with Content-Length, an invalid
// Content-Length, a Transfer-Encoding other than chunked) is one this
// declines, so the rules are applied in one place (FuzzParseBuffered
// checks that too).
//
// The response, its body and its header's values are parts of r, which
// the caller allocates, and whose fields parseBuffered overwrites: when it
// declines, r holds nothing anyone refers to and may be reused.
func parseBuffered(br *bufio.Reader, req *http.Request, r *response) (res *http.Response, ok bool) {
	line, fields, end, ok := h1parse.Head(br)
	if !ok {
		return nil, false
	}
	// "HTTP/1.x" and a space: the protocol is the line's first eight
	// bytes, and the first space the ninth.
	if len(line) < len("HTTP/1.1 200") || line[8] != ' ' {
		return nil, false
	}
	proto, status := line[:8], line[9:]
	minor, ok := h1parse.Version(proto)
	if !ok {
		return nil, false
	}
	if len(status) > 3 && status[3] != ' ' {
		return nil, false
	}
	code := 0
	for i := range 3 {
		c := status[i]
		if c < '0' || c > '9' {
			return nil, false
		}
		code = code*10 + int(c-'0')
	}
	// The fields that decide the framing come with the header, so that
	// none is looked up.
	var f h1parse.Framing
	h, ok := h1parse.FieldsFramed(r.res.Header, fields, r.values[:], &f, false)
	if !ok || f.ContentLengths > 1 || f.TransferEncodings+f.Trailers+f.Pragmas > 0 {
		return nil, false
	}
	declared := int64(-1)
	if f.ContentLengths == 1 {
		if declared, ok = h1parse.ContentLength(f.ContentLength); !ok {
			return nil, false
		}
	}
	// net/http's fixLength: the body's length.
	method := "GET"
	if req != nil {
		method = req.Method
	}
	length := declared
	switch {
	case method == http.MethodHead, code/100 == 1, code == http.StatusNoContent, code == http.StatusNotModified:
		length = 0
	case declared < 0:
		return nil, false // read to the connection's end: net/http's
	}
	res = &r.res
	*res = http.Response{
		Status:        status,
		StatusCode:    code,
		Proto:         proto,
		ProtoMajor:    1,
		ProtoMinor:    minor,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: length,
		Request:       req,
	}
	if method == http.MethodHead {
		res.ContentLength = declared // what a GET would have had, or -1
	}
	if res.Close = f.Closes(minor, h); res.Close && minor == 1 {
		delete(h, "Connection") // as net/http's shouldClose does for responses
	}
	if length > 0 {
		r.fixed.Reset(br, length)
		res.Body = &r.fixed
	}
	_, _ = br.Discard(end)
	return res, true
}

// response is what the fast path allocates for a response, in one piece
// rather than four: the http.Response, its body as h1parse reads it, the
// body the caller reads (which hands the connection back at its end) and
// the array of the header's values. None of it can be kept with the
// connection for the next response: the caller holds the response, and
// reads its header after the body's end ($upstream_http_* variables, the
// access log), when the connection may be carrying another request. A
// caller that knows when it is done with the response lends one instead
// (ResponseStorage), and the header's map, res.Header, is kept from one
// parse to the next (h1parse.FieldsInto).
type response struct {
	res    http.Response
	fixed  h1parse.Body
	body   body
	values [responseValues]string
}

// clear drops the values of a parse nobody refers to (one declined, an
// informational response skipped), keeping the header's map.
func (r *response) clear() { *r = response{res: http.Response{Header: r.res.Header}} }

// responseValues is how many field lines a response's header may have
// for its values to be kept in the response's own array (h1parse's
// FieldsBacked); a longer header gets an array of its own. Servers send
// a handful: Go's three or four, nginx's six to eight.
const responseValues = 8
