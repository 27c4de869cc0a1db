package proxy

import (
	"errors"
	"log/slog"
	"time"

	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// queueOutcome is how a request left the upstream's queue without a
// server.
type queueOutcome uint8

const (
	queueNone       queueOutcome = iota // never queued, or got a server
	queueFull                           // refused: the queue was full
	queueTimedOut                       // its timeout passed
	queueClientGone                     // the client left
)

// saturated reports whether a server the request could use is at its
// max_conns: the request then waits in the upstream's queue for a slot.
// When every server is down, failed or tried instead, waiting for a slot
// would not help and the request fails at once, as without a queue.
func (x *exchange) saturated() bool {
	full := func(servers []*upstream.Server) bool {
		for _, s := range servers {
			if s.Full() && s.AcceptsNew(x.a.now) && !x.a.triedAlready(s) {
				return true
			}
		}
		return false
	}
	return full(x.st.Pool.Primary) || full(x.st.Pool.Backup)
}

// queue waits in the upstream's queue (`queue N timeout=T`) for a server
// to free a slot, and returns the server whose slot it took, or nil with
// x.queueErr saying why (queue full, timeout, client gone) — or with no
// error when the servers changed so that none is full any more (they went
// down): the request then fails as when no server is live.
//
// Each time it is woken the request is decided again on the current
// servers, as NGINX Plus selects the server anew for a queued request: a
// user whose own server frees a slot goes back to it.
func (x *exchange) queue() *upstream.Server {
	timer := time.NewTimer(x.st.QueueTimeout)
	defer timer.Stop()
	var server *upstream.Server
	err := x.up.Queue().Await(x.r.Context(), x.st.QueueSize, timer.C, func() bool {
		x.st = x.up.Load()
		x.a.now = x.h.now()
		x.dec = sticky.Decision{}
		if x.st.Sticky != nil {
			x.dec = x.st.Sticky.Decide(x.r, x.st.Pool, x.a.now)
		}
		x.orig = x.dec
		server = x.take()
		return server != nil || !x.saturated()
	})
	switch {
	case err == nil:
		return server
	case errors.Is(err, live.ErrQueueFull):
		x.queued = queueFull
	case errors.Is(err, live.ErrQueueTimeout):
		x.queued = queueTimedOut
	default:
		x.queued = queueClientGone // the request's context ended
	}
	return nil
}

// queueFailed logs a request that left the queue without a server
// because the queue was full or its timeout passed.
func (h *Handler) queueFailed(x *exchange) {
	msg := live.ErrQueueTimeout.Error()
	if x.queued == queueFull {
		msg = live.ErrQueueFull.Error()
	}
	h.errorLog.Error(msg, slog.String("upstream", x.up.Name),
		slog.String("client", x.vr.Remote.Addr().String()), slog.String("request", x.r.Method+" "+x.r.RequestURI))
}
