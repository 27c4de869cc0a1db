package h1

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
)

// The framing of response bodies.
//
// A response's Content-Length and Transfer-Encoding fields say where its
// body ends, so where the next response on the connection begins. Two
// readers that disagree on them see different responses in the same bytes
// (response splitting, RFC 9112 section 11.1). http.ReadResponse accepts
// some such responses and re-frames them: it keeps one of several identical
// Content-Length fields, drops Content-Length beside Transfer-Encoding
// (RFC 9112 section 6.3 allows that), and ignores Transfer-Encoding in an
// HTTP/1.0 response. nginx refuses them all as invalid headers
// (ngx_http_upstream_process_content_length and
// ngx_http_upstream_process_transfer_encoding): the attempt fails with 502
// under proxy_next_upstream's invalid_header, and the connection is closed.
// So does h1, with nginx's words: checkFraming applies nginx's rules to the
// field lines as they came, before anything is made of them.
//
// One rule is RFC 9112's rather than nginx's: nginx decodes a chunked
// HTTP/1.0 response, where RFC 9112 section 6.1 says a Transfer-Encoding in
// an HTTP/1.0 message MUST be treated as faulty framing, and
// http.ReadResponse would pass the chunks on undecoded.

// headerError is a response h1 refuses as nginx refuses an invalid header:
// one whose header block could not be parsed, that was too large, or whose
// body's framing is ambiguous. The connection it came on is closed.
type headerError struct {
	msg string
	err error // what http.ReadResponse or the connection said, if anything
}

func (e *headerError) Error() string { return "h1: invalid response header: " + e.msg }
func (e *headerError) Unwrap() error { return e.err }

// IsInvalidHeader reports an upstream response refused for its header, as
// nginx's "upstream sent invalid header" and its kin: the failure that
// proxy_next_upstream calls invalid_header. Nothing of the response was
// returned, and the connection was closed.
func IsInvalidHeader(err error) bool {
	var he *headerError
	return errors.As(err, &he)
}

// checkHead applies checkFraming to the header block at the start of
// block, whose first line is the status line; the block may be followed by
// anything (the scan ends at its empty line), or be cut short: whole
// reports whether its end was there. A status line that does not begin
// with "HTTP/1.0" is taken for HTTP/1.1's: what is neither,
// http.ReadResponse refuses anyway.
func checkHead(block []byte) (whole bool, err error) {
	i := bytes.IndexByte(block, '\n')
	if i < 0 {
		return false, nil
	}
	minor := 1
	if bytes.HasPrefix(block, []byte("HTTP/1.0")) {
		minor = 0
	}
	return checkFraming(minor, block[i+1:])
}

// checkFraming applies nginx's rules for the fields that frame a body to
// the field lines of a response of HTTP/1.minor, in their order, as
// nginx's header handlers meet them: a second Content-Length (even one of
// the same value), a second Transfer-Encoding, Content-Length and
// Transfer-Encoding together (whichever comes first), a Content-Length
// that is not a number of at most 63 bits, a Transfer-Encoding other than
// "chunked", and, RFC 9112's rule, any Transfer-Encoding in an HTTP/1.0
// response. fields runs from the first field line to the empty line that
// ends the block, or beyond it; lines may end in CRLF or LF, as
// http.ReadResponse allows.
//
// As nginx's ngx_http_parse_header_line, it also refuses a line folded
// onto the one before (obsolete line folding, which net/http would join)
// and a field name with a space or a control byte (which net/http would
// keep as a name of its own, "Content-Length " beside "Content-Length").
// Other malformations are http.ReadResponse's to find. whole reports
// whether the block's empty line was reached. A last line not ended yet,
// in a block still arriving, is not judged: the rest of it may make it
// sound.
func checkFraming(minor int, fields []byte) (whole bool, err error) {
	var cl, te []byte // the first Content-Length and Transfer-Encoding lines
	for len(fields) > 0 {
		i := bytes.IndexByte(fields, '\n')
		if i < 0 {
			return false, nil // an unfinished line
		}
		line := bytes.TrimSuffix(fields[:i], []byte("\r"))
		fields = fields[i+1:]
		if len(line) == 0 {
			return true, nil // the end of the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			return false, &headerError{msg: fmt.Sprintf("upstream sent a folded header line: %q", line)}
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // no field line: http.ReadResponse refuses it
		}
		for _, c := range line[:colon] {
			if c <= ' ' || c == 0x7f {
				return false, &headerError{msg: fmt.Sprintf("upstream sent invalid header: %q", fieldText(line))}
			}
		}
		// Most lines are neither field: their names' lengths tell.
		if colon != len(contentLength) && colon != len(transferEncoding) {
			continue // or no field line: http.ReadResponse refuses it
		}
		name, value := line[:colon], textproto.TrimBytes(line[colon+1:])
		switch {
		case bytes.EqualFold(name, contentLength):
			switch {
			case cl != nil:
				return false, duplicate(line, cl)
			case te != nil:
				return false, errCLAndTE
			}
			cl = line
			if !validLength(value) {
				return false, &headerError{msg: fmt.Sprintf("upstream sent invalid \"Content-Length\" header: %q", fieldText(line))}
			}
		case bytes.EqualFold(name, transferEncoding):
			switch {
			case te != nil:
				return false, duplicate(line, te)
			case cl != nil:
				return false, errCLAndTE
			}
			te = line
			if minor == 0 {
				return false, &headerError{msg: fmt.Sprintf("upstream sent \"Transfer-Encoding\" in an HTTP/1.0 response: %q", value)}
			}
			if !bytes.EqualFold(value, chunked) {
				return false, &headerError{msg: fmt.Sprintf("upstream sent unknown \"Transfer-Encoding\": %q", value)}
			}
		}
	}
	return false, nil
}

var (
	contentLength    = []byte("Content-Length")
	transferEncoding = []byte("Transfer-Encoding")
	chunked          = []byte("chunked")
)

// errCLAndTE is nginx's refusal of a response framed both ways.
var errCLAndTE = &headerError{msg: `upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time`}

// duplicate is nginx's refusal of a second field that frames the body.
func duplicate(line, previous []byte) error {
	return &headerError{msg: fmt.Sprintf("upstream sent duplicate header line: %q, previous value: %q", fieldText(line), fieldText(previous))}
}

// fieldText is a field line as nginx quotes it: "Name: value".
func fieldText(line []byte) string {
	colon := bytes.IndexByte(line, ':')
	return string(line[:colon]) + ": " + string(textproto.TrimBytes(line[colon+1:]))
}

// validLength reports a Content-Length value nginx (ngx_atoof) and
// http.ReadResponse (strconv.ParseUint(v, 10, 63)) both accept: decimal
// digits only, no sign, at most 2^63-1.
func validLength(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	_, err := strconv.ParseUint(string(v), 10, 63)
	return err == nil
}

// readError tells what an error of http.ReadResponse is: a response that
// is not valid HTTP, or too large, becomes a headerError; the connection's
// own failures (a timeout, the server closing it mid-header) are returned
// as they are.
func readError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errHeadersTooLarge):
		return &headerError{msg: "upstream sent too big header", err: err}
	case isTimeout(err) || connGone(err) || isNetError(err):
		return err
	}
	return &headerError{msg: err.Error(), err: err}
}

// isNetError reports a failure of the connection itself.
func isNetError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, net.ErrClosed)
}
