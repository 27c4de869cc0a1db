package proxy

import (
	"fmt"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// logSet is a level's access_log lines, compiled: every line is written
// for every request the level serves (nginx allows several).
type logSet struct {
	lines []logLine
	// json is set when a line writes limpet's JSON, which needs the
	// entry filled; formats is set when a line has a log_format.
	json, formats bool
}

// logLine is one compiled access_log line.
type logLine struct {
	l *accesslog.Logger
	// format is the log_format's template, nil for limpet's JSON line.
	format *vars.Template
	escape vars.Escape
	// cond is if=, nil for none: a line whose condition is "" or "0" is
	// not written.
	cond *vars.Template
}

// openLogs compiles a level's access_log lines; nil when they are off.
// An unknown variable in a format is an error at the log_format's line,
// in an if= at the access_log's.
func openLogs(env *Env, list []config.AccessLog) (*logSet, error) {
	if env.AccessLog == nil {
		return nil, nil
	}
	var set logSet
	for _, al := range list {
		if al.Off {
			continue
		}
		l, err := env.AccessLog(al)
		if err != nil {
			return nil, &config.Error{Pos: al.Pos, Msg: fmt.Sprintf("open() %q failed (%v)", al.Path, err)}
		}
		if l == nil {
			continue
		}
		line := logLine{l: l}
		if f := al.Format; f != nil {
			if line.format, err = env.Vars.Compile(f.Format); err != nil {
				return nil, &config.Error{Pos: f.Pos, Msg: err.Error()}
			}
			line.escape, _ = vars.ParseEscape(f.Escape)
			set.formats = true
		} else {
			set.json = true
		}
		if al.If != "" {
			if line.cond, err = env.Vars.Compile(al.If); err != nil {
				return nil, &config.Error{Pos: al.Pos, Msg: err.Error()}
			}
		}
		set.lines = append(set.lines, line)
	}
	if len(set.lines) == 0 {
		return nil, nil
	}
	return &set, nil
}

// write writes the request's lines. e is filled already when json is set.
func (s *logSet) write(e *accesslog.Entry, vr *vars.Request) {
	for i := range s.lines {
		ln := &s.lines[i]
		if ln.cond != nil && !truthy(ln.cond, vr) {
			continue
		}
		if ln.format == nil {
			ln.l.Log(e)
			continue
		}
		bp := accesslog.LinePool.Get().(*[]byte)
		b := ln.format.AppendLog((*bp)[:0], vr, ln.escape)
		b = append(b, '\n')
		ln.l.WriteLine(b)
		*bp = b
		accesslog.LinePool.Put(bp)
	}
}

// truthy reports whether an if= condition holds: its value is neither
// empty nor "0".
func truthy(t *vars.Template, vr *vars.Request) bool {
	var buf [64]byte
	v := t.Append(buf[:0], vr)
	return len(v) > 0 && !(len(v) == 1 && v[0] == '0')
}

// logRequest writes the access log lines of a request the location
// served, took after it began.
func (l *location) logRequest(rw *responseWriter, e *accesslog.Entry, took time.Duration) {
	if l.log == nil {
		return
	}
	e.Status = rw.status
	if e.Status == 0 {
		e.Status = StatusClientClosed
	}
	e.Bytes = rw.bytes
	e.RequestTime = took
	if l.log.formats {
		p := &rw.resp
		p.End = p.Start.Add(took) // the times of the line: no reading of their own
		p.Status, p.BodyBytes = e.Status, rw.bytes
		p.HeaderBytes = headerBytes(rw)
		p.Completed = rw.status != 0 && !rw.broken
	}
	l.log.write(e, &rw.vr)
}

// headerBytes estimates the size of the status line and header sent, for
// $bytes_sent: the fields the handler set, and the status line, Date and
// framing field the server adds.
func headerBytes(rw *responseWriter) int64 {
	if rw.status == 0 {
		return 0
	}
	n := len("HTTP/1.1 200 OK\r\n") + len("Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n") + 2
	for k, vs := range rw.Header() {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return int64(n)
}
