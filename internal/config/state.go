package config

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NGINX Plus's `state FILE;` in an upstream block: the file keeps the
// group's servers, one `server ADDRESS [parameters];` line each, as the
// runtime API leaves them. It is read here, when the configuration is
// loaded, so a reload or a restart brings back the servers added through
// the API; the runtime rewrites it after every change (FormatState).

// state handles `state FILE;`: the file's lines become the upstream's
// servers, parsed as `server` lines of the block and located in the
// file, so an error names the state file and its line. A missing file
// is an empty group, as NGINX Plus starts one.
func (b *builder) state(d *Directive, s *scope) error {
	uc := s.ups
	if uc.state != nil {
		return d.duplicate()
	}
	if uc.server != nil {
		return d.errorf("%q directive is incompatible with %q", d.Name, "server")
	}
	path := d.Args[0]
	switch {
	case path == "":
		return d.invalidArg(path)
	case !filepath.IsAbs(path):
		// Relative to the main file's directory, as nginx's are to its
		// configuration prefix.
		path = filepath.Join(b.dir, path)
	}
	if other := b.states[absPath(path)]; other != nil {
		// Two groups writing one file would overwrite each other's
		// servers.
		return d.errorf("%q file %q is already kept by upstream %q", d.Name, path, other.Name)
	}
	b.states[absPath(path)] = uc.u
	uc.state = d
	uc.u.State = path
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return d.errorf("%w", openError(path, err))
	}
	uc.u.StateDigest = sha256.Sum256(src)
	tree, err := Parse(path, src)
	if err != nil {
		return err
	}
	for _, sd := range tree {
		// The file holds server lines only: it is a group's state, not
		// a configuration to include.
		if sd.Name != "server" {
			if _, known := table[sd.Name]; !known {
				return sd.errorf("unknown directive %q", sd.Name)
			}
			return sd.errorf("%q directive is not allowed here", sd.Name)
		}
		e, err := lookup(sd, inUpstream)
		if err != nil {
			return err
		}
		if err := e.check(sd); err != nil {
			return err
		}
		if err := b.addServer(sd, s); err != nil {
			return err
		}
	}
	return nil
}

// FormatState returns the text of a state file holding servers, as
// NGINX Plus writes one: a `server ADDRESS [parameters];` line per
// server, in order, with only the parameters that differ from the
// defaults (weight=1 max_fails=1 fail_timeout=10s). ADDRESS is the
// resolved "ip:port", so reading the file back gives the same servers,
// with the same identities, whatever the name first written resolves to
// by then. Load reads what it writes back identically.
func FormatState(servers []*UpstreamServer) []byte {
	var b strings.Builder
	for _, s := range servers {
		b.WriteString("server ")
		b.WriteString(quoteArg(s.Addr))
		if s.Weight != 1 {
			b.WriteString(" weight=" + strconv.Itoa(s.Weight))
		}
		if s.MaxConns != 0 {
			b.WriteString(" max_conns=" + strconv.Itoa(s.MaxConns))
		}
		if s.MaxFails != 1 {
			b.WriteString(" max_fails=" + strconv.Itoa(s.MaxFails))
		}
		if s.FailTimeout != 10*time.Second {
			b.WriteString(" fail_timeout=" + seconds(s.FailTimeout))
		}
		if s.SlowStart != 0 {
			b.WriteString(" slow_start=" + seconds(s.SlowStart))
		}
		if s.Route != "" {
			b.WriteString(" " + quoteArg("route="+s.Route))
		}
		if s.Backup {
			b.WriteString(" backup")
		}
		if s.Down {
			b.WriteString(" down")
		}
		if s.Drain {
			b.WriteString(" drain")
		}
		b.WriteString(";\n")
	}
	return []byte(b.String())
}

// seconds writes a time kept in seconds (fail_timeout, slow_start) as
// nginx does, "10s"; the parser refuses milliseconds there, so a
// fraction of a second is rounded up rather than lost.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
}

// quoteArg writes an argument so the lexer reads it back unchanged:
// bare when it can be, else in double quotes with `"` and `\` escaped
// and line breaks and tabs written as \n, \r and \t.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n;{}\"'\\#") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
