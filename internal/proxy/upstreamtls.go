package proxy

import (
	"errors"
	"net/http"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/uptls"
	"github.com/limpet-lb/limpet/internal/vars"
)

// compileTransport returns the location's transport: the runtime's plain
// one for http, or for https one with the TLS client of the location's
// proxy_ssl_* settings. A proxy_ssl_name without variables ($proxy_host,
// its default, is the upstream's name here) is given to the transport
// once; one with variables is evaluated per request (tlsName).
func (l *location) compileTransport(env *Env, t Timeouts) (http.RoundTripper, error) {
	l.scheme = l.proxyPass.Scheme
	if l.scheme != "https" {
		return env.Transport(l.upstream, t), nil
	}
	if env.TLSTransport == nil {
		return nil, &config.Error{Pos: l.proxyPass.Pos, Msg: "https upstreams are not supported here"}
	}
	ssl := &l.cfg.Proxy.SSL
	c, err := uptls.New(ssl)
	if err != nil {
		return nil, err
	}
	name := l.proxyHost
	if ssl.Name != "$proxy_host" {
		tpl, err := vars.Compile(ssl.Name)
		if err != nil {
			return nil, &config.Error{Pos: ssl.NamePos, Msg: err.Error()}
		}
		if s, ok := tpl.Static(); ok {
			name = s
		} else {
			name, l.tlsName = "", tpl
		}
	}
	return env.TLSTransport(l.upstream, t, c, name), nil
}

// NewTLSTransport is NewTransport for servers spoken to over TLS with c,
// whose certificates are checked for name unless a request names its
// own (h1.Forward.TLSName). Upgrades and Expect: 100-continue go over the
// same TLS client through the standard transport.
func NewTLSTransport(t Timeouts, idlePerServer int, c *uptls.Client, name string) Transport {
	if idlePerServer <= 0 {
		idlePerServer = defaultIdlePerServer
	}
	std := NewStdTransport(t, idlePerServer)
	tr := h1.New(h1.Options{
		ConnectTimeout:        t.Connect,
		ResponseHeaderTimeout: t.Read,
		WriteTimeout:          t.Send,
		BodyReadTimeout:       t.Read,
		MaxIdlePerHost:        idlePerServer,
		IdleTimeout:           60 * time.Second,
		Fallback:              std,
		TLS:                   c,
		TLSName:               name,
	})
	// Set before the transport carries anything.
	std.DialTLSContext = tr.DialTLSContext
	return tr
}

// isHandshakeError reports a TLS handshake with the server that failed:
// like a failed connect, nothing of the request was sent.
func isHandshakeError(err error) bool {
	return h1.IsHandshakeError(err) || errors.As(err, new(*uptls.Error))
}
