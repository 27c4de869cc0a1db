package proxy

import "net/http"

// closeWithoutResponse ends the exchange without an answer, as nginx's
// 444 does: an HTTP/1 connection is closed. An HTTP/2 connection carries
// other streams and cannot be hijacked, so only the request's stream is
// reset (RST_STREAM INTERNAL_ERROR, what nginx sends for a stream it
// closes unanswered), by the panic x/net/http2 turns into the reset. The
// access log line, written by ServeHTTP's deferred call, records 444.
func closeWithoutResponse(w *responseWriter) {
	w.status = statusNoResponse
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = c.Close()
		return
	}
	panic(http.ErrAbortHandler)
}
