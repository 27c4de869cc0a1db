package runtime

import (
	"net/http"

	"github.com/limpet-lb/limpet/internal/proxy"
)

// keepsNoRequest reports whether h is one of the handlers audited to keep
// nothing of a request once ServeHTTP returns (h1srv.Settings.ReuseRequests),
// so that a client connection may reset a request's storage for the next:
//   - proxy.Handler writes the access log line and releases its pooled
//     responseWriter and exchange, which hold the request, in ServeHTTP's
//     own deferred function; auth_request subrequests and error_page
//     redirects run within it, on copies of the header (Header.Clone);
//     the $http_* variables are read then too;
//   - what can outlive ServeHTTP h1srv does not reuse for: a request
//     body (clientbody.go, reqbuffer.go, a transport still reading it),
//     a context whose Done channel was asked for (net/http's transport,
//     which h1 falls back to, a limit_req delay, a queue, a DNS lookup
//     through context.WithTimeout) or whose AfterFunc functions were not
//     stopped (h1's attempt whose response body was not closed), a
//     hijacked connection (WebSocket tunnels, return 444) and a panic;
//   - the admin API, dashboard and metrics, and static files (sendfile),
//     answer within ServeHTTP, on its goroutine; HTTP/2 connections
//     (h2c, ALPN) have requests of x/net's making, which h1srv never
//     reuses;
//   - localAddrMux only picks one of those.
//
// Any other handler keeps the net/http contract: nothing is reused.
func keepsNoRequest(h http.Handler) bool {
	switch h := h.(type) {
	case *proxy.Handler:
		return true
	case *localAddrMux:
		for _, sub := range h.byLocal {
			if !keepsNoRequest(sub) {
				return false
			}
		}
		return keepsNoRequest(h.fallback)
	}
	return false
}
