package proxy

import (
	"context"
	"net/http"
	"time"

	"github.com/limpet-lb/limpet/internal/limit"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file applies a location's limit_req and limit_conn, in nginx's
// PREACCESS phase: after the rewrite phase (so `return` answers without
// being limited) and before the access control, limit_req first (a
// request it delays holds no limit_conn count while it waits), then
// limit_conn.

// limits applies the location's limits to the request. It reports
// whether the request may go on; when it may not, it has answered (or
// the client left while the request was delayed). The counts limit_conn
// took are in held, for the caller to release when the request ends.
func (loc *location) limits(rw *responseWriter, r *http.Request, vr *vars.Request, held *limit.Held) bool {
	if loc.reqLimit != nil {
		d := loc.reqLimit.Check(vr)
		vr.LimitReqStatus = d.Outcome.String()
		switch d.Outcome {
		case limit.Rejected:
			answerLimited(rw, d.Status)
			return false
		case limit.Delayed:
			if !sleep(r.Context(), d.Delay) {
				// nginx ends a delayed request whose client closed the
				// connection: 499 in the access log.
				return false
			}
		}
	}
	if loc.connLimit != nil {
		d := loc.connLimit.Acquire(vr, held)
		vr.LimitConnStatus = d.Outcome.String()
		if d.Outcome == limit.Rejected {
			answerLimited(rw, d.Status)
			return false
		}
	}
	return true
}

// sleep waits for d, or until ctx is done (the client left); it reports
// whether the whole time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// answerLimited answers a rejected request with the limit's status; 444
// closes the connection without an answer, as with `return 444`.
func answerLimited(w *responseWriter, status int) {
	if status == statusNoResponse {
		closeWithoutResponse(w)
		return
	}
	writeError(w, status)
}
