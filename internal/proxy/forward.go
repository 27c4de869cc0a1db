package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/router"
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

// proxy sends the request to the location's upstream: persistence
// decision, server choice, forwarding, retries on other servers while
// proxy_next_upstream allows and nothing has reached the client, and the
// response with the persistence cookie.
func (h *Handler) proxy(w *responseWriter, r *http.Request, l *location, vr *vars.Request, prefix string, entry *accesslog.Entry) {
	if l.maxBody > 0 && r.ContentLength > l.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge)
		return
	}
	if l.maxBody > 0 && r.Body != nil && r.Body != http.NoBody {
		// A chunked body has no length to check up front; the limit
		// is then enforced while it streams.
		r.Body = http.MaxBytesReader(w, r.Body, l.maxBody)
	}

	up := l.upstream
	st := up.state.Load()
	now := h.now()
	var dec sticky.Decision
	if up.Sticky != nil {
		dec = up.Sticky.Decide(r, st.pool, now)
	}
	var key string
	if up.HashKey != nil {
		key = up.HashKey.Expand(vr)
	}

	out := h.outgoingRequest(r, l, vr, prefix)
	var body *replayBody
	if out.Body != nil && l.next != 0 {
		body = &replayBody{src: r.Body}
	}

	a := attempt{now: now}
	var (
		last      failure // why the previous attempt failed
		upstreams strings.Builder
		statuses  strings.Builder
		upTime    time.Duration
		tries     int
	)
	defer func() {
		entry.Upstream, entry.UpstreamStatus, entry.UpstreamTime = upstreams.String(), statuses.String(), upTime
		if dec.Outcome != sticky.None {
			entry.Sticky = dec.Label()
		}
	}()
	idempotent := isIdempotent(r.Method)
	// mayRetry reports whether a failure of condition cond, after an
	// attempt that may have sent the request (sent), allows another try.
	mayRetry := func(cond config.NextUpstream, sent bool) bool {
		switch {
		case cond == 0 || !l.next.Has(cond):
			return false
		case l.tries > 0 && tries >= l.tries:
			return false
		case l.tryTimeout > 0 && h.now().Sub(now) >= l.tryTimeout:
			return false
		case sent && !idempotent && !l.next.Has(config.NextNonIdempotent):
			return false
		}
		return true
	}

	for {
		server := dec.Server
		if server == nil {
			server = up.pick(st, &a, vr.Remote.Addr(), key)
		}
		if server == nil {
			h.noLiveUpstreams(up, st, &a, tries)
			status := http.StatusBadGateway
			if last.status != 0 {
				status = last.status
			}
			writeError(w, status)
			return
		}
		a.add(server)
		tries++
		if upstreams.Len() > 0 {
			upstreams.WriteString(", ")
			statuses.WriteString(", ")
		}
		upstreams.WriteString(server.Addr)

		req := *out
		req.URL = &url.URL{Scheme: "http", Host: server.Addr, Path: out.URL.Path, RawPath: out.URL.RawPath, RawQuery: out.URL.RawQuery}
		if body != nil {
			view, ok := body.attempt()
			if !ok {
				// The body is past what was kept for replay.
				statuses.WriteString("-")
				writeError(w, last.status)
				return
			}
			req.Body = view
		}

		t0 := h.now()
		server.Begin()
		res, err := l.transport.RoundTrip(&req)
		if err != nil {
			server.End()
			upTime += h.now().Sub(t0)
			last = classify(r, err)
			statuses.WriteString(strconv.Itoa(last.status))
			if last.serverFault {
				h.recordFailure(up, server, err)
			}
			dec.Failed(server)
			if mayRetry(last.cond, last.sent) {
				continue
			}
			writeError(w, last.status)
			return
		}

		statuses.WriteString(strconv.Itoa(res.StatusCode))
		if cond := statusCondition(res.StatusCode); cond != 0 && l.next.Has(cond) {
			if statusCountsAsFailure(cond, l.next) {
				h.recordFailure(up, server, nil)
			}
			if mayRetry(cond, true) {
				// Read a little of the body so the connection
				// can be reused, then let it go.
				_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
				_ = res.Body.Close()
				server.End()
				upTime += h.now().Sub(t0)
				last = failure{cond: cond, status: res.StatusCode}
				dec.Failed(server)
				continue
			}
		} else {
			server.RecordSuccess(h.now())
		}

		h.respond(w, r, res, up, &dec, server)
		server.End()
		upTime += h.now().Sub(t0)
		return
	}
}

// recordFailure counts a failed attempt against server and logs, once per
// transition, that the server is now skipped.
func (h *Handler) recordFailure(up *Upstream, server *upstream.Server, err error) {
	if server.RecordFailure(h.now()) {
		attrs := []any{slog.String("upstream", up.Name), slog.String("server", server.Addr),
			slog.Duration("fail_timeout", server.FailTimeout)}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		h.errorLog.Warn("upstream server temporarily disabled", attrs...)
	}
}

// noLiveUpstreams handles a request for which no server is left. As nginx
// does, when every server was skipped because of failures and none was even
// tried, their failure state is forgotten so the next request tries them
// again instead of failing for fail_timeout.
func (h *Handler) noLiveUpstreams(up *Upstream, st *upstreamState, a *attempt, tries int) {
	h.errorLog.Error("no live upstreams", slog.String("upstream", up.Name))
	if tries > 0 {
		return
	}
	for _, s := range st.pool.Primary {
		s.ResetFailures()
	}
	for _, s := range st.pool.Backup {
		s.ResetFailures()
	}
}

// outgoingRequest builds the request sent upstream, shared by every
// attempt: the client's headers without hop-by-hop ones and without those
// proxy_set_header replaces, then the proxy_set_header values, and the URI
// per nginx's proxy_pass rules.
func (h *Handler) outgoingRequest(r *http.Request, l *location, vr *vars.Request, prefix string) *http.Request {
	header := make(http.Header, len(r.Header)+len(l.headers))
	for k, v := range r.Header {
		header[k] = v
	}
	upgrade := upgradeType(r.Header)
	removeHopHeaders(header)
	if upgrade != "" {
		// limpet proxies protocol upgrades (WebSocket) without the
		// proxy_set_header Upgrade/Connection lines nginx needs.
		header["Connection"] = []string{"Upgrade"}
		header["Upgrade"] = []string{upgrade}
	}
	host := vr.ProxyHost
	for i := range l.headers {
		sh := &l.headers[i]
		v := sh.value.Expand(vr)
		if sh.host {
			if v != "" {
				host = v
			}
			continue
		}
		if v == "" {
			delete(header, sh.name)
			continue
		}
		header[sh.name] = []string{v}
	}

	target := router.UpstreamURI(l.proxyPass, l.cfg, prefix, vr.URI, r.URL.RawQuery, r.RequestURI)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		// The client's own request-target, as Go parsed it.
		u = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	}

	out := &http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Host:          host,
		ContentLength: r.ContentLength,
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		out.Body = r.Body
	}
	return out.WithContext(r.Context())
}
