package runtime

import (
	"log/slog"

	"github.com/limpet-lb/limpet/internal/h1srv"
	"github.com/limpet-lb/limpet/internal/h2srv"
)

// http2For returns the HTTP/2 server of a listen address, or nil when it
// speaks HTTP/1 only. As in nginx (ngx_http_init_connection and its ALPN
// callback), an address speaks HTTP/2 when its default server has
// `http2 on`, or any `listen` of the address the deprecated `http2`
// parameter; its connections take the default server's HTTP/2 settings
// and set's timeouts and header bounds (those HTTP/1 uses there too). On a
// plain socket that means HTTP/2 by prior knowledge. A wildcard socket
// that also serves specific addresses of its port (merged) speaks HTTP/2
// when any of them asks for it: the protocol is chosen before the local
// address picks the virtual servers, so an address that does not ask for
// it accepts HTTP/2 there too (nginx decides per address).
func (p *plan) http2For(g *listenGroup, merged []*listenGroup, set *h1srv.Settings) h1srv.HTTP2Server {
	def := g.servers[max(g.defaultIndex, 0)]
	on := wantsHTTP2(g)
	for _, o := range merged {
		on = on || wantsHTTP2(o)
	}
	if !on {
		return nil
	}
	h := def.HTTP2
	ch := def.ClientHeaders
	c := h2srv.Config{
		MaxConcurrentStreams: h.MaxConcurrentStreams,
		RecvBufferSize:       h.RecvBufferSize,
		BodyPrereadSize:      h.BodyPrereadSize,
		MaxHeaderListSize:    ch.LargeBuffers * ch.LargeBufferSize,
		IdleTimeout:          set.IdleTimeout,
		ReadIdleTimeout:      set.ReadHeaderTimeout,
		WriteTimeout:         set.WriteTimeout,
		// The address's most lenient keepalive_requests and
		// keepalive_time (listen.go); nginx's defaults when unlimited.
		MaxRequests: set.MaxRequests,
		MaxAge:      set.MaxConnAge,
		// x/net's connection errors (a client's protocol error, an
		// attack refused) are what nginx logs at info level.
		ErrorLog: slog.NewLogLogger(p.rt.log.Handler(), slog.LevelInfo),
	}
	if set.IdleTimeout == 0 {
		// keepalive_timeout 0: one stream per connection, then
		// GOAWAY, as nginx does on HTTP/2.
		c.MaxRequests = 1
	}
	return h2srv.New(c)
}

// wantsHTTP2 reports whether a listen address asks for HTTP/2: its
// default server's `http2 on`, or the `http2` parameter on any of its
// listens.
func wantsHTTP2(g *listenGroup) bool {
	if g.servers[max(g.defaultIndex, 0)].HTTP2.Enabled {
		return true
	}
	for _, s := range g.servers {
		for _, l := range s.Listens {
			if !l.HTTP2 {
				continue
			}
			if key, _, _, _ := normalizeListen(l.Addr); key == g.addr {
				return true
			}
		}
	}
	return false
}
