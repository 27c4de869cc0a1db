// Package accesslog writes limpet's access log: one JSON object per
// request, with the persistence outcome and its reason beside the usual
// fields, so "why did this user change server?" is one grep away. Lines
// of nginx's log_format formats are built by the proxy (with
// internal/vars) and written through the same buffered Logger.
//
// Lines are built by hand into a pooled buffer rather than through
// log/slog, because the access log runs on every request and slog's JSON
// handler allocates per attribute. Writes go through a buffer flushed every
// second and on Close, so nothing is lost at shutdown.
package accesslog

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Entry is one request's record.
type Entry struct {
	Time        time.Time // when the request started
	Client      string    // client address, without port
	Host        string    // Host header
	Method      string
	URI         string // request URI as sent by the client
	Proto       string // "HTTP/1.1"
	Status      int    // status sent, or 499 when the client went away first
	Bytes       int64  // response body bytes sent
	RequestTime time.Duration
	// Upstream lists the servers tried, in order, as nginx's
	// $upstream_addr does ("127.0.0.1:9001, 127.0.0.1:9002"); "" when the
	// request was not proxied.
	Upstream string
	// UpstreamStatus lists the status of each attempt ("502, 200").
	UpstreamStatus string
	// UpstreamTime is the time spent on upstream attempts.
	UpstreamTime time.Duration
	// Sticky is the persistence decision ("hit", "new/no_cookie",
	// "reassigned/server_failed"), or "" when the upstream has none.
	Sticky    string
	UserAgent string
	Referer   string
}

// Logger writes entries to one destination. It is safe for concurrent use.
type Logger struct {
	// mu guards w and closed: lines from concurrent requests must not
	// interleave. It is held only to copy a finished line into the buffer.
	mu     sync.Mutex
	w      *bufio.Writer
	out    io.Writer
	file   *os.File // non-nil when the Logger opened a file and must close it
	path   string   // the file's path, for Reopen
	closed bool

	stop chan struct{}
	done chan struct{}

	size  int           // the buffer's size
	flush time.Duration // the flush interval, 0 for none
}

// Buffering returns the Logger's buffer size and flush interval.
func (l *Logger) Buffering() (size int, flush time.Duration) { return l.size, l.flush }

// Open returns a Logger writing to path: "stdout", "stderr",
// "/dev/stdout", "/dev/stderr", or a file opened for appending (created
// with mode 0644 if needed), with a 32k buffer flushed every second.
func Open(path string) (*Logger, error) {
	return OpenBuffered(path, DefaultBuffer, DefaultFlush)
}

// DefaultBuffer and DefaultFlush are a Logger's buffer size and flush
// interval unless told otherwise.
const (
	DefaultBuffer = 32 << 10
	DefaultFlush  = time.Second
)

// OpenBuffered is Open with a buffer of size bytes, written out when it
// fills, every flush (none when 0, as nginx's buffer= without flush=),
// and on Close and Reopen.
func OpenBuffered(path string, size int, flush time.Duration) (*Logger, error) {
	switch path {
	case "stdout", "/dev/stdout":
		return NewBuffered(os.Stdout, size, flush), nil
	case "stderr", "/dev/stderr":
		return NewBuffered(os.Stderr, size, flush), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	l := NewBuffered(f, size, flush)
	l.file = f
	l.path = path
	return l, nil
}

// Reopen opens the Logger's file again by its path and writes there from
// now on, after flushing what is buffered into the old one: what
// logrotate needs after it has renamed the file (nginx's -s reopen,
// SIGUSR1). A Logger writing to a stream, or closed, is left as it is.
// When the file cannot be opened the Logger keeps the old one.
func (l *Logger) Reopen() error {
	if l.file == nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return f.Close()
	}
	ferr := l.w.Flush()
	old := l.file
	l.file, l.out = f, f
	l.w.Reset(f)
	l.mu.Unlock()
	if err := old.Close(); ferr == nil {
		ferr = err
	}
	return ferr
}

// New returns a Logger writing to w, flushed every second.
func New(w io.Writer) *Logger { return NewBuffered(w, DefaultBuffer, DefaultFlush) }

// NewBuffered returns a Logger writing to w through a buffer of size
// bytes, flushed every flush (when it fills only, if flush is 0).
func NewBuffered(w io.Writer, size int, flush time.Duration) *Logger {
	l := &Logger{w: bufio.NewWriterSize(w, size), out: w, stop: make(chan struct{}), done: make(chan struct{}), size: size, flush: flush}
	if flush > 0 {
		go l.flushLoop(flush)
	} else {
		close(l.done)
	}
	return l
}

func (l *Logger) flushLoop(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Flush writes out buffered lines.
func (l *Logger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.w.Flush()
}

// Close flushes and stops the Logger, closing the file it opened.
func (l *Logger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if l.file != nil {
		if cerr := l.file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Log writes one entry.
func (l *Logger) Log(e *Entry) {
	bp := linePool.Get().(*[]byte)
	b := AppendJSON((*bp)[:0], e)
	b = append(b, '\n')
	l.mu.Lock()
	if !l.closed {
		_, _ = l.w.Write(b)
	}
	l.mu.Unlock()
	*bp = b
	linePool.Put(bp)
}

// LinePool lends buffers for the lines callers build themselves (those
// of log_format), so a line costs no allocation.
var LinePool = &linePool

// WriteLine writes one line built by the caller, which ends with '\n'.
func (l *Logger) WriteLine(line []byte) {
	l.mu.Lock()
	if !l.closed {
		_, _ = l.w.Write(line)
	}
	l.mu.Unlock()
}

// AppendJSON appends e as a JSON object to b. Empty optional fields are
// left out.
func AppendJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = appendTime(b, e.Time)
	b = append(b, '"')
	b = appendField(b, "client", e.Client)
	b = appendField(b, "host", e.Host)
	b = appendField(b, "method", e.Method)
	b = appendField(b, "uri", e.URI)
	b = appendField(b, "proto", e.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"request_time":`...)
	b = strconv.AppendFloat(b, e.RequestTime.Seconds(), 'f', 3, 64)
	if e.Upstream != "" {
		b = appendField(b, "upstream", e.Upstream)
		b = appendField(b, "upstream_status", e.UpstreamStatus)
		b = append(b, `,"upstream_time":`...)
		b = strconv.AppendFloat(b, e.UpstreamTime.Seconds(), 'f', 3, 64)
	}
	if e.Sticky != "" {
		b = appendField(b, "sticky", e.Sticky)
	}
	if e.UserAgent != "" {
		b = appendField(b, "user_agent", e.UserAgent)
	}
	if e.Referer != "" {
		b = appendField(b, "referer", e.Referer)
	}
	return append(b, '}')
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Client-controlled text (URI,
// User-Agent) is escaped so that no request can break a line or forge a
// field.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
