package runtime

import (
	"slices"

	"github.com/limpet-lb/limpet/internal/tlsconf"
)

// tlsListen makes a listen plan speak TLS when a listen of its address
// has `ssl` (as in nginx, one is enough for the whole socket): its
// settings get the socket's tls.Config, built from the group's servers
// (certificates by SNI, see internal/tlsconf), and its handler the
// client-certificate checks (proxy.Handler.SetTLSCheck). "h2" is offered by ALPN only when the
// settings serve HTTP/2, so it must run after Settings.HTTP2 is set.
// Certificates come with the configuration, so a reload's new plan has
// the new ones and Reconfigure gives them to the kept sockets.
func tlsListen(g *listenGroup, merged []*listenGroup, l *listenPlan) error {
	// The servers of specific addresses served through a wildcard
	// socket share its TLS, the wildcard's default server staying the
	// default: one tls.Config per socket, where nginx keeps one per
	// address.
	servers := g.servers
	groups := append([]*listenGroup{g}, merged...)
	for _, o := range merged {
		for _, s := range o.servers {
			if !slices.Contains(servers, s) {
				servers = append(slices.Clip(servers), s)
			}
		}
	}
	ssl := false
	for _, o := range groups {
		for _, s := range o.servers {
			for _, ln := range s.Listens {
				if key, _, _, _ := normalizeListen(ln.Addr); key == o.addr && ln.SSL {
					ssl = true
				}
			}
		}
	}
	if !ssl {
		return nil
	}
	alpn := []string{"http/1.1"}
	if l.settings.HTTP2 != nil {
		alpn = []string{"h2", "http/1.1"}
	}
	tl, err := tlsconf.New(servers, g.defaultIndex, tlsconf.Options{ALPN: alpn})
	if err != nil {
		return err
	}
	l.settings.TLS = tl.Config
	if tl.Guarded() {
		// The handlers answer what ssl_verify_client refuses, so
		// that the access log has it.
		for _, h := range l.handlers {
			h.SetTLSCheck(tl.Refuse)
		}
	}
	return nil
}
