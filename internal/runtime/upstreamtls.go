package runtime

import (
	"net/http"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/proxy"
	"github.com/limpet-lb/limpet/internal/uptls"
)

// tlsTransportFor is transportFor for an https upstream: one transport
// per upstream, keepalive, timeouts and TLS settings (the client's Key
// and the name), so locations that speak TLS alike share connections
// and TLS sessions, and a reload that changes none of them keeps both.
func (p *plan) tlsTransportFor(u *live.Upstream, t proxy.Timeouts, c *uptls.Client, name string, prev *plan) http.RoundTripper {
	k := transportKey{upstream: u.Name, t: t, tls: c.Key() + "\x00" + name}
	if ka, named := p.keepalive[u]; named {
		k.keepalive = ka
	} else {
		k.implicit = true
	}
	if tr, ok := p.transports[k]; ok {
		return tr
	}
	tr := proxy.Transport(nil)
	if prev != nil {
		tr = prev.transports[k]
	}
	if tr == nil {
		tr = proxy.NewTLSTransport(t, k.keepalive, c, name)
	}
	p.transports[k] = tr
	return tr
}

// healthTLS returns the TLS client and name of the health checks of a
// location that proxies over https (nil for http): NGINX Plus probes
// with the location's proxy_ssl_* settings. A proxy_ssl_name with
// variables other than $proxy_host has no request to be evaluated
// for: the probes verify the upstream's name then.
func healthTLS(l *config.Location, upstreamName string) (*uptls.Client, string, error) {
	if l.ProxyPass.Scheme != "https" {
		return nil, "", nil
	}
	c, err := uptls.New(&l.Proxy.SSL)
	if err != nil {
		return nil, "", err
	}
	name := l.Proxy.SSL.Name
	if strings.Contains(name, "$") {
		name = upstreamName
	}
	return c, name, nil
}
