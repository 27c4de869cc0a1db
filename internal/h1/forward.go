package h1

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/limpet-lb/limpet/internal/httpsyntax"
)

// Forward is the header of a request a proxy passes on: the client's
// fields, less the hop-by-hop ones (httpsyntax.HopHeaders), those named in
// Omit and those Fields replaces, then Fields. The transport writes it as
// it stands, so that a proxy need not merge the two into a new map for
// every request; only a request for the fallback is given one (Header).
//
// An empty User-Agent means none is sent, and no User-Agent of the
// transport's own is added: the proxy speaks in the client's name.
//
// Omit and Fields must not change once the Forward has been used.
type Forward struct {
	// Client holds the client's fields. It is read, never modified.
	Client http.Header
	// Omit holds the canonical names of Client's fields not to send
	// (those the client's Connection field names, those a proxy setting
	// removes).
	Omit []string
	// Fields are sent after Client's, and replace Client's fields of the
	// same names. Names are canonical, each at most once.
	Fields []Field
	// TLSName, when not empty, is the name the TLS connection of an
	// "https" request is made for, instead of Options.TLSName (nginx's
	// proxy_ssl_name with variables).
	TLSName string
	// Now, when not zero, is the caller's reading of the clock as the
	// attempt begins: the transport takes it for the attempt's start
	// instead of reading the clock again (a reading costs tens of
	// nanoseconds, and a request took a dozen): for the taking of a
	// pooled connection (its idle time) and the deadline of the
	// request's first write. It must be time.Now's, taken with nothing
	// that blocks between it and RoundTripForward; a time without a
	// monotonic clock reading (a test's fixed clock) is ignored.
	Now time.Time

	// Storage, when not nil, is where the fast path puts the response
	// (see ResponseStorage), which is the caller's to keep from reuse
	// until it is done with the response.
	Storage *ResponseStorage

	// ConnectTime is set by the fast path of RoundTripForward to the
	// time it took to connect to the server, 0 for a pooled connection
	// ($upstream_connect_time); other paths leave it as it is.
	ConnectTime time.Duration

	omitSet map[string]struct{} // Omit as a set, once it is long
}

// omitSetMin is the length of Omit from which its names are looked up in
// a set: a client may name thousands of fields in its Connection header,
// and each of its fields is looked up, twice per attempt.
const omitSetMin = 8

// Field is one header field.
type Field struct {
	Name, Value string
}

// passes reports whether Client's field name is sent.
func (f *Forward) passes(name string) bool {
	if httpsyntax.HopByHop(name) {
		return false
	}
	if f.omits(name) {
		return false
	}
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return false
		}
	}
	return true
}

// omits reports whether name is in Omit.
func (f *Forward) omits(name string) bool {
	if len(f.Omit) < omitSetMin {
		return slices.Contains(f.Omit, name)
	}
	if f.omitSet == nil {
		f.omitSet = make(map[string]struct{}, len(f.Omit))
		for _, o := range f.Omit {
			f.omitSet[o] = struct{}{}
		}
	}
	_, ok := f.omitSet[name]
	return ok
}

// values returns the values of the field name as sent.
func (f *Forward) values(name string) []string {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return []string{f.Fields[i].Value}
		}
	}
	if vv := f.Client[name]; vv != nil && f.passes(name) {
		return vv
	}
	return nil
}

// Header returns the header f stands for, as a new map, for a transport
// that takes one. A User-Agent it lacks is set empty, which keeps Go's
// transport from sending its own.
func (f *Forward) Header() http.Header {
	h := make(http.Header, len(f.Client)+len(f.Fields)+1)
	for k, vv := range f.Client {
		if f.passes(k) {
			h[k] = vv
		}
	}
	for _, fl := range f.Fields {
		h[fl.Name] = []string{fl.Value}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
	return h
}

// RoundTripForward is RoundTripContext for a request whose header is fwd,
// not req.Header, which it ignores.
func (t *Transport) RoundTripForward(ctx context.Context, req *http.Request, fwd *Forward) (*http.Response, error) {
	return t.roundTrip(ctx, req, fwd)
}

// header is a request's header as the transport reads it: req.Header, or
// a Forward when there is one.
type header struct {
	h   http.Header
	fwd *Forward
}

func (h header) values(name string) []string {
	if h.fwd != nil {
		return h.fwd.values(name)
	}
	return h.h[name]
}

func (h header) has(name string) bool { return h.values(name) != nil }
