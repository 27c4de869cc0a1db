package config

import "slices"

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

// api handles NGINX Plus's `api [write=on|off];`: the location serves
// the runtime API, read-only unless write=on.
func (b *builder) api(d *Directive, s *scope) error {
	loc := s.loc.loc
	if loc.API != nil {
		return d.duplicate()
	}
	if err := claimContent(d, loc); err != nil {
		return err
	}
	a := &API{Pos: d.Pos()}
	if len(d.Args) == 1 {
		switch d.Args[0] {
		case "write=on":
			a.Write = true
		case "write=off":
		default:
			return d.invalidParam(d.Args[0])
		}
	}
	loc.API = a
	return nil
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
