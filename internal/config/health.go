package config

import (
	"strings"
	"time"
)

// This file holds NGINX Plus's active health checks
// (ngx_http_upstream_hc_module): `health_check` in a location that proxies
// to an upstream group, and the `match` blocks that say what a healthy
// response looks like.

// Defaults of health_check, NGINX Plus's.
const (
	defaultCheckInterval = 5 * time.Second
	defaultCheckURI      = "/"
)

// pendingCheck is a health_check whose match name and location's
// upstream are resolved once the whole tree is read: a match block or an
// upstream may come after the health_check that uses it.
type pendingCheck struct {
	d     *Directive
	hc    *HealthCheck
	match string // the match= name, or ""
	loc   *Location
}

// healthCheck handles `health_check [interval=TIME] [jitter=TIME]
// [fails=N] [passes=N] [uri=URI] [port=N] [match=NAME] [mandatory]
// [persistent]`. A location may have several; each probes every server
// of the location's upstream.
func (b *builder) healthCheck(d *Directive, s *scope) error {
	hc := &HealthCheck{
		Pos:      d.Pos(),
		Interval: defaultCheckInterval,
		Fails:    1,
		Passes:   1,
		URI:      defaultCheckURI,
	}
	var match string
	for _, p := range d.Args {
		key, val, hasVal := strings.Cut(p, "=")
		ok := true
		switch {
		case key == "interval" && hasVal:
			hc.Interval, ok = parseTime(val, false)
			ok = ok && hc.Interval > 0
		case key == "jitter" && hasVal:
			hc.Jitter, ok = parseTime(val, false)
		case key == "fails" && hasVal:
			hc.Fails, ok = parseInt(val)
			ok = ok && hc.Fails > 0
		case key == "passes" && hasVal:
			hc.Passes, ok = parseInt(val)
			ok = ok && hc.Passes > 0
		case key == "uri" && hasVal:
			hc.URI, ok = val, isRequestURI(val)
		case key == "port" && hasVal:
			hc.Port, ok = parseInt(val)
			ok = ok && hc.Port > 0 && hc.Port <= 65535
		case key == "match" && hasVal:
			match, ok = val, val != ""
		case p == "mandatory":
			hc.Mandatory = true
		case p == "persistent":
			hc.Persistent = true
		default:
			// type=grpc, keepalive_time= and the like probe differently;
			// they are refused rather than ignored.
			ok = false
		}
		if !ok {
			return d.invalidParam(p)
		}
	}
	if hc.Persistent && !hc.Mandatory {
		return d.errorf("%q requires %q", "persistent", "mandatory")
	}
	loc := s.loc.loc
	loc.HealthChecks = append(loc.HealthChecks, hc)
	b.checks = append(b.checks, pendingCheck{d: d, hc: hc, match: match, loc: loc})
	return nil
}

// isRequestURI reports whether s can stand in a request line: it starts
// with "/" and has no white space or control characters.
func isRequestURI(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// resolveCheck links a health_check to its match block and checks that
// its location proxies to an upstream group, the group it probes.
func (b *builder) resolveCheck(c pendingCheck) error {
	if pp := c.loc.ProxyPass; pp == nil || pp.Upstream == nil {
		return c.d.errorf("health_check requires proxy_pass to an upstream group")
	}
	if c.match != "" {
		m := b.cfg.Matches[c.match]
		if m == nil {
			return c.d.errorf("match %q not found", c.match)
		}
		c.hc.Match = m
	}
	return nil
}

// match handles `match NAME { ... }`.
func (b *builder) match(d *Directive, s *scope) error {
	name := d.Args[0]
	if _, dup := b.cfg.Matches[name]; dup {
		return d.errorf("duplicate match %q", name)
	}
	m := &Match{Name: name, Pos: d.Pos()}
	if b.cfg.Matches == nil {
		b.cfg.Matches = make(map[string]*Match)
	}
	b.cfg.Matches[name] = m
	return b.walk(d.Block, &scope{where: inMatch, match: m})
}

// matchStatus handles `status [!] CODE|LO-HI ...;` in a match block.
func (b *builder) matchStatus(d *Directive, s *scope) error {
	args := d.Args
	var sm StatusMatch
	if args[0] == "!" {
		sm.Not, args = true, args[1:]
	}
	if len(args) == 0 {
		return d.errorf("invalid number of arguments in %q directive", d.Name)
	}
	for _, a := range args {
		r, ok := parseStatusRange(a)
		if !ok {
			return d.invalidParam(a)
		}
		sm.Ranges = append(sm.Ranges, r)
	}
	s.match.Status = append(s.match.Status, sm)
	return nil
}

// parseStatusRange reads "200" or "200-399": codes from 100 to 599, the
// low end first.
func parseStatusRange(s string) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, ok1 := parseInt(lo)
	h, ok2 := parseInt(hi)
	if !ok1 || !ok2 || l < 100 || h > 599 || l > h {
		return StatusRange{}, false
	}
	return StatusRange{Lo: l, Hi: h}, true
}

// matchHeader handles, in a match block, `header NAME;` (present),
// `header ! NAME;` (absent) and `header NAME =|!=|~|!~ VALUE;`.
func (b *builder) matchHeader(d *Directive, s *scope) error {
	var h HeaderMatch
	switch len(d.Args) {
	case 1:
		h.Name = d.Args[0]
		if h.Name == "!" {
			return d.errorf("invalid number of arguments in %q directive", d.Name)
		}
	case 2:
		if d.Args[0] != "!" {
			return d.invalidParam(d.Args[0])
		}
		h.Op, h.Name = "!", d.Args[1]
	case 3:
		h.Name, h.Op, h.Value = d.Args[0], d.Args[1], d.Args[2]
		switch h.Op {
		case "=", "!=":
		case "~", "!~":
			re, err := compileRegexp(d, h.Value, false)
			if err != nil {
				return err
			}
			h.Regexp = re
		default:
			return d.invalidParam(h.Op)
		}
	}
	if !isToken(h.Name) {
		return d.invalidParam(h.Name)
	}
	s.match.Headers = append(s.match.Headers, h)
	return nil
}

// matchBody handles `body ~|!~ REGEX;` in a match block.
func (b *builder) matchBody(d *Directive, s *scope) error {
	var bm BodyMatch
	switch d.Args[0] {
	case "~":
	case "!~":
		bm.Not = true
	default:
		return d.invalidParam(d.Args[0])
	}
	re, err := compileRegexp(d, d.Args[1], false)
	if err != nil {
		return err
	}
	bm.Regexp = re
	s.match.Bodies = append(s.match.Bodies, bm)
	return nil
}

// matchRequire refuses NGINX Plus's `require $VAR ...;`: its variables
// would need nginx's variable engine, which limpet does not have.
func (b *builder) matchRequire(d *Directive, s *scope) error {
	return d.errorf("%q is not supported", d.Name)
}
