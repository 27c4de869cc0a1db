package runtime

import (
	"context"
	"fmt"
	"log/slog"
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
			return setOptions(c, o)
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

// reconfigureSocket gives a socket that a reload keeps the socket options
// of the new configuration, as nginx does with the sockets it inherits:
// the backlog is set again (nginx's 511 when backlog= is gone), and
// SO_REUSEPORT and so_keepalive when given; an option the new
// configuration leaves out keeps its value. A failure is logged, as
// nginx logs it, and the socket serves on.
func (rt *Runtime) reconfigureSocket(s *socket, o config.Listen) {
	tl, ok := s.ln.(*net.TCPListener)
	if !ok {
		return
	}
	err := reapply(tl, o)
	if err != nil {
		rt.log.Warn(fmt.Sprintf("the socket options of %s are unchanged: %v", s.addr, err), slog.String("listen", s.addr))
	}
}

// reapply sets o on a listening socket.
func reapply(ln *net.TCPListener, o config.Listen) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	if err := setOptions(rc, o); err != nil {
		return err
	}
	return afterListen(ln, o)
}
