package runtime

import (
	"net/http"
	"strings"

	"github.com/limpet-lb/limpet/internal/access"
	"github.com/limpet-lb/limpet/internal/admin/api"
	"github.com/limpet-lb/limpet/internal/admin/dashboard"
	"github.com/limpet-lb/limpet/internal/admin/metrics"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/health"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/proxy"
)

// This file wires what operators use — health checks, the runtime API,
// metrics, the dashboard, access control — into the runtime.

var (
	_ api.Upstreams     = (*Runtime)(nil)
	_ metrics.Upstreams = allUpstreams{}
	_ proxy.Observer    = (*metrics.Metrics)(nil)
)

// allUpstreams is every live upstream, the implicit ones of
// `proxy_pass http://host:port` included, for the metrics; the API lists
// only upstream blocks, as NGINX Plus does.
type allUpstreams struct{ rt *Runtime }

func (a allUpstreams) Names() []string {
	p := a.rt.cur.Load()
	return append(p.names[:len(p.names):len(p.names)], p.implicitOrder...)
}

func (a allUpstreams) Upstream(name string) *live.Upstream {
	p := a.rt.cur.Load()
	if u := p.byName[name]; u != nil {
		return u
	}
	return p.implicit[name]
}

// hasMetrics reports whether any location serves the metrics: without
// one, nothing would ever read (and prune) what the observer records.
func hasMetrics(cfg *config.Config) bool {
	found := false
	for _, s := range cfg.Servers {
		walkServer(s, func(l *config.Location) { found = found || l.Metrics })
	}
	return found
}

// guard compiles the access control of a level.
func guard(a config.Access, le *config.LimitExcept) (proxy.Guard, error) {
	p, err := access.New(a, le)
	if err != nil || p == nil {
		return nil, err
	}
	return p, nil
}

// content returns the handler of a location limpet answers itself: the
// runtime API, the metrics or the dashboard; nil for other locations.
func (p *plan) content(l *config.Location) (http.Handler, error) {
	rt := p.rt
	var h http.Handler
	switch {
	case l.API != nil:
		h = api.New(rt, api.Options{Write: l.API.Write, Origins: l.API.Origins, Now: rt.opts.Now, Log: rt.log, Process: rt.Process})
	case l.Metrics:
		h = rt.metrics.Handler()
	case l.Dashboard:
		h = dashboard.New(p.apiBase[l])
	default:
		return nil, nil
	}
	return stripLocation(l, h), nil
}

// stripLocation serves h with paths relative to the location, as the API
// expects them ("/9/http/upstreams" under `location /api/`).
func stripLocation(l *config.Location, h http.Handler) http.Handler {
	if l.Modifier == "~" || l.Modifier == "~*" {
		return h
	}
	prefix := strings.TrimSuffix(l.Path, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := *r
		u := *r.URL
		u.Path = strings.TrimPrefix(r.URL.Path, prefix)
		u.RawPath = ""
		if u.Path == "" {
			u.Path = "/"
		}
		r2.URL = &u
		h.ServeHTTP(w, &r2)
	})
}

// findAPIBases maps every location to the path of the runtime API
// location of its virtual server ("" when it has none), for the
// dashboard.
func findAPIBases(cfg *config.Config) map[*config.Location]string {
	bases := make(map[*config.Location]string)
	for _, s := range cfg.Servers {
		base := ""
		walkServer(s, func(l *config.Location) {
			if l.API != nil && base == "" && l.Modifier != "~" && l.Modifier != "~*" {
				base = strings.TrimSuffix(l.Path, "/")
			}
		})
		walkServer(s, func(l *config.Location) { bases[l] = base })
	}
	return bases
}

// walkServer calls fn for every location of s, nested and named ones
// included.
func walkServer(s *config.Server, fn func(*config.Location)) {
	walkLocations(s.Locations, fn)
	walkLocations(s.NamedLocations(), fn)
}

func walkLocations(list []*config.Location, fn func(*config.Location)) {
	for _, l := range list {
		fn(l)
		walkLocations(l.Locations, fn)
	}
}

// healthChecks collects the health_check directives of every location
// that proxies to an upstream.
func (p *plan) healthChecks() ([]health.Check, error) {
	var checks []health.Check
	var err error
	for _, s := range p.cfg.Servers {
		walkServer(s, func(l *config.Location) {
			if l.ProxyPass == nil || l.ProxyPass.Upstream == nil || err != nil {
				return
			}
			u := p.upstreams[l.ProxyPass.Upstream]
			for _, hc := range l.HealthChecks {
				c := health.Check{
					Upstream:       u,
					Config:         hc,
					Host:           staticHost(l, u.Name),
					ConnectTimeout: l.Proxy.ConnectTimeout,
					ReadTimeout:    l.Proxy.ReadTimeout,
				}
				if c.TLS, c.TLSName, err = healthTLS(l, u.Name); err != nil {
					return
				}
				checks = append(checks, c)
			}
		})
	}
	return checks, err
}

// staticHost is the Host a health check sends: the location's
// proxy_set_header Host when it holds no variables, else the upstream's
// name ($proxy_host), as the proxied requests would have by default.
func staticHost(l *config.Location, upstreamName string) string {
	for _, h := range l.Proxy.SetHeaders {
		if strings.EqualFold(h.Name, "Host") && h.Value != "" && !strings.Contains(h.Value, "$") {
			return h.Value
		}
	}
	return upstreamName
}
