package proxy

import (
	"net/http"
	"sync"

	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// This file recycles the two large objects of a proxied request: its
// responseWriter (the access log entry, the variables) and its first
// exchange (the outgoing request, its header fields, the attempt records).
// Allocating them anew for every request costs about 2.4 KB, which sets
// how often the collector runs (internal/gctune), so they go back to a
// pool once ServeHTTP is done with them.
//
// An object goes back only when nothing can still reach it once ServeHTTP
// returns. What could is a goroutine that outlives the handler:
//   - a transport reading the request body after RoundTrip returned (the
//     standard one does; the client's body reader holds the
//     responseWriter for its read deadline, the buffered body lives in the
//     exchange): so a request with a body recycles neither;
//   - net/http's transport, which h1 falls back to for upgrades, Expect:
//     100-continue, CONNECT and https, may still be writing a request
//     whose URL lives in the exchange when the response arrives: so only
//     an exchange whose every attempt took h1's fast path is recycled
//     (fastForward), on which the request is written whole before the
//     response is read and nothing of it is kept after RoundTripForward.
//
// The upgraded connection's copying goroutines hold only the hijacked
// connections; the access log formats its line before Log returns; the
// $upstream_* views (the exchange, or an upstreamChain of exchanges) live
// in the responseWriter, recycled at the same moment; an auth_request
// subrequest's writer and exchanges are never recycled (see takeExchange).

var (
	writers   = sync.Pool{New: func() any { return new(responseWriter) }}
	exchanges = sync.Pool{New: func() any { return new(exchange) }}
)

// newResponseWriter returns a cleared responseWriter for a request to w,
// from the pool.
func newResponseWriter(w http.ResponseWriter) *responseWriter {
	rw := writers.Get().(*responseWriter)
	rw.ResponseWriter, rw.recycled = w, true
	return rw
}

// release gives rw, and the exchange it lent, back to the pools once the
// request r is done with them: its access log line written, its zones
// counted. A request with a body recycles nothing (see above).
func (w *responseWriter) release(r *http.Request) {
	if !w.recycled || (r.Body != nil && r.Body != http.NoBody) {
		return
	}
	if x := w.x; x != nil && x.recyclable {
		skip := x.skip // bound to x.a, which stays where it is
		resp := x.resp
		if resp != nil {
			resp.Reset()
		}
		*x = exchange{}
		x.skip, x.resp = skip, resp
		exchanges.Put(x)
	}
	*w = responseWriter{}
	writers.Put(w)
}

// takeExchange returns the storage of an exchange for a request proxied
// through w: the request's first is lent by the pool when w itself came
// from it; later ones (an error_page location proxying again) and those
// of an auth_request subrequest, whose writer is its own, are allocated.
func (w *responseWriter) takeExchange() *exchange {
	if !w.recycled || w.x != nil {
		return new(exchange)
	}
	w.x = exchanges.Get().(*exchange)
	return w.x
}

// fastForward reports whether x's request is one h1's transport sends on
// its fast path, on the caller's goroutine, keeping nothing of it once it
// returns: plain http through h1, no body, no protocol upgrade, no
// Expect: 100-continue, not CONNECT (h1.Transport.fastPath). Only such an
// exchange is recycled. A proxy_set_header of Connection, Upgrade or
// Expect, whatever its value, errs on the side of not recycling.
func (x *exchange) fastForward() bool {
	if _, ok := x.l.transport.(forwardRoundTripper); !ok || x.l.scheme != "http" {
		return false
	}
	if x.out.Body != nil || x.out.Method == http.MethodConnect {
		return false
	}
	if httpsyntax.HasToken(x.r.Header["Connection"], "upgrade") || httpsyntax.HasToken(x.r.Header["Expect"], "100-continue") {
		return false
	}
	for i := range x.fwd.Fields {
		switch x.fwd.Fields[i].Name {
		case "Connection", "Upgrade", "Expect":
			return false
		}
	}
	return true
}

// lendStorage lends the exchange's response storage to the first attempt
// of a recyclable exchange, whose response is read until the request ends
// and no longer (see ResponseStorage): the response and its header then
// cost no allocation. A later attempt gets none, and h1 allocates its
// response: the first attempt's response is closed by then, but the
// storage is not worth the doubt for a rare retry.
func (x *exchange) lendStorage() {
	x.fwd.Storage = nil
	if !x.recyclable || x.tries != 1 {
		return
	}
	if x.resp == nil {
		x.resp = new(h1.ResponseStorage)
	}
	x.fwd.Storage = x.resp
}

// keepStorage runs as the response lent the storage has been sent (or
// given up on): respond gives the client's header the slices of the
// upstream's values, which live in the storage. A server that has not
// written the header block when the handler returns writes it after,
// reading those slices, after the exchange went back to its pool: h1srv
// does so when the framing of the body is not yet known (no
// Content-Length, a body allowed, none written or all of it held back).
// Such an exchange is not recycled, and its storage goes with it.
func (x *exchange) keepStorage(w *responseWriter) {
	if x.fwd.Storage == nil || !x.recyclable {
		return
	}
	switch w.status {
	case http.StatusNoContent, http.StatusNotModified:
		return // no body: the header block was written with the status
	}
	// A status below 200 is none yet: the server writes a 200 after.
	if w.status < 200 || !validLength(w.Header()["Content-Length"]) {
		x.recyclable = false
	}
}

// validLength reports a Content-Length field of one value, all digits,
// which a server frames the body with as soon as the header is written.
func validLength(v []string) bool {
	if len(v) != 1 || v[0] == "" {
		return false
	}
	for i := 0; i < len(v[0]); i++ {
		if c := v[0][i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}
