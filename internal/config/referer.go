package config

import (
	"regexp"
	"strings"
)

// This file is ngx_http_referer_module's valid_referers: the settings of
// a level, merged from server to location with the proxy settings
// (proxyConf.referers) and ending up in ProxySettings.Referers, which the
// proxy compiles into $invalid_referer (vars.Referers).

// Referers is the valid_referers lines of one level.
type Referers struct {
	// Pos is the line of the level's first valid_referers.
	Pos Pos
	// None accepts a request without Referer; Blocked one whose Referer
	// starts with neither "http://" nor "https://" (a firewall or proxy
	// erased it); ServerNames adds the server's server_name entries.
	None, Blocked, ServerNames bool
	// Hosts are the host names and wildcards, in the order written.
	Hosts []RefererHost
	// Regexps are the "~regex" arguments, caseless as in nginx, matched
	// against the Referer after its "http://" or "https://".
	Regexps []*regexp.Regexp
}

// RefererHost is one host argument of valid_referers: a name, or a
// wildcard ("*.example.com", ".example.com", "www.example.*"), in lower
// case, and the URI prefix the Referer's path must start with ("" for
// any).
type RefererHost struct {
	Host string
	URI  string
}

// validReferers handles `valid_referers none | blocked | server_names |
// STRING ...`. Several lines at one level add up, as in nginx; a level
// with none inherits the outer level's.
func (b *builder) validReferers(d *Directive, s *scope) error {
	f := &s.proxy.referers
	if !f.set {
		*f = setting[*Referers]{v: &Referers{Pos: d.Pos()}, set: true}
	}
	r := f.v
	for _, a := range d.Args {
		switch {
		case a == "":
			return d.errorf("invalid referer %q", a)
		case a == "none":
			r.None = true
		case a == "blocked":
			r.Blocked = true
		case a == "server_names":
			r.ServerNames = true
		case a[0] == '~':
			if len(a) == 1 {
				return d.errorf("empty regex in %q", a)
			}
			re, err := compileRegexp(d, a[1:], true)
			if err != nil {
				return err
			}
			r.Regexps = append(r.Regexps, re)
		default:
			host, uri := a, ""
			if i := strings.IndexByte(a, '/'); i >= 0 {
				host, uri = a[:i], a[i:]
			}
			keys, err := hostnameKey(d, host)
			if err != nil {
				return err
			}
			for _, k := range keys {
				for _, h := range r.Hosts {
					if refererKeysClash(h.Host, k) {
						return d.errorf("conflicting parameter %q", host)
					}
				}
			}
			r.Hosts = append(r.Hosts, RefererHost{Host: strings.ToLower(strings.TrimSuffix(host, ".")), URI: uri})
		}
	}
	return nil
}

// refererKeysClash reports whether the key k (as hostnameKey returns
// them) is one the host written h already occupies: nginx's hash refuses
// a key added twice ("conflicting parameter").
func refererKeysClash(h, k string) bool {
	if strings.HasPrefix(h, ".") {
		return k == h[1:] || k == "*"+h
	}
	return k == h
}
