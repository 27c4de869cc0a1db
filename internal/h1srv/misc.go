package h1srv

import (
	"net/http"
	"strconv"
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

// dateEntry is the Date field of one second.
type dateEntry struct {
	sec  int64
	line string // "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n"
}

var dateCache atomic.Pointer[dateEntry]

// dateLine returns the Date field for now, formatted once a second.
func dateLine(now time.Time) string {
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.line
	}
	d := &dateEntry{sec: sec, line: "Date: " + now.UTC().Format(http.TimeFormat) + "\r\n"}
	dateCache.Store(d)
	return d.line
}
