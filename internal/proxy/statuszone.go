package proxy

import (
	"io"
	"net/http"
	"sync/atomic"

	"github.com/limpet-lb/limpet/internal/statuszone"
)

// zones are the status zones a request is counted in: its server's and
// its location's (NGINX Plus's server_zones and location_zones), either
// nil.
type zones struct {
	server, location *statuszone.Zone
	// body counts the request body bytes read, when a zone counts them.
	body *countingBody
}

// begin counts the request in z, wrapping its body to count the bytes
// read from the client (one allocation, only for a request with a body
// in a zone).
func (zs *zones) begin(z *statuszone.Zone, r *http.Request) {
	if z == nil {
		return
	}
	z.Begin()
	if zs.body == nil && r.Body != nil && r.Body != http.NoBody {
		zs.body = &countingBody{ReadCloser: r.Body}
		r.Body = zs.body
	}
}

// end counts the end of the request in both zones.
func (zs *zones) end(rw *responseWriter) {
	var received int64
	if zs.body != nil {
		received = zs.body.n.Load()
	}
	if zs.server != nil {
		zs.server.End(rw.status, received, rw.bytes)
	}
	if zs.location != nil {
		zs.location.End(rw.status, received, rw.bytes)
	}
}

// countingBody counts the bytes read through it. n is atomic: a
// transport may read the body on a goroutine of its own, still going
// when the request's end is counted.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// compileZone returns the zone a status_zone names, nil for none.
func compileZone(env *Env, kind statuszone.Kind, name string) *statuszone.Zone {
	if name == "" || env.StatusZone == nil {
		return nil
	}
	return env.StatusZone(kind, name)
}
