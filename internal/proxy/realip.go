package proxy

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// realIP is a compiled real-IP setting (ngx_http_realip_module): from a
// trusted peer, the client's address is taken from a header field.
type realIP struct {
	from      []netip.Prefix
	header    string
	xff       bool
	recursive bool
}

// compileRealIP returns nil when no set_real_ip_from applies, so the
// request path skips it.
func compileRealIP(c config.RealIP) *realIP {
	if len(c.From) == 0 {
		return nil
	}
	return &realIP{from: c.From, header: c.Header, xff: c.Header == "X-Forwarded-For", recursive: c.Recursive}
}

func (ri *realIP) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ri.from {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// apply replaces vr.Remote with the address the header gives, when the
// peer is trusted, as ngx_http_get_forwarded_addr does: the last address
// of the list, or with real_ip_recursive the last one that is not
// trusted itself. A field that does not parse leaves the address alone.
// It reports whether it replaced the address.
func (ri *realIP) apply(r *http.Request, vr *vars.Request) bool {
	lines := r.Header[ri.header]
	if len(lines) == 0 || !ri.trusted(vr.Remote.Addr()) {
		return false
	}
	list := lines[len(lines)-1]
	if ri.xff && len(lines) > 1 {
		// Several X-Forwarded-For lines are one list.
		list = strings.Join(lines, ",")
	} else if !ri.xff {
		list = lines[0]
	}
	addr, found := vr.Remote, false
	for {
		i := strings.LastIndexAny(list, ", ")
		item := list[i+1:]
		list = list[:max(i, 0)]
		if item == "" {
			if i < 0 {
				break
			}
			continue // separators
		}
		a, ok := parseForwarded(item)
		if !ok {
			break
		}
		addr, found = a, true
		if !ri.recursive || i < 0 || !ri.trusted(a.Addr()) {
			break
		}
	}
	if found {
		vr.Remote = addr
	}
	return found
}

// realIPPhase applies loc's real-IP setting, as nginx's realip handler
// in its PREACCESS phase, unless an earlier one (the server's, in
// POST_READ, or a location's before an internal redirect) replaced the
// address already: nginx's realip context survives internal redirects
// and is set only when the address changed.
func (rw *responseWriter) realIPPhase(r *http.Request, loc *location) {
	if loc.realIP != nil && !rw.fl.realIP {
		rw.fl.realIP = loc.realIP.apply(r, &rw.vr)
	}
}

// parseForwarded reads one address of the list: an IP, with a port or
// not ("192.0.2.1", "192.0.2.1:8080", "[2001:db8::1]:8080").
func parseForwarded(s string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	return netip.AddrPort{}, false
}
