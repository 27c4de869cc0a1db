package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/errpage"
	"github.com/limpet-lb/limpet/internal/h1"
)

// StatusClientClosed is nginx's non-standard 499: the client went away
// before the response was sent. It is logged, never sent, and never counts
// against a server.
const StatusClientClosed = 499

// failure describes why an attempt to a server did not produce a response
// worth sending.
type failure struct {
	// cond is the proxy_next_upstream condition the failure falls under;
	// 0 when no retry can help (the client is gone, the body too large).
	cond config.NextUpstream
	// status is what the client gets if this is the last attempt.
	status int
	// serverFault tells whether the failure counts against the server
	// for max_fails.
	serverFault bool
	// sent tells whether any of the request may have reached the server,
	// which forbids retrying non-idempotent requests.
	sent bool
	// stale: a pooled connection the server had closed; counted as an
	// error for retries but not against the server's max_fails, as nginx
	// does not count errors on its cached connections.
	stale bool
}

// classify maps a transport error to a failure, in one place, as oxy does:
// a timeout is 504, the client going away is 499 and not the server's
// fault, an oversized body is 413, anything else from upstream is 502: a
// response refused for its header (h1.IsInvalidHeader) under
// proxy_next_upstream's invalid_header, other failures under error.
func classify(r *http.Request, err error) failure {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes):
		return failure{status: http.StatusRequestEntityTooLarge}
	case r.Context().Err() != nil && !errors.Is(r.Context().Err(), context.DeadlineExceeded):
		return failure{status: StatusClientClosed}
	}
	sent := !isDialError(err)
	if h1.IsStale(err) {
		return failure{cond: config.NextError, status: http.StatusBadGateway, serverFault: true, sent: sent, stale: true}
	}
	if h1.IsInvalidHeader(err) {
		// nginx's NGX_HTTP_UPSTREAM_FT_INVALID_HEADER: retried only
		// under invalid_header, always counted against the server.
		return failure{cond: config.NextInvalidHeader, status: http.StatusBadGateway, serverFault: true, sent: true}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return failure{cond: config.NextTimeout, status: http.StatusGatewayTimeout, serverFault: true, sent: sent}
	}
	return failure{cond: config.NextError, status: http.StatusBadGateway, serverFault: true, sent: sent}
}

// isDialError reports whether err happened while connecting (the TLS
// handshake included), before any byte of the request was written: such
// a request may be retried even when it is not idempotent, as nginx does.
func isDialError(err error) bool {
	var op *net.OpError
	return (errors.As(err, &op) && op.Op == "dial") || isHandshakeError(err)
}

// statusCondition returns the proxy_next_upstream condition of an upstream
// response status, or 0 when the status is never a reason to retry.
func statusCondition(status int) config.NextUpstream {
	switch status {
	case http.StatusInternalServerError:
		return config.NextHTTP500
	case http.StatusBadGateway:
		return config.NextHTTP502
	case http.StatusServiceUnavailable:
		return config.NextHTTP503
	case http.StatusGatewayTimeout:
		return config.NextHTTP504
	case http.StatusForbidden:
		return config.NextHTTP403
	case http.StatusNotFound:
		return config.NextHTTP404
	case http.StatusTooManyRequests:
		return config.NextHTTP429
	}
	return 0
}

// statusCountsAsFailure reports whether an upstream response with this
// condition counts against the server for max_fails. As in nginx, 403 and
// 404 never do; the 5xx and 429 conditions do only when they are listed in
// proxy_next_upstream.
func statusCountsAsFailure(cond, next config.NextUpstream) bool {
	return cond != 0 && cond != config.NextHTTP403 && cond != config.NextHTTP404 && next.Has(cond)
}

// writeError sends nginx's style of error page for status, so that no Go
// error text ever reaches a client; nothing for a client that is gone.
// The location's error_page for status, if any, answers instead
// (responseWriter.ErrorPage).
func writeError(w http.ResponseWriter, status int) {
	if status == StatusClientClosed {
		return
	}
	errpage.Write(w, status) // the location's error_page first (responseWriter.ErrorPage)
}
