package h1srv

import (
	"bufio"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// pendingMax is how much body a handler may write, without having set a
// Content-Length, before the headers go out: a handler that returns
// within it gets a Content-Length instead of chunked encoding, as with
// net/http.
const pendingMax = 2 << 10

// response is the http.ResponseWriter of one request; each connection
// has one, reset for every request.
type response struct {
	c      *conn
	req    *http.Request
	body   *body // nil without a request body
	header http.Header

	status        int  // 0 until WriteHeader
	wroteHeader   bool // a final status is set
	committed     bool // the header block is in the write buffer, but for its end while open
	open          bool // the Date field and the empty line are still to come (endHeader)
	chunked       bool
	isHEAD        bool
	contentLength int64 // from the handler's Content-Length, or -1
	written       int64 // body bytes the handler wrote
	pending       []byte
	trailers      []string // names the "Trailer" header declared
	closeAfter    bool     // the connection ends after this response
	hijacked      bool
	handlerDone   bool
	werr          error // the first error writing to the client

	fields  []headerField // scratch for sorting the header's fields
	scratch [24]byte

	// continueMu serializes a 100 Continue, written by whoever reads
	// the body (perhaps a transport's goroutine), with the writes of
	// the response's header; taken only when the request expects it.
	continueMu sync.Mutex
	expect     bool
	continued  bool // 100 Continue sent
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

func (w *response) reset(req *http.Request) {
	clear(w.header)
	*w = response{
		c:             w.c,
		req:           req,
		header:        w.header,
		contentLength: -1,
		isHEAD:        req.Method == http.MethodHead,
		pending:       w.pending[:0],
		fields:        w.fields[:0],
		trailers:      w.trailers[:0],
	}
	// Settled before the handler may change req (net/http issue 14940).
	w.closeAfter = req.Close || w.c.set.IdleTimeout <= 0 || w.c.lastRequest()
}

// Header returns the response's header map.
func (w *response) Header() http.Header { return w.header }

// WriteHeader sends (or prepares) the status line and header. 1xx codes
// other than 101 are sent at once and may be followed by others; 101 is a
// final status here: upgrades are for Hijack.
func (w *response) WriteHeader(code int) {
	if w.hijacked {
		w.c.srv.logf("h1srv: WriteHeader on a hijacked connection")
		return
	}
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if code == http.StatusSwitchingProtocols {
		w.closeAfter = true
	}
	if cl := w.header["Content-Length"]; len(cl) > 0 {
		v, err := strconv.ParseInt(textproto.TrimString(cl[0]), 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.srv.logf("h1srv: invalid Content-Length of %q", cl[0])
			delete(w.header, "Content-Length")
		}
	}
	if w.contentLength >= 0 || !bodyAllowed(code) {
		// The framing is known: the header can go now, and later
		// changes to the map have no effect, as net/http promises.
		w.commit()
	}
}

func (w *response) writeInformational(code int) {
	if w.expect {
		w.continueMu.Lock()
		defer w.continueMu.Unlock()
	}
	bw := w.c.bw
	bw.WriteString(statusLine(code))
	w.writeFields(true)
	bw.WriteString("\r\n")
	w.flushErr(bw.Flush())
	if code == http.StatusContinue {
		w.continued = true
	}
}

// Write sends body bytes: framed by the handler's Content-Length, else
// chunked for HTTP/1.1, else delimited by closing the connection. For HEAD
// requests the bytes are counted and dropped.
func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.isHEAD {
		return len(p), nil
	}
	if w.werr != nil {
		return 0, w.werr
	}
	if !w.committed || w.open {
		// Held back as long as the header block is: see endHeader.
		if len(w.pending)+len(p) <= pendingMax {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit()
		w.c.wnow = w.endHeader()
		w.writeBody(w.pending, p)
		w.c.wnow = time.Time{}
		w.pending = w.pending[:0]
		if w.werr != nil {
			return 0, w.werr
		}
		return len(p), nil
	}
	w.writeBody(p, nil)
	if w.werr != nil {
		return 0, w.werr
	}
	return len(p), nil
}

// writeBody writes a and then b, in one chunk when chunked.
func (w *response) writeBody(a, b []byte) {
	bw := w.c.bw
	n := len(a) + len(b)
	if n == 0 {
		return
	}
	if w.chunked {
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(n), 16))
		bw.WriteString("\r\n")
	}
	if len(a) > 0 {
		_, err := bw.Write(a)
		w.flushErr(err)
	}
	if len(b) > 0 {
		_, err := bw.Write(b)
		w.flushErr(err)
	}
	if w.chunked {
		_, err := bw.WriteString("\r\n")
		w.flushErr(err)
	}
}

func (w *response) flushErr(err error) {
	if err != nil && w.werr == nil {
		w.werr = err
		w.closeAfter = true
	}
}

// commit decides the framing and the connection's fate and writes the
// status line and header block to the buffer, all but its end: the Date
// field and the empty line wait, with the body written meanwhile (up to
// pendingMax), for endHeader, at the handler's end as a rule. The header
// map is read here, as net/http promises; the clock is read once, when
// the block ends, and that reading then serves the write that follows.
func (w *response) commit() {
	if w.committed {
		return
	}
	if w.expect {
		w.continueMu.Lock()
		defer w.continueMu.Unlock()
	}
	w.committed = true
	w.open = true
	c := w.c
	h := w.header
	req := w.req
	status := w.status
	ownLength := int64(-1) // a Content-Length computed here
	switch {
	case !bodyAllowed(status):
	case w.contentLength >= 0:
	case w.isHEAD:
		if w.handlerDone && w.written > 0 {
			ownLength = w.written
		}
	case w.handlerDone && len(h["Trailer"]) == 0 && !hasTrailerPrefix(h):
		ownLength = int64(len(w.pending))
	case req.ProtoAtLeast(1, 1):
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0: the end of the body is the close
	}
	if !w.closeAfter {
		if c.srv.inShutdown.Load() || httpsyntax.HasToken(h["Connection"], "close") {
			w.closeAfter = true
		} else if b := w.body; b != nil && !b.done() && w.unreadTooLarge(b) {
			w.closeAfter = true
		}
	}
	if w.chunked {
		if tr := h["Trailer"]; len(tr) > 0 {
			for _, v := range tr {
				for _, k := range strings.Split(v, ",") {
					if k = textproto.TrimString(k); k != "" {
						w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
					}
				}
			}
		}
	}

	bw := c.bw
	bw.WriteString(statusLine(status))
	w.writeFields(!bodyAllowed(status))
	if _, ok := h["Date"]; !ok {
		// The header's time, as nginx's Date, at no clock reading.
		bw.WriteString(dates.Line())
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if ownLength >= 0 {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.scratch[:0], ownLength, 10))
		bw.WriteString("\r\n")
	}
	if w.closeAfter {
		if !httpsyntax.HasToken(h["Connection"], "close") {
			bw.WriteString("Connection: close\r\n")
		}
	} else {
		if !req.ProtoAtLeast(1, 1) && len(h["Connection"]) == 0 {
			bw.WriteString("Connection: keep-alive\r\n")
		}
		if n := int64(c.set.KeepAliveHeader / time.Second); n > 0 {
			bw.WriteString("Keep-Alive: timeout=")
			bw.Write(strconv.AppendInt(w.scratch[:0], n, 10))
			bw.WriteString("\r\n")
		}
	}
}

// endHeader ends the header block that commit began with the empty
// line, and returns a clock reading, the response's one (see clock.go), for the
// caller to lend to the write that follows (conn.wnow) when nothing that
// may block comes between.
func (w *response) endHeader() time.Time {
	w.open = false
	now := monoClock() // for a write deadline only
	_, err := w.c.bw.WriteString("\r\n")
	w.flushErr(err)
	return now
}

// unreadTooLarge reports whether what the handler left of the request body
// will not be read to keep the connection.
func (w *response) unreadTooLarge(b *body) bool {
	if b.readAny.Load() || (b.expect && !b.continued.Load()) {
		return true
	}
	return w.req.ContentLength < 0 || w.req.ContentLength > maxDiscard
}

// writeFields writes the handler's header fields, sorted by name, but for
// those the server writes itself. noBody leaves out the body's framing.
func (w *response) writeFields(noBody bool) {
	h := w.header
	bw := w.c.bw
	// The names with their values, so that writing them looks none up.
	fields := w.fields[:0]
	for k, vv := range h {
		fields = append(fields, headerField{k, vv})
	}
	if len(fields) > 1 {
		slices.SortFunc(fields, func(a, b headerField) int { return strings.Compare(a.name, b.name) })
	}
	for _, f := range fields {
		k := f.name
		switch k {
		case "Transfer-Encoding":
			continue
		case "Content-Length":
			if noBody {
				continue
			}
		case "Content-Type":
			if w.status == http.StatusNotModified {
				continue // as net/http
			}
		case "Connection":
			if w.closeAfter && !httpsyntax.HasToken(f.values, "close") {
				continue // "Connection: close" follows
			}
		case "Keep-Alive":
			if w.c.set.KeepAliveHeader >= time.Second {
				continue // the server's own follows, if the connection stays
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpsyntax.ValidToken(k) {
			continue
		}
		for _, v := range f.values {
			writeField(bw, k, v)
		}
	}
	clear(fields) // the scratch keeps no response's values
	w.fields = fields[:0]
}

// headerField is a header's name and its values.
type headerField struct {
	name   string
	values []string
}

// finish completes the response once the handler has returned: header if
// not yet sent, last chunk and trailers, and the flush.
func (w *response) finish() {
	w.handlerDone = true
	w.sendHeader()
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				writeField(bw, k, v)
			}
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpsyntax.ValidToken(name) {
				for _, v := range vv {
					writeField(bw, name, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if w.contentLength >= 0 && bodyAllowed(w.status) && !w.isHEAD && w.written < w.contentLength {
		// The body is shorter than announced: only closing tells the
		// client.
		w.closeAfter = true
	}
	w.flushErr(bw.Flush())
	w.c.wnow = time.Time{} // unused if nothing was written
}

// sendHeader commits the response, 200 unless the handler chose a
// status, and ends its header block, with the body buffered so far. It
// lends the clock reading of the block's end to the next write
// (conn.wnow): the caller flushes at once and then clears it.
func (w *response) sendHeader() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit()
	}
	if w.open {
		// After the commit no 100 Continue is written (sendContinue):
		// the handler's goroutine is the only writer, and wnow needs
		// no lock.
		w.c.wnow = w.endHeader()
		w.writeBody(w.pending, nil)
		w.pending = w.pending[:0]
	}
}

// Flush sends what was written so far; see FlushError.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError sends the header, if not yet sent, and the buffered body to
// the client, for http.ResponseController. Without a Content-Length, the
// body is then chunked (HTTP/1.1) or close-delimited (HTTP/1.0).
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	w.sendHeader()
	w.flushErr(w.c.bw.Flush())
	w.c.wnow = time.Time{}
	return w.werr
}

// Hijack hands the connection over to the handler, with the buffered
// reader holding any bytes the client sent after its request. A header
// already written (WriteHeader) is flushed first.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if w.wroteHeader {
		if err := w.FlushError(); err != nil {
			return nil, nil, err
		}
	}
	if c.stopWatch() {
		c.forgetReadDeadline()
	}
	// The hijacker gets the connection without deadlines, as it
	// would from net/http with no timeouts set, and writes through the
	// buffer untouched by the Server's WriteTimeout.
	c.dlMu.Lock()
	_ = c.rd.Clear(c.rwc.SetReadDeadline)
	_ = c.wd.Clear(c.rwc.SetWriteDeadline)
	c.rawWrites = true
	c.pendingWD = false
	c.dlMu.Unlock()
	w.hijacked = true
	c.hijacked = true
	c.srv.trackConn(c, false)
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline sets the connection's read deadline, for
// http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error {
	if w.hijacked {
		return http.ErrHijacked
	}
	w.c.readAt(clock(), t)
	return nil
}

// SetWriteDeadline sets the connection's write deadline, for
// http.ResponseController; for the rest of the response it replaces the
// Server's WriteTimeout.
func (w *response) SetWriteDeadline(t time.Time) error {
	if w.hijacked {
		return http.ErrHijacked
	}
	c := w.c
	c.dlMu.Lock()
	c.ownWD = true
	if c.writing.Load() {
		// A write is under way, perhaps blocked: t bounds it.
		c.pendingWD = false
		_ = c.wd.SetAt(c.rwc.SetWriteDeadline, clock(), t)
	} else {
		// Set before the next write, with its clock reading: a
		// deadline bounds only writes, and this saves a reading.
		c.wantWD, c.pendingWD = t, true
	}
	c.dlMu.Unlock()
	return nil
}

// WriteTimeout returns the timeout the server applies to each write of
// the response (Settings.WriteTimeout, nginx's send_timeout: the time
// between two successive writes), and whether it is in effect: it is
// not once the handler set a write deadline of its own. A handler that
// would bound its writes by the same timeout leaves it to the server,
// and saves a deadline's clock reading per response.
func (w *response) WriteTimeout() (time.Duration, bool) {
	c := w.c
	c.dlMu.Lock()
	own := c.ownWD
	c.dlMu.Unlock()
	return c.set.WriteTimeout, !own
}

// RequestStart returns when the request's first byte was read, nginx's
// r->start: what $request_time counts from. The server read the clock
// then for the request's header deadline; a handler takes it instead of
// reading the clock again.
func (w *response) RequestStart() time.Time { return w.c.reqStart }

// RequestHeaderWhole reports whether the request's whole header block
// was in when the server read RequestStart's clock, as for most
// requests: then that reading is also when the header was complete, and
// nothing has waited on the client since. A handler may take it for the
// current time until it does something that may block.
func (w *response) RequestHeaderWhole() bool { return w.c.startFresh }

// EnableFullDuplex reports success: the request body may always be read
// while the response is written.
func (w *response) EnableFullDuplex() error { return nil }

// sendContinue writes "100 Continue" when a handler first reads the body
// of a request that expects it, unless the final response has begun.
func (w *response) sendContinue() {
	w.continueMu.Lock()
	defer w.continueMu.Unlock()
	if w.committed || w.continued || w.hijacked {
		return
	}
	w.continued = true
	bw := w.c.bw
	bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	w.flushErr(bw.Flush())
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified || status == 0
}

func hasTrailerPrefix(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// writeField writes one "name: value" line.
func writeField(bw *bufio.Writer, name, value string) {
	bw.WriteString(name)
	bw.WriteString(": ")
	writeFieldValue(bw, value)
	bw.WriteString("\r\n")
}

// writeFieldValue writes v with CR and LF turned to spaces, as net/http
// does, so a value cannot split the header block.
func writeFieldValue(bw *bufio.Writer, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	bw.WriteString(textproto.TrimString(v))
}
