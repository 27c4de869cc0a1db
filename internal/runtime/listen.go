package runtime

import (
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1srv"
	"github.com/limpet-lb/limpet/internal/proxy"
)

// listenGroup is the virtual servers that listen on one address.
type listenGroup struct {
	addr         string // normalised host:port
	host         netip.Addr
	wildcard     bool // 0.0.0.0 or [::]
	port         string
	servers      []*config.Server
	defaultIndex int
	idle         time.Duration // keepalive_timeout of the default server
	idleHeader   time.Duration // and its header time
	// opts is the listen that sets the socket's options (reuseport,
	// backlog=, so_keepalive=, ipv6only=), zero when none does; see
	// sockopt.go.
	opts config.Listen
}

// family is the group's address family, "4" or "6", "" for a host name:
// as in nginx, a wildcard serves the specific addresses of its own
// family and port only (ngx_http_add_listen keeps ports per family).
func (g *listenGroup) family() string {
	switch {
	case !g.host.IsValid():
		return ""
	case g.host.Is4():
		return "4"
	}
	return "6"
}

// normalizeListen spells a listen address one way, so that "[0:0::1]:80"
// and "[::1]:80" are one socket: IP literals canonical (an IPv4-mapped
// one as IPv4), an empty host IPv4's wildcard, host names as written
// (the listener resolves them). 0.0.0.0 and [::] are wildcards, and two
// sockets, as in nginx.
func normalizeListen(addr string) (key string, ip netip.Addr, wildcard bool, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, netip.Addr{}, false, ""
	}
	if host == "" {
		host = "0.0.0.0"
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return addr, netip.Addr{}, false, port
	}
	a = a.Unmap()
	return net.JoinHostPort(a.String(), port), a, a.IsUnspecified(), port
}

// buildListens groups the virtual servers by listen address and plans
// one socket for each. As in nginx, when a port has a wildcard listen
// (`listen 80`, `listen [::]:80`) beside specific ones of its family
// (`listen 127.0.0.1:80`, `listen [::1]:80`), only the wildcard is bound, and a request is served by the servers of its local
// address if it has any, else by the wildcard's.
func (p *plan) buildListens(env *proxy.Env) error {
	groups := make(map[string]*listenGroup)
	var order []*listenGroup
	for _, s := range p.cfg.Servers {
		for _, l := range s.Listens {
			key, ip, wildcard, port := normalizeListen(l.Addr)
			g, ok := groups[key]
			if !ok {
				g = &listenGroup{addr: key, host: ip, wildcard: wildcard, port: port, defaultIndex: -1, idle: s.Proxy.KeepaliveTimeout, idleHeader: s.Proxy.KeepaliveHeaderTimeout}
				groups[key] = g
				order = append(order, g)
			}
			if l.HasSocketOptions() {
				g.opts = l
			}
			if l.DefaultServer {
				g.defaultIndex = len(g.servers)
				g.idle = s.Proxy.KeepaliveTimeout
				g.idleHeader = s.Proxy.KeepaliveHeaderTimeout
			}
			g.servers = append(g.servers, s)
		}
	}
	wildcards := make(map[string]*listenGroup) // by family and port
	for _, g := range order {
		if g.wildcard && g.port != "0" {
			wildcards[g.family()+g.port] = g
		}
	}
	handlers := make(map[*listenGroup]*proxy.Handler, len(order))
	for _, g := range order {
		h, err := proxy.NewHandler(g.servers, g.defaultIndex, env)
		if err != nil {
			return err
		}
		handlers[g] = h
		p.handlers = append(p.handlers, h)
	}
	for _, g := range order {
		if !g.wildcard && g.host.IsValid() && wildcards[g.family()+g.port] != nil && !g.opts.HasSocketOptions() {
			continue // served through the wildcard's socket
		}
		var handler http.Handler = handlers[g]
		l := &listenPlan{addr: g.addr, handlers: []*proxy.Handler{handlers[g]}, opts: g.opts}
		var merged []*listenGroup // specific addresses served through this socket
		if g.wildcard {
			byLocal := make(map[netip.Addr]http.Handler)
			for _, o := range order {
				// Socket options imply nginx's `bind`: such an
				// address has a socket of its own.
				if !o.wildcard && o.host.IsValid() && o.family() == g.family() && o.port == g.port && !o.opts.HasSocketOptions() {
					byLocal[o.host] = handlers[o]
					l.handlers = append(l.handlers, handlers[o])
					merged = append(merged, o)
				}
			}
			if len(byLocal) > 0 {
				handler = &localAddrMux{byLocal: byLocal, fallback: handlers[g]}
			}
		}
		// As in nginx, the default server's settings read the header
		// (nginx may switch once Host has named another server).
		ch := g.servers[max(g.defaultIndex, 0)].ClientHeaders
		cs := g.servers[max(g.defaultIndex, 0)].Proxy.Client
		maxRequests, maxAge := keepaliveEnvelope(l.handlers)
		l.settings = h1srv.Settings{
			Handler: handler,
			Headers: h1srv.HeaderLimits{
				BufferSize:      ch.BufferSize,
				LargeBuffers:    ch.LargeBuffers,
				LargeBufferSize: ch.LargeBufferSize,
				MaxFields:       ch.MaxHeaders,
			},
			UnderscoresInHeaders: ch.UnderscoresInHeaders,
			KeepInvalidHeaders:   !ch.IgnoreInvalidHeaders,
			// client_header_timeout and send_timeout of the default
			// server, the most lenient keepalive_requests and
			// keepalive_time of the address; a location's own
			// send_timeout and stricter keepalive_* are the proxy's
			// (internal/proxy/client.go).
			ReadHeaderTimeout: cs.HeaderTimeout,
			WriteTimeout:      cs.SendTimeout,
			MaxRequests:       maxRequests,
			MaxConnAge:        maxAge,
			// keepalive_timeout 0 disables client keep-alive.
			IdleTimeout:     g.idle,
			KeepAliveHeader: g.idleHeader,
			ReuseRequests:   keepsNoRequest(handler),
		}
		l.settings.HTTP2 = p.http2For(g, merged, &l.settings)
		if err := tlsListen(g, merged, l); err != nil {
			return err
		}
		p.listens = append(p.listens, l)
	}
	return nil
}

// localAddrMux serves a wildcard socket: a request goes to the virtual
// servers of the address it arrived on when some listen on it
// specifically, else to the wildcard's.
type localAddrMux struct {
	byLocal  map[netip.Addr]http.Handler
	fallback http.Handler
}

func (m *localAddrMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			if h, ok := m.byLocal[ip.Unmap()]; ok {
				h.ServeHTTP(w, r)
				return
			}
		}
	}
	m.fallback.ServeHTTP(w, r)
}
