package proxy

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// setRedirect sets the Location of a redirect limpet makes itself
// (return, rewrite ... redirect, the slash of a prefix location): a
// target starting with '/' is made absolute as ngx_http_header_filter
// makes it, with the level's absolute_redirect, server_name_in_redirect
// and port_in_redirect. Proxied Locations do not come here: nginx leaves
// an upstream's relative Location alone.
func setRedirect(w http.ResponseWriter, vr *vars.Request, rs config.Redirects, target string) {
	w.Header().Set("Location", absoluteRedirect(vr, rs, target))
}

// absoluteRedirect returns target as the Location nginx sends for it.
func absoluteRedirect(vr *vars.Request, rs config.Redirects, target string) string {
	if !rs.Absolute || target == "" || target[0] != '/' {
		return target
	}
	https := vr.Scheme == "https" || (vr.R != nil && vr.R.TLS != nil)
	var host string
	switch {
	case rs.ServerName:
		host = vr.ServerName
	case vr.R != nil && vars.HostName(vr.R.Host) != "":
		// nginx's headers_in.server: the Host validated, without its
		// port, lowercased.
		host = strings.ToLower(vars.HostName(vr.R.Host))
	default:
		host = localHost(vr.Local.Addr())
	}
	b := make([]byte, 0, len("https://")+len(host)+len(":65535")+len(target))
	if https {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	b = append(b, host...)
	if port := vr.Local.Port(); rs.Port && vr.Local.IsValid() && !(https && port == 443) && !(!https && port == 80) {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(port), 10)
	}
	b = append(b, target...)
	return string(b)
}

// localHost is the address the connection was accepted on, as a host: an
// IPv6 address in brackets (nginx writes it bare, which no client can
// parse).
func localHost(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}
