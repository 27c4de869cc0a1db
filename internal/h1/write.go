package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// defaultUserAgent is sent when the request has no User-Agent header, as
// http.Transport does; a present but empty one means none is sent.
const defaultUserAgent = "Go-http-client/1.1"

// How the request body is framed.
const (
	noBody = iota
	lengthBody
	chunkedBody
)

// outgoing is what checkRequest worked out about a request, for writing it.
type outgoing struct {
	addr    string // host:port to dial
	tls     bool   // over TLS (scheme "https")
	method  string
	host    string // the Host header
	target  string // the request-target, without the query
	query   string // the raw query, written after '?' when hasQuery
	hasQ    bool
	framing int
	close   bool   // send Connection: close
	header  header // the fields to send

	// client holds the Forward's client fields that are sent, but for
	// User-Agent (written first), as checkRequest found them, so that
	// writeRequest need not go through the client's map and judge each
	// field again; clientN is how many. Beyond len(client) fields,
	// clientAll is set and writeRequest goes through the map.
	client    [maxListed]field
	clientN   int
	clientAll bool

	// storage is the response's, lent by the caller (Forward.Storage);
	// nil for one of the transport's own.
	storage *response
}

// field is one header field with its values.
type field struct {
	name   string
	values []string
}

// maxListed is how many of a Forward's client fields checkRequest lists
// for writeRequest; requests carry about ten.
const maxListed = 16

// checkRequest validates req before anything is sent, so that a request
// that could be used to smuggle another (a CR or LF in a header, a request
// line with a space) fails here, with nothing written to any connection.
func checkRequest(req *http.Request, body io.ReadCloser, o *outgoing) error {
	u := req.URL
	if u.Host == "" {
		return errMissingHost
	}
	o.addr = u.Host
	o.tls = u.Scheme == "https"
	if !hasPort(o.addr) {
		port := "80"
		if o.tls {
			port = "443"
		}
		o.addr = net.JoinHostPort(u.Hostname(), port)
	}

	o.method = req.Method
	if o.method == "" {
		o.method = http.MethodGet
	}
	if !httpsyntax.ValidToken(o.method) {
		return &requestError{"invalid method " + strconv.Quote(o.method)}
	}

	o.host = req.Host
	if o.host == "" {
		o.host = u.Host
	}
	if !httpsyntax.ValidHost(o.host) {
		return &requestError{"invalid Host header " + strconv.Quote(o.host)}
	}

	if u.Opaque != "" {
		o.target = u.RequestURI()
	} else {
		o.target = u.EscapedPath()
		if o.target == "" {
			o.target = "/"
		}
		o.query, o.hasQ = u.RawQuery, u.ForceQuery || u.RawQuery != ""
	}
	if !validTarget(o.target) || !validTarget(o.query) {
		t := o.target
		if o.hasQ {
			t += "?" + o.query
		}
		return &requestError{"invalid character in request target " + strconv.Quote(t)}
	}

	switch {
	case body == nil && req.ContentLength > 0:
		return &requestError{"ContentLength=" + strconv.FormatInt(req.ContentLength, 10) + " with no Body"}
	case body == nil:
		o.framing = noBody
	case req.ContentLength > 0:
		o.framing = lengthBody
	default:
		// -1 is unknown; so is 0 with a body, as http.Transport
		// reads it.
		o.framing = chunkedBody
	}
	o.close = wantsClose(req, o.header)

	if fwd := o.header.fwd; fwd != nil {
		for k, vv := range fwd.Client {
			if !skipHeader(k) && fwd.passes(k) {
				if err := checkField(k, vv...); err != nil {
					return err
				}
				switch {
				case k == "User-Agent":
				case o.clientN < len(o.client):
					o.client[o.clientN] = field{k, vv}
					o.clientN++
				default:
					o.clientAll = true
				}
			}
		}
		for _, f := range fwd.Fields {
			if !skipHeader(f.Name) {
				if err := checkField(f.Name, f.Value); err != nil {
					return err
				}
			}
		}
	} else {
		for k, vv := range req.Header {
			if !skipHeader(k) {
				if err := checkField(k, vv...); err != nil {
					return err
				}
			}
		}
	}
	if o.framing == chunkedBody {
		for k := range req.Trailer {
			if !httpsyntax.ValidToken(k) || skipHeader(k) {
				return &requestError{"invalid trailer field name " + strconv.Quote(k)}
			}
		}
	}
	return nil
}

// writeRequest writes the request and its body, and flushes them. It always
// closes body. An error reading body is a *bodyError; any other is the
// connection's.
func (c *conn) writeRequest(req *http.Request, body io.ReadCloser, o *outgoing) (err error) {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(&c.w)
	c.w.n = 0
	defer func() {
		bw.Reset(nil)
		writers.Put(bw)
		closeBody(body)
	}()

	bw.WriteString(o.method)
	bw.WriteByte(' ')
	bw.WriteString(o.target)
	if o.hasQ {
		bw.WriteByte('?')
		bw.WriteString(o.query)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(o.host)
	bw.WriteString("\r\n")

	if _, ok := req.Header["User-Agent"]; !ok && o.header.fwd == nil {
		bw.WriteString("User-Agent: " + defaultUserAgent + "\r\n")
	} else if ua := o.header.values("User-Agent"); len(ua) > 0 && ua[0] != "" {
		writeField(bw, "User-Agent", ua[0])
	}
	if o.close {
		bw.WriteString("Connection: close\r\n")
	}
	// The framing is ours alone: skipHeader drops any Content-Length or
	// Transfer-Encoding in req.Header, so the two are never sent together.
	switch {
	case o.framing == lengthBody:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), req.ContentLength, 10))
		bw.WriteString("\r\n")
	case o.framing == chunkedBody:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(req.Trailer) > 0 {
			bw.WriteString("Trailer: ")
			first := true
			for k := range req.Trailer {
				if !first {
					bw.WriteByte(',')
				}
				first = false
				bw.WriteString(k)
			}
			bw.WriteString("\r\n")
		}
	case o.method != http.MethodGet && o.method != http.MethodHead:
		// Many servers want a length on bodiless POST and PUT; Go
		// sends it for every method but GET and HEAD.
		bw.WriteString("Content-Length: 0\r\n")
	}
	if fwd := o.header.fwd; fwd != nil {
		if o.clientAll {
			for k, vv := range fwd.Client {
				if skipHeader(k) || k == "User-Agent" || !fwd.passes(k) {
					continue
				}
				for _, v := range vv {
					writeField(bw, k, v)
				}
			}
		} else {
			for _, f := range o.client[:o.clientN] {
				for _, v := range f.values {
					writeField(bw, f.name, v)
				}
			}
		}
		for _, f := range fwd.Fields {
			if !skipHeader(f.Name) && f.Name != "User-Agent" {
				writeField(bw, f.Name, f.Value)
			}
		}
	} else {
		for k, vv := range req.Header {
			if skipHeader(k) || k == "User-Agent" {
				continue
			}
			for _, v := range vv {
				writeField(bw, k, v)
			}
		}
	}
	bw.WriteString("\r\n")

	if o.framing != noBody {
		// Reading the body may block: its writes read the clock.
		c.w.at = time.Time{}
	}
	switch o.framing {
	case lengthBody:
		err = writeLengthBody(bw, body, req.ContentLength)
	case chunkedBody:
		err = writeChunkedBody(bw, body, req.Trailer)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// checkField checks a field's name and values before they are sent: a CR
// or LF in either could end the header early and smuggle a request.
func checkField(k string, vv ...string) error {
	if !httpsyntax.ValidToken(k) {
		return &requestError{"invalid header field name " + strconv.Quote(k)}
	}
	for _, v := range vv {
		if !validValue(v) {
			return &requestError{"invalid header field value for " + strconv.Quote(k)}
		}
	}
	return nil
}

// writeField writes one header field; its value is trimmed as Go trims it.
// A field that fits in the buffer is appended to it in one piece.
func writeField(bw *bufio.Writer, k, v string) {
	v = textproto.TrimString(v)
	if len(k)+len(v)+4 <= bw.Available() {
		b := bw.AvailableBuffer()
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
		bw.Write(b)
		return
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// writeLengthBody copies exactly n bytes of body.
func writeLengthBody(bw *bufio.Writer, body io.Reader, n int64) error {
	buf := bodyBuf.Get().(*[bodyBufferSize]byte)
	defer bodyBuf.Put(buf)
	left := n
	for left > 0 {
		p := buf[:]
		if int64(len(p)) > left {
			p = p[:left]
		}
		m, rerr := body.Read(p)
		if m > 0 {
			if _, err := bw.Write(p[:m]); err != nil {
				return err
			}
			left -= int64(m)
		}
		switch {
		case rerr == io.EOF && left > 0:
			return &requestError{"ContentLength=" + strconv.FormatInt(n, 10) + " with Body length " + strconv.FormatInt(n-left, 10)}
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return &bodyError{err: rerr}
		}
	}
	return nil
}

// writeChunkedBody copies body in the chunked coding (RFC 9112 section 7.1),
// flushing each chunk so a streamed upload reaches the server as it comes,
// then the trailer fields, which the body's reader fills in by its end.
func writeChunkedBody(bw *bufio.Writer, body io.Reader, trailer http.Header) error {
	buf := bodyBuf.Get().(*[bodyBufferSize]byte)
	defer bodyBuf.Put(buf)
	for {
		m, rerr := body.Read(buf[:])
		if m > 0 {
			b := strconv.AppendUint(bw.AvailableBuffer(), uint64(m), 16)
			bw.Write(append(b, '\r', '\n'))
			bw.Write(buf[:m])
			bw.WriteString("\r\n")
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &bodyError{err: rerr}
		}
	}
	bw.WriteString("0\r\n")
	for k, vv := range trailer {
		for _, v := range vv {
			if !validValue(v) {
				return &requestError{"invalid trailer field value for " + strconv.Quote(k)}
			}
			writeField(bw, k, v)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// skipHeader reports the fields of req.Header the transport never copies:
// the framing and connection-management ones (RFC 9112 section 6, RFC 9110
// section 7.6.1), which it writes itself, and Host, which comes from
// req.Host. Names are compared without regard to case, so a non-canonical
// key cannot slip a second Content-Length through.
func skipHeader(k string) bool {
	switch len(k) {
	case 2:
		return strings.EqualFold(k, "Te")
	case 4:
		return strings.EqualFold(k, "Host")
	case 7:
		return strings.EqualFold(k, "Upgrade") || strings.EqualFold(k, "Trailer")
	case 10:
		return strings.EqualFold(k, "Connection") || strings.EqualFold(k, "Keep-Alive")
	case 14:
		return strings.EqualFold(k, "Content-Length")
	case 17:
		return strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// hasPort reports whether a URL's host has a port.
func hasPort(h string) bool {
	return strings.LastIndexByte(h, ':') > strings.LastIndexByte(h, ']')
}

// validValue reports whether s may be a field value (RFC 9110 section
// 5.5): no control characters but horizontal tab, so no CR, LF or NUL.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validTarget reports whether s may be part of the request-target: no
// control characters and no space, either of which would end the request
// line early.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
