package proxy

import (
	"context"
	"github.com/limpet-lb/limpet/internal/deadline"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file applies the client-side settings a location may have of its
// own (ngx_http_core_module): client_body_timeout, send_timeout,
// limit_rate and limit_rate_after, and keepalive_requests and
// keepalive_time where they are stricter than the listen address's
// default server's, which the client server (h1srv) applies itself.

// bodyTimeout is the location's client_body_timeout.
func (w *responseWriter) bodyTimeout() time.Duration {
	if w.client == nil || w.client.BodyTimeout <= 0 {
		return clientBodyTimeout
	}
	return w.client.BodyTimeout
}

// sendTimeout is the location's send_timeout.
func (w *responseWriter) sendTimeout() time.Duration {
	if w.client == nil || w.client.SendTimeout <= 0 {
		return sendTimeout
	}
	return w.client.SendTimeout
}

// keepaliveLimits returns a location's keepalive_requests and
// keepalive_time as limits to apply: nginx's 0 ends keep-alive after the
// request (requests >= 0, and any time elapsed > 0), which are 1 request
// and 1ns here.
func keepaliveLimits(c config.ClientSettings) (int, time.Duration) {
	return max(c.KeepaliveRequests, 1), max(c.KeepaliveTime, time.Nanosecond)
}

// KeepaliveEnvelope returns the most lenient keepalive_requests and
// keepalive_time of the handler's servers and locations: what the
// connection itself must allow, since nginx applies the value of the
// location that ends up serving each request.
func (h *Handler) KeepaliveEnvelope() (requests int, age time.Duration) {
	for _, vs := range h.servers {
		vs.each(func(l *location) {
			r, a := keepaliveLimits(l.cfg.Proxy.Client)
			requests, age = max(requests, r), max(age, a)
		})
	}
	return requests, age
}

// LimitKeepalive is told the keepalive_requests and keepalive_time the
// client connections apply (maxRequests, maxAge: at least the
// envelope), and gives every location with stricter values of its own
// the check that ends the connection after its request.
func (h *Handler) LimitKeepalive(maxRequests int, maxAge time.Duration) {
	for _, vs := range h.servers {
		vs.each(func(l *location) {
			reqs, age := keepaliveLimits(l.cfg.Proxy.Client)
			l.lastRequest = nil
			if reqs >= maxRequests && age >= maxAge {
				return
			}
			l.lastRequest = func(r *http.Request) bool {
				conn, ok := r.Context().Value(vars.ConnContextKey).(vars.Conn)
				if !ok {
					return false
				}
				return conn.Requests() >= reqs || time.Since(conn.Start()) >= age
			}
		})
	}
}

// each calls f for every compiled location of the server, the one for
// requests that match none and the named ones included.
func (vs *virtualServer) each(f func(*location)) {
	f(vs.noLocation)
	for _, l := range vs.compiled {
		f(l)
	}
	for _, l := range vs.named {
		f(l)
	}
}

// rateOf returns the limit_rate of a response: the value a `set
// $limit_rate` of the request gave, when it is a size (nginx's
// ngx_http_variable_request_set_size), else the location's.
func (h *Handler) rateOf(w *responseWriter) (rate, after int64) {
	if c := w.client; c != nil {
		rate, after = c.LimitRate, c.LimitRateAfter
	}
	if h.limitRateSlot >= 0 && w.vr.User != nil {
		if v, ok := w.vr.User.Assigned(h.limitRateSlot); ok {
			if n, ok := parseRate(v); ok {
				rate = n
			}
		}
	}
	return rate, after
}

// parseRate reads a size as nginx's ngx_parse_size does: digits with an
// optional k or m (either case).
func parseRate(s string) (int64, bool) {
	mult := int64(1)
	switch {
	case s == "":
		return 0, false
	case s[len(s)-1] == 'k' || s[len(s)-1] == 'K':
		mult, s = 1<<10, s[:len(s)-1]
	case s[len(s)-1] == 'm' || s[len(s)-1] == 'M':
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult || s[0] == '+' {
		return 0, false
	}
	return n * mult, true
}

// rateLimit paces a response body at limit_rate bytes per second after
// its first limit_rate_after bytes, as nginx's write filter does: the
// body may run a second's worth ahead of the rate (nginx's "+ 1"), and
// a write that would get further ahead waits.
type rateLimit struct {
	rate, after int64
	start       time.Time
	sent        int64 // bytes of the body sent so far
}

// grant returns how many of n bytes may be sent at now, and, when none
// may, how long to wait before asking again. A wait lasts until a tenth
// of a second's worth may go (or all of n), so a paced body goes out in
// about ten writes a second rather than in slivers.
func (l *rateLimit) grant(n int, now time.Time) (int, time.Duration) {
	if l.sent < l.after {
		return int(min(int64(n), l.after-l.sent)), 0
	}
	if l.start.IsZero() {
		l.start = now // the limit counts from the first paced byte
	}
	allowed := int64(float64(l.rate)*(now.Sub(l.start).Seconds()+1)) - (l.sent - l.after)
	want := min(int64(n), max(l.rate/10, 1))
	if allowed >= want {
		return int(min(int64(n), allowed)), 0
	}
	// Rounded up, so the next grant finds the bytes allowed.
	need := want - allowed
	return 0, time.Duration((need*int64(time.Second) + l.rate - 1) / l.rate)
}

// wait sleeps for d, or until ctx ends (false).
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pacedWriter sends a body limpet serves itself (a static file) at the
// request's limit_rate, as nginx's write filter paces every response. It
// has no ReadFrom, so a paced file is copied through Write rather than
// sent by sendfile(2) in one call, as nginx limits its sendfile chunks.
type pacedWriter struct {
	rw      *responseWriter
	h       *Handler
	rc      *http.ResponseController
	wd      deadline.Lazy
	timeout time.Duration
	limit   rateLimit
}

// paced returns w itself when the request has no limit_rate, else a
// writer that paces what is written to it.
func (h *Handler) paced(w *responseWriter) http.ResponseWriter {
	rate, after := h.rateOf(w)
	if rate <= 0 {
		return w
	}
	return &pacedWriter{rw: w, h: h, rc: http.NewResponseController(w), timeout: w.sendTimeout(), limit: rateLimit{rate: rate, after: after}}
}

func (p *pacedWriter) Header() http.Header         { return p.rw.Header() }
func (p *pacedWriter) WriteHeader(code int)        { p.rw.WriteHeader(code) }
func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.rw }

func (p *pacedWriter) Write(b []byte) (int, error) {
	if p.rw.status < 200 {
		p.rw.WriteHeader(http.StatusOK)
	}
	if err := p.h.writeLimited(p.rw, p.rc, &p.wd, p.timeout, &p.limit, b); err != nil {
		return 0, err
	}
	return len(b), nil
}
