package h1

import "net/http"

// ResponseStorage is room for one response, which a caller lends to
// RoundTripForward through Forward.Storage so that the fast path parses
// the response into it instead of allocating its own: the http.Response,
// its body, and its header's map and values. A proxy that keeps such a
// storage with its own pooled state, and reads each response (its header
// for the log and the variables) only until it is done with the request,
// spares two allocations per response.
//
// The storage is the response's from RoundTripForward's return until the
// caller is done with all of it: its header (and any slice of it the
// caller copied elsewhere), its body, read to its end or closed, and
// anything that may still call the body's Close (a timer). Until then it
// must not be lent again, nor Reset; after that, Reset readies it for
// the next response. Only a response of the fast path lives in the
// storage; any other is allocated as without one.
type ResponseStorage struct {
	r response
}

// maxKeptFields is how many distinct field names the header's map of a
// ResponseStorage may have held for the map to be kept by Reset: a clear
// keeps the table, and one grown by a rare large header is not worth
// keeping.
const maxKeptFields = 32

// Reset drops everything the storage holds of its last response (the
// connection, the request, the header's strings), keeping the header's
// map, cleared, for the next one.
func (s *ResponseStorage) Reset() {
	h := s.r.res.Header
	if len(h) > maxKeptFields {
		h = nil
	}
	clear(h)
	s.r = response{res: http.Response{Header: h}}
}
