package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// This file holds the directives that answer a location's requests
// themselves (nginx's content handlers): proxy_pass and return, and
// NGINX Plus's api and limpet's metrics and dashboard. A location has at
// most one of them, so which one answers is never a matter of order.

// contentHandlers are the content directives, in the order errors name
// them.
var contentHandlers = []string{"proxy_pass", "return", "api", "metrics", "dashboard"}

// contentOf lists the content directives loc already has.
func contentOf(loc *Location) []string {
	var have []string
	if loc.ProxyPass != nil {
		have = append(have, "proxy_pass")
	}
	if loc.Return != nil {
		have = append(have, "return")
	}
	if loc.API != nil {
		have = append(have, "api")
	}
	if loc.Metrics {
		have = append(have, "metrics")
	}
	if loc.Dashboard {
		have = append(have, "dashboard")
	}
	return have
}

// claimContent checks that d, a content directive, may join loc's others.
// The one pair allowed is proxy_pass with return, as nginx allows it:
// return runs first, in the rewrite phase, and answers.
func claimContent(d *Directive, loc *Location) error {
	for _, other := range contentOf(loc) {
		if other == d.Name {
			continue // the handler reports its own duplicate
		}
		pair := []string{other, d.Name}
		if slices.Contains(pair, "proxy_pass") && slices.Contains(pair, "return") {
			continue
		}
		if slices.Index(contentHandlers, d.Name) < slices.Index(contentHandlers, other) {
			pair[0], pair[1] = d.Name, other
		}
		return d.errorf("%q and %q cannot be in the same location", pair[0], pair[1])
	}
	return nil
}

// api handles NGINX Plus's `api [write=on|off]` and limpet's
// `origin=ORIGIN` parameters: the location serves the runtime API,
// read-only unless write=on. Each origin= names an origin (a browser's
// "scheme://host[:port]") whose pages may send writes although it is not
// the API's own, for a proxy in front of limpet that changes the Host
// header; it is kept in the form browsers send (see normalizeOrigin).
func (b *builder) api(d *Directive, s *scope) error {
	loc := s.loc.loc
	if loc.API != nil {
		return d.duplicate()
	}
	if err := claimContent(d, loc); err != nil {
		return err
	}
	a := &API{Pos: d.Pos()}
	writeSet := false
	for _, p := range d.Args {
		key, val, _ := strings.Cut(p, "=")
		switch {
		case (p == "write=on" || p == "write=off") && !writeSet:
			a.Write, writeSet = p == "write=on", true
		case key == "origin":
			o, ok := normalizeOrigin(val)
			if !ok {
				return d.errorf("invalid origin %q in %q directive, it must be \"http://HOST[:PORT]\" or \"https://HOST[:PORT]\"", val, d.Name)
			}
			if !slices.Contains(a.Origins, o) {
				a.Origins = append(a.Origins, o)
			}
		default:
			return d.invalidParam(p)
		}
	}
	loc.API = a
	return nil
}

// normalizeOrigin returns s in the form a browser sends in its Origin
// header (RFC 6454 section 6.2): scheme and host in lower case, the
// scheme's default port left out, nothing after the port. ok is false for
// anything that is not an http or https origin: a path (even "/"), a
// query, user information, a bad port.
func normalizeOrigin(s string) (origin string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return "", false
	}
	var def string
	switch u.Scheme { // url.Parse lower-cases the scheme
	case "http":
		def = "80"
	case "https":
		def = "443"
	default:
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
			return "", false
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" && port != def {
		host += ":" + port
	}
	return u.Scheme + "://" + host, true
}

// metrics handles limpet's `metrics;`: the location serves Prometheus
// metrics.
func (b *builder) metrics(d *Directive, s *scope) error {
	loc := s.loc.loc
	if loc.Metrics {
		return d.duplicate()
	}
	if err := claimContent(d, loc); err != nil {
		return err
	}
	loc.Metrics = true
	return nil
}

// dashboard handles limpet's `dashboard;`: the location serves the live
// dashboard.
func (b *builder) dashboard(d *Directive, s *scope) error {
	loc := s.loc.loc
	if loc.Dashboard {
		return d.duplicate()
	}
	if err := claimContent(d, loc); err != nil {
		return err
	}
	loc.Dashboard = true
	return nil
}

// openAdmin warns about every location among locs (nested ones included)
// that serves the runtime API, the metrics or the dashboard to every
// client: no allow or deny rule and no auth_basic is in effect there,
// counting what it inherits. The API lists the upstreams' internal
// addresses and, with write=on, changes them; the metrics and the
// dashboard show the same. An explicit `allow all;` silences the warning.
// When a limit_except block guards the other methods, the warning names
// the methods left open.
func openAdmin(locs []*Location) []Warning {
	var ws []Warning
	for _, l := range locs {
		what := ""
		switch {
		case l.API != nil:
			what = "api"
		case l.Metrics:
			what = "metrics"
		case l.Dashboard:
			what = "dashboard"
		}
		if why := openness(l.Access); what != "" && why != "" {
			open := ""
			if le := l.LimitExcept; le != nil && openness(le.Access) == "" {
				open = " for " + strings.Join(le.Methods, ", ")
			}
			name := l.Path
			if l.Modifier != "" {
				name = l.Modifier + " " + l.Path
			}
			ws = append(ws, Warning{Pos: l.Pos, Msg: fmt.Sprintf(
				"%q is open to every address%s: %s location %q", what, open, why, quoted(name))})
		}
		ws = append(ws, openAdmin(l.Locations)...)
	}
	return ws
}

// openness says why a lets every client in, or "" when it does not: no
// auth_basic, and no rule, or rules that do not end with "deny all" (a
// client that no rule matches is let in, as in nginx). A last "allow
// all" is taken as meant.
func openness(a Access) string {
	switch {
	case a.AuthBasic != "", a.AuthRequest != "":
		return ""
	case len(a.Rules) == 0:
		return `no "allow", "deny" or "auth_basic" applies to`
	case a.Rules[len(a.Rules)-1].All:
		return ""
	}
	return `its "allow" and "deny" rules do not end with "deny all" in`
}
