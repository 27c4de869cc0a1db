package h1srv

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// statusLines holds "HTTP/1.1 200 OK\r\n" and the like for 100-599.
var statusLines [600]string

func init() {
	for code := 100; code < len(statusLines); code++ {
		statusLines[code] = "HTTP/1.1 " + statusText(code) + "\r\n"
	}
}

// statusText returns "200 OK", or "299 status code 299" for a code
// without a reason phrase, as net/http writes it.
func statusText(code int) string {
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + text
}

func statusLine(code int) string {
	if code >= 100 && code < len(statusLines) {
		return statusLines[code]
	}
	return "HTTP/1.1 " + statusText(code) + "\r\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

// dates is the Date field of the current second, kept as nginx keeps
// its cached time: a response's Date costs no reading of the clock.
var dates dateClock

// dateClock keeps the Date field of the current second. A timer set for
// each next second refreshes it while responses ask for it; after a
// second in which none did, the timer stops, so an idle server has no
// wake-ups, and the next response reads the clock and starts it again.
type dateClock struct {
	line atomic.Pointer[string] // nil while the timer is stopped
	used atomic.Bool            // Line was called since the last tick
	mu   sync.Mutex             // guards timer, and line's nil to non-nil
	// timer is the one timer, made by the first start.
	timer *time.Timer
	// manual leaves the timer unset: a test ticks by hand.
	manual bool
}

// Line returns "Date: <the current second>\r\n".
func (d *dateClock) Line() string {
	if l := d.line.Load(); l != nil {
		if !d.used.Load() { // a store once a second, not per response
			d.used.Store(true)
		}
		return *l
	}
	return d.start()
}

// start formats the current second and sets the timer for the next.
func (d *dateClock) start() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.line.Load(); l != nil {
		return *l // started meanwhile
	}
	now := clock()
	l := dateField(now)
	d.line.Store(&l)
	d.used.Store(true)
	switch {
	case d.manual:
	case d.timer == nil:
		d.timer = time.AfterFunc(untilNextSecond(now), d.tick)
	default:
		d.timer.Reset(untilNextSecond(now))
	}
	return l
}

// tick runs at each second while the field is in use: it formats the
// new second, or stops when no response asked since the last tick.
func (d *dateClock) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.used.Swap(false) {
		d.line.Store(nil)
		return
	}
	now := clock()
	l := dateField(now)
	d.line.Store(&l)
	if !d.manual {
		d.timer.Reset(untilNextSecond(now))
	}
}

// dateField formats now as a Date field.
func dateField(now time.Time) string {
	return "Date: " + now.UTC().Format(http.TimeFormat) + "\r\n"
}

// untilNextSecond is the time from now to the next whole second.
func untilNextSecond(now time.Time) time.Duration {
	return time.Second - time.Duration(now.Nanosecond())
}
