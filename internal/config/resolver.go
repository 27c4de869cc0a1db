package config

import (
	"net"
	"net/netip"
	"strings"
	"time"
)

// This file reads the resolver directives (ngx_http_core_module's
// `resolver` and `resolver_timeout`, which nginx ≥ 1.27.3 also accepts in
// an upstream) and the `resolve` and `service=` parameters of an upstream's
// server, whose names limpet re-resolves while it runs (see
// internal/discovery).

// DefaultResolverTimeout is resolver_timeout's default, as in nginx.
const DefaultResolverTimeout = 30 * time.Second

// Resolver is a `resolver ADDRESS ... [valid=TIME] [ipv4=on|off]
// [ipv6=on|off] [status_zone=NAME]` directive: the DNS servers that resolve
// the names of `server ... resolve` lines.
type Resolver struct {
	Pos Pos
	// Addrs are the name servers as "ip:port" ("[ipv6]:port"), port 53
	// unless written; a name server written as a host name is resolved
	// when the configuration is read, each address becoming one.
	Addrs []string
	// Valid is `valid=`: how long an answer is used, overriding the TTL
	// of its records; 0 (the default) means the records' TTL.
	Valid time.Duration
	// IPv4 and IPv6 tell which addresses are looked up (A and AAAA
	// records); both are on by default, as in nginx. NGINX Plus's
	// status_zone= is accepted and reported as having no effect
	// (noEffect): limpet keeps no statistics of its resolvers.
	IPv4, IPv6 bool
}

// resolverLevel is the resolver settings of one block.
type resolverLevel struct {
	resolver   *Resolver
	pos        Pos // of resolver
	timeout    time.Duration
	timeoutSet bool
	timeoutPos Pos
	used       bool // an upstream's resolve lines use it
}

// resolverAt returns the resolver settings of the block d's scope is:
// the upstream's, http's, or (for server and location, where limpet has no
// use for them) a level of their own.
func (b *builder) resolverAt(s *scope) *resolverLevel {
	switch {
	case s.ups != nil:
		return &s.ups.resolver
	case s.where&inHTTPLevel != 0:
		return &b.httpResolver
	}
	if b.otherResolvers == nil {
		b.otherResolvers = make(map[*proxyConf]*resolverLevel)
	}
	lv := b.otherResolvers[s.proxy]
	if lv == nil {
		lv = &resolverLevel{}
		b.otherResolvers[s.proxy] = lv
	}
	return lv
}

// usedHere reports whether a resolver directive in scope s always
// changes what limpet does: in http and upstream, where it resolves
// upstream servers. In server and location only a proxy_pass with
// variables uses it, so it is listed as ignored until
// finishPassResolvers (passvars.go) finds one that does.
func usedHere(s *scope) bool { return s.ups != nil || s.where&inHTTPLevel != 0 }

// resolver handles `resolver ADDRESS ... [valid=TIME] [ipv4=on|off]
// [ipv6=on|off] [status_zone=NAME]`, in ngx_resolver_create's words.
func (b *builder) resolver(d *Directive, s *scope) error {
	lv := b.resolverAt(s)
	if lv.resolver != nil {
		return d.duplicate()
	}
	r := &Resolver{Pos: d.Pos(), IPv4: true, IPv6: true}
	for _, a := range d.Args {
		key, val, _ := strings.Cut(a, "=")
		var ok bool
		switch {
		case strings.HasPrefix(a, "valid="):
			r.Valid, ok = parseTime(val, true)
		case strings.HasPrefix(a, "ipv4="):
			r.IPv4, ok = parseOnOff(val)
		case strings.HasPrefix(a, "ipv6="):
			r.IPv6, ok = parseOnOff(val)
		case strings.HasPrefix(a, "status_zone="):
			ok = val != ""
		default:
			addrs, err := b.nameServer(d, a)
			if err != nil {
				return err
			}
			r.Addrs = append(r.Addrs, addrs...)
			continue
		}
		if !ok {
			// nginx writes this one without quotes.
			return d.errorf("invalid parameter: %s", key+"="+val)
		}
	}
	if !r.IPv4 && !r.IPv6 {
		return d.errorf(`"ipv4" and "ipv6" cannot both be "off"`)
	}
	if len(r.Addrs) == 0 {
		return d.errorf("no name servers defined")
	}
	lv.resolver = r
	lv.pos = d.Pos()
	if !usedHere(s) {
		return b.ignore(d, s)
	}
	return nil
}

// nameServer reads one name server of a resolver: "host[:port]" or
// "[v6][:port]", port 53 by default.
func (b *builder) nameServer(d *Directive, written string) ([]string, error) {
	if strings.HasPrefix(written, "unix:") {
		return nil, d.errorf("unix sockets are not supported")
	}
	host, port, hasPort, msg := splitHostPort(written, 1)
	if msg != "" {
		return nil, d.errorf("%s in resolver %q", msg, written)
	}
	if !hasPort {
		port = "53"
	}
	ips, err := b.resolve(host)
	if err != nil {
		return nil, d.errorf("host not found in resolver %q", written)
	}
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, net.JoinHostPort(ip, port))
	}
	return addrs, nil
}

// parseOnOff reads "on" or "off" as ngx_resolver_create does: in lower
// case only.
func parseOnOff(v string) (on, ok bool) {
	switch v {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	return false, false
}

// resolverTimeout handles `resolver_timeout TIME;` (default 30s).
func (b *builder) resolverTimeout(d *Directive, s *scope) error {
	lv := b.resolverAt(s)
	if lv.timeoutSet {
		return d.duplicate()
	}
	t, ok := parseTime(d.Args[0], false)
	if !ok {
		return d.invalidValue()
	}
	lv.timeout, lv.timeoutSet = t, true
	lv.timeoutPos = d.Pos()
	if !usedHere(s) {
		return b.ignore(d, s)
	}
	return nil
}

// finishResolve checks what an upstream with `resolve` servers needs, as
// ngx_http_upstream_init_round_robin does once the whole configuration is
// read (the http-level resolver may come after the upstream), and gives
// the upstream its effective resolver and timeout. nginx's messages name
// the upstream's position inside the text, so they are not followed by
// another.
func (b *builder) finishResolve(uc *upstreamConf) error {
	u := uc.u
	if len(u.Resolve) == 0 {
		return nil
	}
	if !uc.zoneSet {
		return errorInline(u.Pos, "resolving names at run time requires upstream %q in %s to be in shared memory", u.Name, u.Pos.String())
	}
	u.Resolver = uc.resolver.resolver
	if u.Resolver == nil {
		u.Resolver = b.httpResolver.resolver
		b.httpResolver.used = true
	}
	if u.Resolver == nil {
		return errorInline(u.Pos, "no resolver defined to resolve names at run time in upstream %q in %s", u.Name, u.Pos.String())
	}
	switch {
	case uc.resolver.timeoutSet:
		u.ResolverTimeout = uc.resolver.timeout
	case b.httpResolver.timeoutSet:
		u.ResolverTimeout = b.httpResolver.timeout
		b.httpResolver.used = true
	default:
		u.ResolverTimeout = DefaultResolverTimeout
	}
	return nil
}

// reportUnusedResolver lists the http-level resolver directives as
// ignored when no upstream and no proxy_pass with variables resolves
// names with them: they then change nothing.
func (b *builder) reportUnusedResolver() {
	lv := &b.httpResolver
	if lv.used {
		return
	}
	if lv.resolver != nil {
		b.cfg.Ignored = append(b.cfg.Ignored, Ignored{Name: "resolver", Pos: lv.pos})
	}
	if lv.timeoutSet {
		b.cfg.Ignored = append(b.cfg.Ignored, Ignored{Name: "resolver_timeout", Pos: lv.timeoutPos})
	}
}

// checkService applies nginx's rules to a server line's resolve and
// service= parameters once its address is split; host is the address's
// host part and hasPort whether a port was written. It reports whether
// the line is resolved at run time: with `resolve` and a host name (an IP
// literal is used as it is, as nginx does).
func checkService(d *Directive, srv *UpstreamServer, resolve bool, host string, hasPort bool) (bool, error) {
	_, err := netip.ParseAddr(host)
	isIP := err == nil
	if srv.Service != "" {
		if !resolve {
			return false, d.errorf("service upstream %q requires \"resolve\" parameter", srv.Name)
		}
		if hasPort {
			return false, d.errorf("service upstream %q may not have port", srv.Name)
		}
		if isIP {
			return false, d.errorf("service upstream %q requires domain name", srv.Name)
		}
	}
	return resolve && !isIP, nil
}
