package accesslog

import (
	"sync/atomic"
	"time"
)

// stamp is a second formatted as the log's time field starts it, shared
// by the lines of that second: formatting a time is most of the cost of a
// line, and nginx too formats its log time once per second.
type stamp struct {
	sec  int64  // Unix seconds
	text string // "2006-01-02T15:04:05", UTC
}

// lastStamp is the most recent second formatted.
var lastStamp atomic.Pointer[stamp]

// appendTime appends t in UTC as "2006-01-02T15:04:05.000Z", as
// t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00") does.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	s := lastStamp.Load()
	if s == nil || s.sec != sec {
		s = &stamp{sec: sec, text: t.Format("2006-01-02T15:04:05")}
		lastStamp.Store(s)
	}
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, s.text...)
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}
