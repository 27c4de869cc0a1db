package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
)

// isIdempotent reports whether a request may be sent twice. nginx treats
// POST, LOCK and PATCH as non-idempotent (proxy_next_upstream
// non_idempotent); so does limpet.
func isIdempotent(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, "LOCK":
		return false
	}
	return true
}

// exchange is one proxied request on its way through one or more
// attempts, each to another server.
type exchange struct {
	h   *Handler
	l   *location
	r   *http.Request
	vr  *vars.Request
	up  *live.Upstream
	st  *live.Snapshot
	dec sticky.Decision
	key string // the evaluated hash key, for `hash`
	out *http.Request
	// fwd is out's header (see outgoingRequest), with room for the
	// usual number of fields.
	fwd    h1.Forward
	omit   [4]string
	fields [8]h1.Field
	// outgoing holds out, so that it is not an allocation of its own.
	outgoing outgoingScratch

	client *clientBody // the client's body; nil without one
	replay *replayBody // nil when the body need not be replayable
	// body is the client's body read whole (buffered), under
	// proxy_request_buffering on (reqbuffer.go).
	body     bufferedBody
	buffered bool
	a        attempt          // servers tried
	tries    int              // attempts made
	start    time.Time        // for proxy_next_upstream_timeout
	began    time.Time        // when the current attempt began
	last     *upstream.Server // the server of the latest attempt
	orig     sticky.Decision  // the decision before any attempt failed
	safe     bool             // the method is idempotent
	// The clock is read once per moment the request passes, and the
	// reading is shared by all that happens at that moment: mark is a
	// reading the next attempt may begin at (zero when something may
	// have blocked since it was taken: a queue wait, a buffered body, a
	// failed attempt); header when the latest attempt's response header
	// came (its $upstream_header_time, the server's success, the
	// cookie's time); end when the latest attempt ended (zero once an
	// error page was sent after it).
	mark, header, end time.Time

	// attempts records each attempt's server and status for the access
	// log; formatted only when the location logs.
	attempts     [4]attemptRecord
	moreAttempts []attemptRecord
	upTime       time.Duration
	// view is what $upstream_* read: the exchange itself, or the
	// chain of the request's exchanges ending with it.
	view vars.Upstreams

	// pick is the balancer's view of the request, and skip x.a.skip
	// (see take).
	pick balance.Request
	skip func(*upstream.Server) bool

	// recyclable says the exchange may go back to the pool once the
	// request ends (recycle.go).
	recyclable bool
	// resp is the storage of the first attempt's response, lent to h1
	// (see lendStorage); kept across the pooled exchange's requests.
	resp *h1.ResponseStorage

	// queued says how the request left the upstream's queue without a
	// server (full, timed out, client gone); queueNone if it never
	// queued or found one. A byte, not an error, so the exchange does
	// not grow for requests that never queue.
	queued queueOutcome
}

// proxy sends the request to the location's upstream: persistence
// decision, server choice, forwarding, retries on other servers while
// proxy_next_upstream allows and nothing has reached the client, and the
// response with the persistence cookie.
func (h *Handler) proxy(w *responseWriter, r *http.Request, l *location, vr *vars.Request, prefix string, entry *accesslog.Entry) {
	if l.maxBody > 0 && r.ContentLength > l.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge)
		return
	}
	// The request's first exchange begins at the request's start, with
	// no reading of its own, when that start is the handler's reading
	// and nothing that may block has happened since (w.fresh).
	now := w.resp.Start
	if !w.fresh {
		now = h.now()
	}
	w.fresh, w.doneAt = false, time.Time{}
	x := w.takeExchange()
	x.h, x.l, x.r, x.vr, x.up, x.st = h, l, r, vr, l.upstream, l.upstream.Load()
	x.start, x.mark, x.safe = now, now, isIdempotent(r.Method)
	x.a.now = x.start
	// A request proxied before, in a location an error_page left,
	// lists those attempts first (upstreamchain.go).
	x.view = chainAfter(w.resp.Upstream, x)
	w.resp.Upstream = x.view
	if x.st.Sticky != nil {
		x.dec = x.st.Sticky.Decide(r, x.st.Pool, x.start)
		x.orig = x.dec
	}
	if x.st.HashKey != nil {
		x.key = x.st.HashKey.Expand(vr)
	}
	x.fwd.Omit, x.fwd.Fields = x.omit[:0], x.fields[:0]
	x.out = outgoingRequest(r, l, vr, prefix, &x.fwd, &x.outgoing)
	if l.tlsName != nil {
		x.fwd.TLSName = l.tlsName.Expand(vr)
	}
	x.recyclable = x.fastForward()
	if x.out.Body != nil {
		src := r.Body
		if l.maxBody > 0 {
			// A chunked body has no length to check up front; the
			// limit is then enforced while it streams.
			src = http.MaxBytesReader(w, src, l.maxBody)
		}
		x.client = newClientBody(w, src, w.bodyTimeout())
		switch {
		case l.cfg.Proxy.Client.RequestBuffering:
			x.buffered = true // read in run, once the log's deferred
		case l.next != 0:
			x.replay = &replayBody{src: x.client}
		}
	}
	defer func() {
		if x.buffered {
			x.body.release()
		}
		// The latest exchange writes the log's fields, with those of
		// the earlier ones: an earlier one, whose intercepted error
		// led here, ends after it and must not overwrite them.
		latest := w.resp.Upstream == x.view
		switch c, chained := x.view.(*upstreamChain); {
		case !latest:
		case chained:
			entry.Upstream, entry.UpstreamStatus, entry.UpstreamTime = c.format()
		default:
			entry.Upstream, entry.UpstreamStatus = x.formatAttempts()
			entry.UpstreamTime = x.upTime
		}
		if x.dec.Outcome != sticky.None {
			if latest {
				entry.Sticky = x.dec.Label()
				w.resp.Sticky = entry.Sticky
			}
			x.up.CountOutcome(&x.dec)
		}
		// The latest attempt's end is the response's, unless an error
		// page was sent since.
		end := x.end
		if end.IsZero() {
			end = h.now()
		}
		w.doneAt = end
		if h.observer != nil && !l.unobserved {
			status := w.status
			if status == 0 {
				status = StatusClientClosed
			}
			h.observer.ObserveRequest(x.up, x.last, status, end.Sub(x.start), x.dec, x.tries)
		}
	}()
	x.run(w)
}

// run makes attempts until one gives a response to send, or none is left.
func (x *exchange) run(w *responseWriter) {
	if x.buffered {
		x.mark = time.Time{} // reading the body takes its time
		if !x.bufferBody(w) {
			return
		}
	}
	server, body := x.next()
	if server == nil {
		switch x.queued {
		case queueNone:
			x.h.noLiveUpstreams(x.up, x.st)
		case queueClientGone:
			// The client left while queued: not the upstream's fault.
			x.fail(w, StatusClientClosed)
			return
		default:
			x.h.queueFailed(x)
		}
		x.fail(w, http.StatusBadGateway)
		return
	}
	for {
		res, err := x.try(server, body)
		if err != nil {
			f := x.classify(err)
			if f.serverFault {
				x.setStatus(f.status)
			}
			if !f.serverFault {
				x.fail(w, f.status)
				return
			}
			x.h.attemptFailed(x, server, err, !f.stale)
			if next, nextBody := x.retry(server, f.cond, f.sent); next != nil {
				server, body = next, nextBody
				continue
			}
			x.fail(w, f.status)
			return
		}

		x.setStatus(res.StatusCode)
		cond := statusCondition(res.StatusCode)
		if cond == 0 || !x.l.next.Has(cond) {
			server.RecordSuccess(x.header)
			x.respond(w, res, server)
			return
		}
		if statusCountsAsFailure(cond, x.l.next) {
			x.h.recordFailure(x.up, server, nil)
		}
		next, nextBody := x.retry(server, cond, true)
		if next == nil {
			// No other server to try: the upstream's own
			// response goes to the client, as in nginx.
			x.respond(w, res, server)
			return
		}
		// Read a little of the discarded response so the connection
		// can be reused, then let it go.
		_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
		_ = res.Body.Close()
		x.endAttempt(server)
		x.ended(0)
		x.mark = x.end // the next attempt begins as this one ends
		server, body = next, nextBody
	}
}

// next chooses the server and body of the next attempt and takes one of
// the server's slots (see take). A request that finds every server it
// could use at its max_conns waits in the upstream's queue, if it has
// one, before its first attempt. It returns nil when no server is left or
// the body can no longer be sent again.
func (x *exchange) next() (*upstream.Server, io.ReadCloser) {
	server := x.take()
	if server == nil && x.tries == 0 && x.st.QueueSize > 0 && x.saturated() {
		server = x.queue()
		x.mark = time.Time{} // the wait took its time
	}
	if server == nil {
		return nil, nil
	}
	switch {
	case x.buffered:
		if x.body.size == 0 {
			return server, nil
		}
		return server, x.body.view()
	case x.replay != nil:
		view, ok := x.replay.attempt()
		if !ok {
			x.endAttempt(server)
			return nil, nil
		}
		return server, view
	case x.client != nil:
		return server, x.client
	}
	return server, nil
}

// take chooses a server and takes one of its slots (Acquire): the user's
// own server first, else the balancer's choice among servers not yet
// tried. A server whose last slot another request took between the
// choice and Acquire is passed over: skip sees it full the next time.
func (x *exchange) take() *upstream.Server {
	if s := x.dec.Server; s != nil {
		if s.Acquire() {
			return s
		}
		x.dec.Full(s)
		if x.tries == 0 {
			x.orig = x.dec
		}
	}
	// Both escape through the Balancer interface: they live in the
	// exchange, and the method value is made once per exchange's life,
	// which the pool keeps across requests (recycle.go).
	x.pick = balance.Request{ClientIP: x.vr.Remote.Addr(), Key: x.key}
	if x.skip == nil {
		x.skip = x.a.skip
	}
	for {
		s := x.st.Pick(&x.pick, x.skip)
		if s == nil || s.Acquire() {
			return s
		}
	}
}

// endAttempt ends an attempt on server (or gives back a slot no attempt used)
// and tells the upstream's queue that a slot is free: one atomic load
// when nobody waits. Whatever server's max_conns: the server ending may
// be one a reload replaced by one with max_conns that shares its count.
func (x *exchange) endAttempt(server *upstream.Server) {
	server.End()
	x.up.Queue().Signal()
}

// fail ends a request that no upstream answered. The user was not moved
// anywhere (no server answered, no cookie is sent), so the decision goes
// back to what it was before the attempts; the servers tried and their
// failures are in the log's upstream fields.
func (x *exchange) fail(w *responseWriter, status int) {
	x.dec = x.orig
	x.end = time.Time{} // the error page may take its time
	if x.l.cfg.Proxy.StickyDebugHeader && x.dec.Outcome != sticky.None {
		w.Header().Set("X-Limpet-Sticky", x.dec.Label())
	}
	writeError(w, status)
}

// attemptRecord is one attempt as the access log shows it.
type attemptRecord struct {
	server *upstream.Server
	status int
	// connect is the time spent connecting (0 on a pooled connection,
	// -1 unknown), header until the response header arrived (-1: none
	// did), took until the attempt ended.
	connect, header, took time.Duration
}

// latest is the record of the latest attempt.
func (x *exchange) latest() *attemptRecord {
	if x.tries <= len(x.attempts) {
		return &x.attempts[x.tries-1]
	}
	return &x.moreAttempts[len(x.moreAttempts)-1]
}

// ended records the end of the latest attempt, and its header time when
// header is negative (no header came).
func (x *exchange) ended(header time.Duration) {
	x.end = x.h.now()
	took := x.end.Sub(x.began)
	x.upTime += took
	rec := x.latest()
	rec.took = took
	if header < 0 {
		rec.header = header
	}
}

// Attempts is the number of attempts made, for $upstream_addr and its
// kin (vars.Upstreams).
func (x *exchange) Attempts() int { return x.tries }

// Attempt returns attempt i for the $upstream_* variables.
func (x *exchange) Attempt(i int) vars.UpstreamAttempt {
	rec := &x.attempts[min(i, len(x.attempts)-1)]
	if i >= len(x.attempts) {
		rec = &x.moreAttempts[i-len(x.attempts)]
	}
	took := rec.took
	if took == 0 && i == x.tries-1 && !x.began.IsZero() {
		took = x.h.now().Sub(x.began) // still going (add_header)
	}
	return vars.UpstreamAttempt{Addr: rec.server.Addr, Status: rec.status, ConnectTime: rec.connect, HeaderTime: rec.header, ResponseTime: took}
}

var _ vars.Upstreams = (*exchange)(nil)

// setStatus records the status of the latest attempt.
func (x *exchange) setStatus(status int) {
	if x.tries <= len(x.attempts) {
		x.attempts[x.tries-1].status = status
	} else {
		x.moreAttempts[len(x.moreAttempts)-1].status = status
	}
}

// formatAttempts returns the servers tried and their statuses as nginx's
// $upstream_addr and $upstream_status write them: "a, b" and "502, 200".
func (x *exchange) formatAttempts() (addrs, statuses string) {
	if x.tries == 1 {
		// The usual case, without a byte formatted.
		rec := x.attempts[0]
		return rec.server.Addr, attemptStatus(rec.status)
	}
	var a, s []byte
	for i := 0; i < x.tries; i++ {
		rec := x.attempts[min(i, len(x.attempts)-1)]
		if i >= len(x.attempts) {
			rec = x.moreAttempts[i-len(x.attempts)]
		}
		if i > 0 {
			a = append(a, ", "...)
			s = append(s, ", "...)
		}
		a = append(a, rec.server.Addr...)
		if rec.status == 0 {
			s = append(s, '-') // no answer, and not the server's fault
		} else {
			s = strconv.AppendInt(s, int64(rec.status), 10)
		}
	}
	return string(a), string(s)
}

// attemptStatus is an attempt's status as the log shows it: "-" for no
// answer, else the code.
func attemptStatus(code int) string {
	switch {
	case code == 0:
		return "-"
	case code >= 100 && code < len(statusTexts):
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}

// statusTexts holds the decimal text of the status codes, for the log.
var statusTexts = func() (t [600]string) {
	for code := 100; code < len(t); code++ {
		t[code] = strconv.Itoa(code)
	}
	return t
}()

// retry decides whether a failed attempt on server, for condition cond,
// after which the request may have reached the server (sent), is followed
// by another; it returns the next server and body, or nil.
func (x *exchange) retry(server *upstream.Server, cond config.NextUpstream, sent bool) (*upstream.Server, io.ReadCloser) {
	l := x.l
	switch {
	case cond == 0 || !l.next.Has(cond):
		return nil, nil
	case l.tries > 0 && x.tries >= l.tries:
		return nil, nil
	case l.tryTimeout > 0 && x.h.now().Sub(x.start) >= l.tryTimeout:
		return nil, nil
	case sent && !x.safe && !l.next.Has(config.NextNonIdempotent):
		return nil, nil
	}
	before := x.dec
	x.dec.Failed(server)
	next, body := x.next()
	if next == nil {
		// Nobody else can take the request: the decision stays what
		// it was (the upstream's own answer goes to the client).
		x.dec = before
	}
	return next, body
}

// try sends one attempt to server.
func (x *exchange) try(server *upstream.Server, body io.ReadCloser) (*http.Response, error) {
	x.last = server
	x.a.add(server)
	x.tries++
	if x.tries <= len(x.attempts) {
		x.attempts[x.tries-1] = attemptRecord{server: server}
	} else {
		x.moreAttempts = append(x.moreAttempts, attemptRecord{server: server})
	}

	// The first attempt sends the request built for it; a retry sends a
	// copy, because a transport may still hold the one it gave up on.
	req := x.out
	if x.tries > 1 {
		copied, u := *x.out, *x.out.URL
		copied.URL = &u
		req = &copied
	}
	req.URL.Scheme, req.URL.Host = x.l.scheme, server.Addr
	req.Body = body

	x.began, x.mark = x.mark, time.Time{}
	if x.began.IsZero() {
		x.began = x.h.now()
	}
	if x.h.realClock {
		// h1 starts the attempt's clock (deadlines, connect time,
		// pool bookkeeping) at this reading instead of one of its own.
		x.fwd.Now = x.began
	}
	server.BeginAcquired() // next took the slot
	server.RecordSelected(x.began)
	x.fwd.ConnectTime = -1 // h1's transport tells
	x.lendStorage()
	res, err := x.roundTrip(req)
	rec := x.latest()
	rec.connect = x.fwd.ConnectTime
	if err != nil {
		x.endAttempt(server)
		x.ended(-1)
		return nil, err
	}
	x.header = x.h.now()
	rec.header = x.header.Sub(x.began)
	server.RecordResponse(res.StatusCode)
	return res, nil
}

// forwardRoundTripper is a transport that takes a request's context and
// header apart from the request, as h1's does, sparing the copy of the
// request http.Request.WithContext makes and a merged copy of the
// client's header.
type forwardRoundTripper interface {
	RoundTripForward(ctx context.Context, req *http.Request, fwd *h1.Forward) (*http.Response, error)
}

// roundTrip sends req, which carries neither context nor header of its
// own, with the client's context (the attempt ends when the client
// leaves) and x.fwd.
func (x *exchange) roundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := x.l.transport.(forwardRoundTripper); ok {
		return rt.RoundTripForward(x.r.Context(), req, &x.fwd)
	}
	req = req.WithContext(x.r.Context())
	req.Header = x.fwd.Header()
	return x.l.transport.RoundTrip(req)
}

// classify tells why an attempt failed: the client's fault (its body
// could not be read, or it went away) or the server's.
func (x *exchange) classify(err error) failure {
	f := classify(x.r, err)
	if f.status == StatusClientClosed {
		return f
	}
	if x.client != nil {
		if cf, ok := x.client.failure(); ok {
			return cf
		}
	}
	return f
}

// respond sends res from server to the client and ends the attempt, even
// if the response is cut short by a panic (http.ErrAbortHandler).
func (x *exchange) respond(w *responseWriter, res *http.Response, server *upstream.Server) {
	defer func() {
		x.endAttempt(server)
		x.ended(0)
		x.keepStorage(w)
	}()
	// A response without a body (http.NoBody: HEAD, 204, 304, a length
	// of 0, as h1 gives them) has no read to bound.
	if x.l.readTimeout > 0 && res.StatusCode != http.StatusSwitchingProtocols && res.Body != http.NoBody && !readTimeoutApplied(res.Body) {
		res.Body = newIdleTimeoutBody(res.Body, x.l.readTimeout)
		// Its timer may close the body, which may be in the storage
		// lent to h1, after the request.
		x.recyclable = false
	}
	w.resp.UpstreamHeader = res.Header
	x.h.respond(w, x.r, x.vr, res, x.st, &x.dec, server, x.header, x.l.readTimeout, x.l.cfg.Proxy.StickyDebugHeader, x.l.resp)
}

// readTimeoutApplied reports a body whose reads the transport already
// bounds by proxy_read_timeout (h1's fast path), which needs no timer.
func readTimeoutApplied(body io.ReadCloser) bool {
	b, ok := body.(interface{ ReadTimeoutApplied() bool })
	return ok && b.ReadTimeoutApplied()
}

// attemptFailed logs a failed attempt, as nginx logs every failed attempt
// with what it was doing, and counts it against the server's max_fails
// when count is set (not for a pooled connection the server had closed).
func (h *Handler) attemptFailed(x *exchange, server *upstream.Server, err error, count bool) {
	h.errorLog.Error("upstream attempt failed", slog.String("upstream", x.up.Name), slog.String("server", server.Addr),
		slog.String("error", err.Error()), slog.String("client", x.vr.Remote.Addr().String()),
		slog.String("request", x.r.Method+" "+x.r.RequestURI))
	if count {
		h.recordFailure(x.up, server, err)
	} else {
		server.CountFailure()
	}
}

// recordFailure counts a failed attempt against server and logs, once per
// transition, that the server is now skipped.
func (h *Handler) recordFailure(up *live.Upstream, server *upstream.Server, err error) {
	if up.Pool().Lone() {
		server.CountFailure()
		return
	}
	if server.RecordFailure(h.now()) {
		attrs := []any{slog.String("upstream", up.Name), slog.String("server", server.Addr),
			slog.Duration("fail_timeout", server.FailTimeout)}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		h.errorLog.Warn("upstream server temporarily disabled", attrs...)
	}
}

// noLiveUpstreams handles a request for which no server is available at
// all. As nginx does, the servers' failure state is forgotten so the next
// request tries them again instead of failing for fail_timeout.
func (h *Handler) noLiveUpstreams(up *live.Upstream, st *live.Snapshot) {
	h.errorLog.Error("no live upstreams", slog.String("upstream", up.Name))
	for _, s := range st.Pool.Primary {
		s.ResetFailures()
	}
	for _, s := range st.Pool.Backup {
		s.ResetFailures()
	}
}
