// Package deadline sets the I/O deadlines of connections lazily, as nginx
// moves its timers: a timeout may fire a little late, never early, and a
// busy connection's deadline moves a few times a second rather than
// before every read or write.
package deadline

import "time"

// MaxSlack is the most a Lazy lets a timeout run late, nginx's
// NGX_TIMER_LAZY_DELAY: ngx_add_timer leaves a timer where it is when it
// would move by less than this.
const MaxSlack = 300 * time.Millisecond

// Lazy is the deadline of one direction (reads or writes) of one
// connection, moved only when it must be.
//
// A timeout between two successive reads, or writes, is a deadline set
// before each one, and setting a deadline is not free: every
// SetReadDeadline or SetWriteDeadline modifies a runtime timer (and on an
// HTTP/2 stream sends a message to the connection's goroutine). Set
// naively, about nine per proxied request, they took some 5% of limpet's
// CPU under load.
//
// So, as nginx does, a Lazy lets a timeout fire a little late but
// never early: Extend sets the deadline to now+timeout+slack, where slack
// is timeout/16 but at most MaxSlack (short timeouts stay close to
// exact), and makes no call at all while the deadline in place lies
// between now+timeout and now+timeout+slack. A busy connection's deadline
// then moves once per slack, not once per I/O.
//
// It works only if it knows the deadline in place: every deadline on the
// direction must go through it (Set records one that other code sets).
// Its zero value stands for a connection with no deadline, as a new
// net.Conn has; from it Extend always sets one, so only Clear depends on
// that being true. A Lazy is not safe for concurrent use.
type Lazy struct {
	at time.Time // the deadline in place; zero for none
}

// Slack is how late a deadline for timeout may fire: timeout/16, at most
// MaxSlack.
func Slack(timeout time.Duration) time.Duration {
	return min(timeout/16, MaxSlack)
}

// Extend readies the connection for an I/O that timeout bounds, counted
// from now: after it, the deadline is at least timeout and at most
// timeout+slack away, and set (one of the connection's SetReadDeadline
// and SetWriteDeadline) has been called only if the deadline in place was
// not. A timeout of 0 or less means no limit: the deadline is cleared.
func (d *Lazy) Extend(set func(time.Time) error, timeout time.Duration) error {
	if timeout <= 0 {
		return d.Clear(set)
	}
	return d.ExtendAt(set, time.Now(), timeout)
}

// ExtendAt is Extend for a caller that has just read the clock. now must
// be the current time: a deadline kept because it was far enough from a
// past now fires early by now's age.
func (d *Lazy) ExtendAt(set func(time.Time) error, now time.Time, timeout time.Duration) error {
	if timeout <= 0 {
		return d.Clear(set)
	}
	return d.Within(set, now, timeout, timeout+Slack(timeout))
}

// Within readies the connection for an I/O that must be allowed at least
// least and at most most from now (least <= most): the deadline in place
// is kept when it lies between, else set to now+most. A wide window, for a
// limit that need not be precise, keeps the deadline longer still.
func (d *Lazy) Within(set func(time.Time) error, now time.Time, least, most time.Duration) error {
	earliest, latest := now.Add(least), now.Add(most)
	if !d.at.IsZero() && !d.at.Before(earliest) && !d.at.After(latest) {
		return nil
	}
	// A deadline later than latest (set for a longer timeout) is moved
	// too: kept, it would let this timeout run late by more than slack.
	return d.Set(set, latest)
}

// SetAt is for a caller that asks for an absolute deadline t, as
// net.Conn's SetDeadline methods take: a zero t clears the deadline, a t
// not after now is set as it is (a deadline in the past interrupts I/O
// at once), and a later one is treated as ExtendAt's timeout t-now.
func (d *Lazy) SetAt(set func(time.Time) error, now, t time.Time) error {
	switch {
	case t.IsZero():
		return d.Clear(set)
	case !t.After(now):
		return d.Set(set, t)
	}
	return d.ExtendAt(set, now, t.Sub(now))
}

// Clear removes the deadline, for I/O with no time limit or for handing
// the connection to code that sets its own deadlines. It calls set only
// if a deadline is in place.
func (d *Lazy) Clear(set func(time.Time) error) error {
	if d.at.IsZero() {
		return nil
	}
	return d.Set(set, time.Time{})
}

// Set sets the deadline to t (zero for none) and records it. Code that
// sets a deadline of its own on the connection sets it through Set, so
// that the next Extend knows where it is.
func (d *Lazy) Set(set func(time.Time) error, t time.Time) error {
	if err := set(t); err != nil {
		// Nothing moved: the recorded deadline is still the one in
		// place.
		return err
	}
	d.at = t
	return nil
}

// Forget records that the deadline in place is unknown, after code that
// does not go through the Lazy set or cleared it: the next Extend or
// Clear then calls set whatever it was.
func (d *Lazy) Forget() { d.at = unknown }

// unknown is a deadline long past: Extend moves it and Clear clears it.
var unknown = time.Unix(1, 0)

// epoch anchors Now's readings.
var epoch = time.Now()

// Now returns the current time as the monotonic clock tells it, for
// deadlines and durations, not for display. time.Now reads the wall
// clock and the monotonic clock, and deadlines, idle times and their
// comparisons use only the monotonic reading when both times carry one
// (net's deadlines are time.Until(t)). time.Since reads the monotonic
// clock alone, so epoch.Add(time.Since(epoch)) carries the same
// monotonic reading as time.Now's, for about half the cost; its wall
// clock reading is epoch's moved on by the monotonic clock, which is off
// only when the wall clock was set since, and nothing that shows a time
// may take it.
func Now() time.Time { return epoch.Add(time.Since(epoch)) }
