package config

import "strings"

// This file holds ngx_http_log_module's directives: log_format and
// access_log. The formats' variables are compiled by the proxy (config
// imports nothing internal), which reports an unknown one at the
// log_format's line.

// LogFormat is `log_format NAME [escape=default|json|none] STRING ...;`.
type LogFormat struct {
	Pos  Pos
	Name string
	// Escape is how variable values are escaped: "default" (", \ and
	// bytes below 32 or above 126 as \xHH), "json" (JSON string
	// escapes) or "none".
	Escape string
	// Format is the strings of the directive joined, as nginx joins them.
	Format string
}

// CombinedFormat is nginx's predefined "combined" format, which needs no
// log_format directive.
const CombinedFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// combined is the predefined format; its Pos is zero (nginx's own).
var combined = &LogFormat{Name: "combined", Escape: "default", Format: CombinedFormat}

// logFormat handles `log_format NAME [escape=...] STRING ...`. As in
// nginx, a format must be defined before an access_log names it, and a
// name may be defined once ("combined" is taken).
func (b *builder) logFormat(d *Directive, s *scope) error {
	name := d.Args[0]
	if name == "combined" || b.cfg.LogFormats[name] != nil {
		return d.errorf("duplicate \"log_format\" name %q", name)
	}
	f := &LogFormat{Pos: d.Pos(), Name: name, Escape: "default"}
	parts := d.Args[1:]
	if e, ok := strings.CutPrefix(parts[0], "escape="); ok {
		switch e {
		case "default", "json", "none":
			f.Escape = e
		default:
			return d.errorf("unknown log format escaping %q", e)
		}
		parts = parts[1:]
	}
	f.Format = strings.Join(parts, "")
	if b.cfg.LogFormats == nil {
		b.cfg.LogFormats = make(map[string]*LogFormat)
	}
	b.cfg.LogFormats[name] = f
	return nil
}

// findLogFormat returns the format of an access_log line; nginx compares
// the names without case here (but not when it checks duplicates).
func (b *builder) findLogFormat(name string) *LogFormat {
	if strings.EqualFold(name, "combined") {
		return combined
	}
	if f := b.cfg.LogFormats[name]; f != nil {
		return f
	}
	for n, f := range b.cfg.LogFormats {
		if strings.EqualFold(n, name) {
			return f
		}
	}
	return nil
}

// accessLog handles `access_log off | PATH [FORMAT [buffer=SIZE]
// [gzip[=LEVEL]] [flush=TIME] [if=CONDITION]]`, several of which a level
// may have, all written. Without FORMAT limpet writes its JSON line
// (nginx's default is combined). gzip is refused: limpet does not
// compress logs.
func (b *builder) accessLog(d *Directive, s *scope) error {
	f := &s.proxy.accessLog
	if d.Args[0] == "off" {
		if len(d.Args) > 1 {
			return d.invalidParam(d.Args[1])
		}
		// "off" turns off every log of the level, whatever else it has.
		f.off, f.set = true, true
		return nil
	}
	path, err := b.logPath(d, true)
	if err != nil {
		return err
	}
	l := AccessLog{Pos: d.Pos(), Path: path}
	if len(d.Args) > 1 {
		if l.Format = b.findLogFormat(d.Args[1]); l.Format == nil {
			return d.errorf("unknown log format %q", d.Args[1])
		}
	}
	for _, p := range d.Args[min(2, len(d.Args)):] {
		switch key, val, _ := strings.Cut(p, "="); {
		case key == "buffer" && strings.HasPrefix(p, "buffer="):
			n, ok := parseSize(val)
			if !ok || n == 0 {
				return d.errorf("invalid buffer size %q", val)
			}
			l.Buffer = int(n)
		case key == "flush" && strings.HasPrefix(p, "flush="):
			t, ok := parseTime(val, false)
			if !ok || t == 0 {
				return d.errorf("invalid flush time %q", val)
			}
			l.Flush = t
		case key == "gzip":
			return d.errorf("the \"gzip\" parameter of \"access_log\" is not supported by limpet")
		case key == "if" && strings.HasPrefix(p, "if="):
			l.If = val
		default:
			return d.invalidParam(p)
		}
	}
	if l.Flush > 0 && l.Buffer == 0 {
		return d.errorf("no buffer is defined for access_log %q", d.Args[0])
	}
	if l.Buffer > 0 {
		// One file, one buffer: its lines may not ask for two.
		if b.logBuffers == nil {
			b.logBuffers = make(map[string]AccessLog)
		}
		if prev, ok := b.logBuffers[path]; ok && (prev.Buffer != l.Buffer || prev.Flush != l.Flush) {
			return d.errorf("access_log %q already defined with conflicting parameters", d.Args[0])
		}
		b.logBuffers[path] = l
	}
	f.logs = append(f.logs, l)
	f.set = true
	return nil
}

// accessLogs is a level's access_log lines: a level with any (or with
// "off") inherits none.
type accessLogs struct {
	logs []AccessLog
	off  bool
	set  bool
}

// inherit takes the parent's lines when this level has none.
func (a *accessLogs) inherit(parent accessLogs) {
	if !a.set {
		*a = parent
	}
}

// effective returns the lines that apply, the default (limpet's JSON to
// stdout) when no level has any, nil when off.
func (a accessLogs) effective() []AccessLog {
	switch {
	case a.off:
		return nil
	case !a.set:
		return []AccessLog{{Path: defaultAccessLog}}
	}
	return append([]AccessLog(nil), a.logs...)
}
