package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
)

// copyBufferSize is the size of the pooled buffers response bodies are
// copied through.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// respond sends the upstream response res to the client: its headers
// without hop-by-hop ones, and of a single-valued field the upstream
// repeated only the first line (see singleValued), limpet's persistence
// cookie beside the application's own Set-Cookie headers (on every
// response, as nginx; with assign_only when the user needs one), and the
// body streamed as it arrives.
//
// The location's rules (respheaders.go) change the upstream's fields on
// the way: the hidden ones stay behind, Location and Refresh go through
// proxy_redirect, the application's Set-Cookie fields (not limpet's own)
// through proxy_cookie_*. at is when the response header came: the
// cookie's expiry counts from it.
func (h *Handler) respond(w *responseWriter, r *http.Request, vr *vars.Request, res *http.Response, st *live.Snapshot, dec *sticky.Decision, server *upstream.Server, at time.Time, readTimeout time.Duration, debugHeader bool, rules *respRules) {
	defer res.Body.Close()
	if w.interceptError(res.StatusCode) {
		return // proxy_intercept_errors: the error page answered
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		h.upgrade(w, r, vr, res, st, dec, server, at, readTimeout, debugHeader, rules)
		return
	}
	removeHopHeaders(res.Header)
	dst := w.Header()
	for k, v := range res.Header {
		if _, hidden := rules.hide[k]; hidden {
			continue
		}
		if len(v) > 1 && singleValued(k) {
			v = h.firstOnly(k, v, st.Pool.Name, server)
		}
		dst[k] = v
	}
	rules.rewrite(dst, vr)
	if _, ok := res.Header["Content-Type"]; !ok {
		// Without this, Go's server would guess a type from the body:
		// a proxy passes the upstream's silence on.
		dst["Content-Type"] = nil
	}
	if st.Sticky != nil && st.Sticky.Sends(dec, server) {
		st.Sticky.AddSetCookie(dst, server.ID, at, vr)
	}
	if debugHeader && dec.Outcome != sticky.None {
		dst["X-Limpet-Sticky"] = []string{dec.Label()}
	}
	// Announce the trailers the upstream declared, so they can follow
	// the body (RFC 9110 section 6.5).
	if len(res.Trailer) > 0 {
		names := make([]string, 0, len(res.Trailer))
		for k := range res.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(res.StatusCode)

	if err := h.copyBody(w, res); err != nil {
		w.broken = true
		if errors.Is(err, errClientWrite) || r.Context().Err() != nil {
			return // the client is gone: nothing is the upstream's fault
		}
		// The upstream broke off mid-body. The status line is gone, so
		// the only honest signal left is to abort the client's
		// connection: the client then sees a truncated response, not a
		// complete-looking one.
		h.errorLog.Warn("upstream response body broken off", slog.String("upstream", st.Pool.Name),
			slog.String("server", server.Addr), slog.String("error", err.Error()))
		// Send what was buffered, headers included, so the client sees
		// the status and a short body rather than a bare EOF.
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	for k, v := range res.Trailer {
		dst[http.TrailerPrefix+k] = v
	}
	if rules.trailers != nil {
		addTrailers(rules.trailers, dst, res.StatusCode, vr)
	}
}

// singleValued reports the response fields of which nginx's upstream
// module keeps only the first line and drops the others with a warning
// (ngx_http_upstream_process_header_line and its kin for Last-Modified,
// Expires and the X-Accel fields, in ngx_http_upstream_headers_in). Other
// fields keep every line: the list-valued ones (Cache-Control, Link, Vary,
// WWW-Authenticate), Set-Cookie, and those nginx does not interpret.
// Content-Length and Transfer-Encoding never get here repeated: h1 refuses
// such responses. Names are canonical, as both transports give them.
func singleValued(name string) bool {
	switch name {
	case "Content-Type", "Date", "Etag", "Expires", "Last-Modified", "Location",
		"Refresh", "Server", "Status", "X-Accel-Expires", "X-Accel-Limit-Rate", "X-Accel-Redirect":
		return true
	}
	return false
}

// firstOnly returns the first of the values v of a single-valued field
// the upstream sent several times, and logs the others as ignored, as
// nginx does ("upstream sent duplicate header line: ..., ignored").
func (h *Handler) firstOnly(name string, v []string, upstreamName string, server *upstream.Server) []string {
	h.errorLog.Warn("upstream sent duplicate header line, ignored", slog.String("upstream", upstreamName),
		slog.String("server", server.Addr), slog.String("header", name+": "+v[1]),
		slog.String("previous", name+": "+v[0]), slog.Int("ignored", len(v)-1))
	return v[:1:1]
}

// errClientWrite marks a failure to write to the client.
var errClientWrite = errors.New("writing to the client failed")

// copyBody streams the response body. Responses of unknown length (chunked,
// server-sent events) are flushed after every read, so each event reaches
// the client when the upstream produces it; others go through the
// connection's buffer.
func (h *Handler) copyBody(w *responseWriter, res *http.Response) error {
	flush := res.ContentLength < 0 || isEventStream(res.Header.Get("Content-Type"))
	rc := http.NewResponseController(w)
	// send_timeout bounds each write to the client, moving the deadline
	// lazily: once per deadline.MaxSlack on a long response, not once per
	// write. It is not cleared here, which would cost a call per
	// response: net/http clears the connection's write deadline itself
	// once the handler returns (server.go, conn.serve, after
	// finishRequest), so it cannot reach a later response on the
	// connection, and until then it bounds the flush of what net/http
	// buffered too. TestClientDeadlinesDoNotOutliveTheRequest pins that.
	var wd deadline.Lazy
	timeout := w.sendTimeout()
	// A server that bounds each write by the same timeout (h1srv, with
	// the server's send_timeout) is left to do it.
	serverBounds := false
	if st, ok := w.ResponseWriter.(serverWriteTimeout); ok {
		t, inEffect := st.WriteTimeout()
		serverBounds = inEffect && t == timeout
	}
	var limit *rateLimit
	if rate, after := h.rateOf(w); rate > 0 {
		limit = &rateLimit{rate: rate, after: after}
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 && limit != nil {
			if err := h.writeLimited(w, rc, &wd, timeout, limit, buf[:n]); err != nil {
				return err
			}
		} else if n > 0 {
			if !serverBounds {
				_ = wd.Extend(rc.SetWriteDeadline, timeout)
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return errClientWrite
			}
			if flush {
				if err := rc.Flush(); err != nil {
					return errClientWrite
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// serverWriteTimeout is a ResponseWriter whose server bounds each write
// by a timeout of its own (h1srv's response: WriteTimeout).
type serverWriteTimeout interface {
	WriteTimeout() (time.Duration, bool)
}

// writeLimited writes p at limit_rate: in pieces, each flushed to the
// client, waiting between them as limit says. The write deadline
// (send_timeout) is moved for each piece, so a wait does not count
// against it, as nginx does not count a delayed connection's wait.
func (h *Handler) writeLimited(w *responseWriter, rc *http.ResponseController, wd *deadline.Lazy, timeout time.Duration, limit *rateLimit, p []byte) error {
	ctx := w.vr.R.Context()
	for len(p) > 0 {
		n, delay := limit.grant(len(p), h.now())
		if n == 0 {
			if err := rc.Flush(); err != nil {
				return errClientWrite
			}
			if !wait(ctx, delay) {
				return errClientWrite
			}
			continue
		}
		_ = wd.Extend(rc.SetWriteDeadline, timeout)
		if _, err := w.Write(p[:n]); err != nil {
			return errClientWrite
		}
		limit.sent += int64(n)
		p = p[n:]
	}
	if err := rc.Flush(); err != nil {
		return errClientWrite
	}
	return nil
}

// isEventStream reports a text/event-stream media type, parameters
// allowed, without mime.ParseMediaType's allocations: it runs for every
// response.
func isEventStream(contentType string) bool {
	const es = "text/event-stream"
	if len(contentType) < len(es) || !strings.EqualFold(contentType[:len(es)], es) {
		return false
	}
	rest := contentType[len(es):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

// sendTimeout is nginx's send_timeout default: the longest limpet waits
// for a client to accept more of a response before it gives up on it, so
// a client that stops reading does not hold an upstream connection for
// ever.
const sendTimeout = 60 * time.Second

// upgradedConn is a client connection taken over for an upgraded protocol.
type upgradedConn struct {
	client net.Conn
	server io.ReadWriteCloser
	once   sync.Once
}

func (c *upgradedConn) close() {
	c.once.Do(func() {
		_ = c.client.Close()
		_ = c.server.Close()
	})
}

// upgrade completes a protocol switch (RFC 9110 section 7.8): the 101
// response goes to the client, and from then on bytes are copied both ways
// until either side closes. The persistence cookie rides on the 101
// response, so a WebSocket's upgrade request is sticky like any other.
func (h *Handler) upgrade(w *responseWriter, r *http.Request, vr *vars.Request, res *http.Response, st *live.Snapshot, dec *sticky.Decision, server *upstream.Server, at time.Time, readTimeout time.Duration, debugHeader bool, rules *respRules) {
	want, got := upgradeType(r.Header), upgradeType(res.Header)
	if !strings.EqualFold(want, got) {
		h.errorLog.Warn("upstream switched to a protocol the client did not ask for",
			slog.String("upstream", st.Pool.Name), slog.String("asked", want), slog.String("got", got))
		writeError(w, http.StatusBadGateway)
		return
	}
	backConn, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		writeError(w, http.StatusBadGateway)
		return
	}
	removeHopHeaders(res.Header)
	for k, v := range res.Header {
		if _, hidden := rules.hide[k]; hidden {
			delete(res.Header, k)
			continue
		}
		if len(v) > 1 && singleValued(k) {
			res.Header[k] = h.firstOnly(k, v, st.Pool.Name, server)
		}
	}
	rules.rewrite(res.Header, vr)
	res.Header["Connection"] = []string{"Upgrade"}
	res.Header["Upgrade"] = []string{got}
	if st.Sticky != nil && st.Sticky.Sends(dec, server) {
		res.Header.Add("Set-Cookie", st.Sticky.SetCookie(server.ID, at, vr))
	}
	if debugHeader && dec.Outcome != sticky.None {
		res.Header["X-Limpet-Sticky"] = []string{dec.Label()}
	}
	// nginx's header filters run on the 101 too (the upstream module sends
	// the header before it switches): add_header lines with `always` apply.
	applyAddHeaders(w.add, res.Header, http.StatusSwitchingProtocols, &w.vr)
	// The 101 is written by hand on the hijacked connection, as
	// httputil.ReverseProxy does: the server's own WriteHeader would treat
	// it as the start of an ordinary response.
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = backConn.Close()
		writeError(w, http.StatusInternalServerError)
		return
	}
	w.status = http.StatusSwitchingProtocols
	sw := &http.Response{StatusCode: http.StatusSwitchingProtocols, ProtoMajor: 1, ProtoMinor: 1, Header: res.Header}
	if err := sw.Write(brw); err != nil || brw.Flush() != nil {
		_ = conn.Close()
		_ = backConn.Close()
		return
	}
	uc := &upgradedConn{client: conn, server: backConn}
	h.upgrades.Store(uc, struct{}{})
	defer h.upgrades.Delete(uc)
	defer uc.close()

	errc := make(chan error, 2)
	go func() {
		// Bytes the client sent after its request, already buffered by
		// the server, go first.
		if n := brw.Reader.Buffered(); n > 0 {
			b, _ := brw.Reader.Peek(n)
			if _, err := backConn.Write(b); err != nil {
				errc <- err
				return
			}
		}
		_, err := io.Copy(backConn, conn)
		errc <- err
	}()
	go func() {
		// As nginx does, an upgraded connection on which the server
		// says nothing for proxy_read_timeout is closed.
		var from io.Reader = backConn
		if readTimeout > 0 {
			from = newIdleTimeoutBody(backConn, readTimeout)
		}
		_, err := io.Copy(conn, from)
		errc <- err
	}()
	<-errc
}
