package runtime

import (
	"context"
	"net"
	"syscall"

	"github.com/limpet-lb/limpet/internal/config"
)

// This file opens listening sockets with the parameters of `listen` that
// shape the socket: reuseport, backlog= and so_keepalive= (nginx's
// ngx_open_listening_sockets and ngx_configure_listening_sockets). What
// needs the system's socket options is in sockopt_linux.go, with a
// fallback for other systems in sockopt_other.go.

// listenSocket listens on addr, a normalised "host:port", with the socket
// options of o, the listen directive that set them (the zero Listen when
// none did). It is what the runtime calls for every socket it binds.
func listenSocket(addr string, o config.Listen) (net.Listener, error) {
	lc := net.ListenConfig{
		// Go would turn keep-alive on for every accepted connection,
		// probing after 15s; nginx leaves the system's setting unless
		// so_keepalive says otherwise, and so does limpet.
		KeepAlive: -1,
		Control: func(network, address string, c syscall.RawConn) error {
			return beforeBind(c, o)
		},
	}
	setAcceptKeepalive(&lc, o.SoKeepalive)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := afterListen(ln.(*net.TCPListener), o); err != nil {
		_ = ln.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: ln.Addr(), Err: err}
	}
	return ln, nil
}
