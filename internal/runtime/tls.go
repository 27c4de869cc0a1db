package runtime

import (
	"crypto/tls"
	"net/netip"

	"github.com/limpet-lb/limpet/internal/proxy"
	"github.com/limpet-lb/limpet/internal/tlsconf"
)

// tlsListen makes a listen plan speak TLS where a listen of its addresses
// has `ssl`. As in nginx (ngx_http_addr_conf_t), `ssl` and the choice of
// certificate belong to each address, even when a wildcard socket serves
// specific addresses too: one `listen ... ssl` of an address makes it TLS
// for all its servers, its tls.Config is built from its own servers
// (certificates by SNI, see internal/tlsconf) with its own default
// server, and a connection to a specific address of the socket starts
// with that address's (h1srv.Settings.TLSByLocal). Each address's
// handler answers plain HTTP sent to it (497) and gets its
// client-certificate checks (proxy.Handler.SetTLS).
// "h2" is offered by ALPN only when the settings serve HTTP/2, so it must
// run after Settings.HTTP2 is set. Certificates come with the
// configuration, so a reload's new plan has the new ones and Reconfigure
// gives them to the kept sockets. l.handlers are g's and then merged's,
// in order.
func tlsListen(g *listenGroup, merged []*listenGroup, l *listenPlan) error {
	alpn := []string{"http/1.1"}
	if l.settings.HTTP2 != nil {
		alpn = []string{"h2", "http/1.1"}
	}
	cfg, err := groupTLS(g, l.handlers[0], alpn)
	if err != nil {
		return err
	}
	l.settings.TLS = cfg
	// The handlers of the TLS addresses answer a plain HTTP request's
	// 497, logging it (proxy.Handler.SetTLS).
	l.settings.PlainHTTPToHandler = true
	for i, o := range merged {
		ocfg, err := groupTLS(o, l.handlers[i+1], alpn)
		if err != nil {
			return err
		}
		if ocfg == cfg {
			continue // both plain
		}
		if l.settings.TLSByLocal == nil {
			l.settings.TLSByLocal = make(map[netip.Addr]*tls.Config)
		}
		l.settings.TLSByLocal[o.host] = ocfg
	}
	return nil
}

// groupTLS returns the tls.Config of one address, nil when none of its
// listens has `ssl`, and gives h, its handler, its client-certificate
// checks.
func groupTLS(g *listenGroup, h *proxy.Handler, alpn []string) (*tls.Config, error) {
	ssl := false
	for _, s := range g.servers {
		for _, ln := range s.Listens {
			if key, _, _, _ := normalizeListen(ln.Addr); key == g.addr && ln.SSL {
				ssl = true
			}
		}
	}
	if !ssl {
		return nil, nil
	}
	tl, err := tlsconf.New(g.servers, g.defaultIndex, tlsconf.Options{ALPN: alpn})
	if err != nil {
		return nil, err
	}
	if tl.Guarded() {
		h.SetTLS(tl.Refuse)
	} else {
		h.SetTLS(nil)
	}
	return tl.Config, nil
}
