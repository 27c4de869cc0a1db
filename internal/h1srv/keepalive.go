package h1srv

import (
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/vars"
)

// connSerials numbers the connections of the process ($connection).
var connSerials atomic.Uint64

var _ vars.Conn = (*conn)(nil)

// Serial is the connection's number, for $connection.
func (c *conn) Serial() uint64 { return c.serial }

// Requests is the number of requests the connection has read, the one
// being served included, for $connection_requests. It is read by the
// handler, which runs on the connection's goroutine, as serve counts.
func (c *conn) Requests() int { return c.served + 1 }

// Start is when the connection was accepted.
func (c *conn) Start() time.Time { return c.start }

// lastRequest reports whether the request being read must be the
// connection's last: it is the MaxRequests-th (nginx counts the current
// request against keepalive_requests), or it began after MaxConnAge
// (keepalive_time, which nginx checks as the request starts: at
// reqStart).
func (c *conn) lastRequest() bool {
	set := c.set
	if set.MaxRequests > 0 && c.served+1 >= set.MaxRequests {
		return true
	}
	return set.MaxConnAge > 0 && c.reqStart.Sub(c.start) >= set.MaxConnAge
}
