package h1

import (
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// The transport reads the clock for the deadlines of its reads and writes
// and for the idle time of pooled connections, and at a proxy's request
// rates the readings add up: each costs tens of nanoseconds, and a request
// took five. So it reads the clock only where a reading is due, and reads
// the monotonic clock alone.
//
// Where a reading is due: after anything that may have blocked (a read or
// a write of a connection, a dial, a body the client sends), since the
// time it took is what a timeout bounds. Between two such points one
// reading serves: the attempt's start (Forward.Now, the caller's reading,
// or the transport's own) is also the time the pooled connection is
// taken and the time the request's first write begins. Reads served from
// the buffer alone need no deadline, and no reading.
//
// The monotonic clock alone: deadline.Now (its comment says why that is
// enough for deadlines and idle times, and half the cost of time.Now).

// now reads the clock for the transport: deadline.Now, unless a test counts
// the readings.
func (t *Transport) now() time.Time {
	if t.clock != nil {
		return t.clock()
	}
	return deadline.Now()
}

// hasMonotonic reports whether t carries a monotonic clock reading, as
// time.Now's do: Round(0) strips it, and changes t only if it had one.
func hasMonotonic(t time.Time) bool { return t != t.Round(0) }

// staleMargin is how old a reading of the clock taken before code that
// does not block may be when it is used as the current time for a
// deadline: that code runs for microseconds, and a millisecond covers it
// with room to spare.
const staleMargin = time.Millisecond

// staleMin is the shortest timeout a reading that old is used for: its
// slack (a sixteenth, 4ms) leaves room for staleMargin. For a shorter
// one the clock is read afresh.
const staleMin = 64 * time.Millisecond

// extendRead readies c for a read that timeout bounds (none when 0),
// counted from now: deadline.Lazy.Extend with the transport's clock, read
// only when there is a deadline to keep.
func (c *conn) extendRead(timeout time.Duration) error {
	if timeout <= 0 {
		return c.rd.Clear(c.nc.SetReadDeadline)
	}
	return c.rd.ExtendAt(c.nc.SetReadDeadline, c.t.now(), timeout)
}

// extendSince is deadline.Lazy.ExtendAt for at, a reading of the clock
// taken before code that does not block (see staleMargin), with the same
// bounds from the current time: the deadline in place is kept only if it
// is at least timeout from at+staleMargin, which is later than the
// current time, so it is never early; a new one is timeout and its slack
// from at, which is earlier than the current time, so it is late by less
// than the slack. For a timeout shorter than staleMin the clock is read
// afresh (now).
func extendSince(d *deadline.Lazy, set func(time.Time) error, at time.Time, timeout time.Duration, now func() time.Time) error {
	switch {
	case timeout <= 0:
		return d.Clear(set)
	case timeout < staleMin:
		return d.ExtendAt(set, now(), timeout)
	}
	return d.Within(set, at, timeout+staleMargin, timeout+deadline.Slack(timeout))
}
