package h1srv

import (
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// Clock readings. time.Now costs tens of nanoseconds on a VM, and a
// proxied request used to read it half a dozen times on the server's
// side alone. The server reads it where time has really passed, where a
// read or a write may have blocked, and reuses the reading until the
// next such point:
//
//   - once the request's first byte is in (conn.reqStart): for the
//     header deadline, keepalive_time, the watch's start when the header
//     block was whole in the buffer, and RequestStart;
//   - once as the response's header block ends (response.endHeader: at
//     the handler's end, its Flush, or once its body outgrows
//     pendingMax): for the write deadline (send_timeout) of the write
//     that follows (conn.wnow), from the monotonic clock alone; any later write reads the clock again,
//     since the one before may have blocked for a slow client;
//   - once as the connection turns idle (waitRequest), after the
//     response's last write: keepalive_timeout counts from there.
//
// The Date field takes no reading: it is the current second's, kept by a
// timer while responses ask for it (dateClock, as nginx's cached time).
//
// A deadline the handler sets for writes (SetWriteDeadline) is set on
// the connection before the next write, with that write's reading,
// rather than at once with a reading of its own; at once when a write is
// under way, which it must bound.

// clock reads the clock: time.Now, through a variable so that a test can
// count the readings (TestClockReadingsPerRequest); it is set only before
// any test runs.
var clock = time.Now

// monoClock reads the monotonic clock alone (deadline.Now), for the
// readings only deadlines use; set, like clock, only before any test
// runs.
var monoClock = deadline.Now

// orNow returns now, or the current time when now is zero (no reading
// to reuse).
func orNow(now time.Time) time.Time {
	if now.IsZero() {
		return clock()
	}
	return now
}

// beginRawWrite readies a write that does not go through connWriter
// (sendfile): the write deadline the handler set since the last write is
// set on rwc first, and the write is marked under way, so that a
// deadline the handler sets meanwhile, from another goroutine, bounds it
// (SetWriteDeadline). endRawWrite ends it.
func (c *conn) beginRawWrite() {
	c.dlMu.Lock()
	if c.pendingWD && !c.rawWrites {
		c.pendingWD = false
		_ = c.wd.SetAt(c.rwc.SetWriteDeadline, clock(), c.wantWD)
	}
	c.writing.Store(true)
	c.dlMu.Unlock()
}

// endRawWrite ends what beginRawWrite began.
func (c *conn) endRawWrite() { c.writing.Store(false) }
