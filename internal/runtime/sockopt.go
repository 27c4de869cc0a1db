package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
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
	ln, err := lc.Listen(context.Background(), listenNetwork(addr, o), addr)
	if err != nil {
		return nil, err
	}
	if err := afterListen(ln.(*net.TCPListener), o); err != nil {
		_ = ln.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: ln.Addr(), Err: err}
	}
	return ln, nil
}

// listenNetwork is the network Go binds addr on so that the socket is
// nginx's: an IPv4 literal on IPv4 alone ("tcp4", so 0.0.0.0 is no
// dual-stack socket), an IPv6 one with IPV6_V6ONLY ("tcp6", Go sets it)
// unless ipv6only=off asks for a dual-stack socket ("tcp", on which Go
// clears it), a host name as Go resolves it.
func listenNetwork(addr string, o config.Listen) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "tcp"
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return "tcp"
	case ip.Is4():
		return "tcp4"
	case o.IPv6Only == config.IPv6OnlyOff:
		return "tcp"
	}
	return "tcp6"
}

// reconfigureSocket gives a socket that a reload keeps the socket options
// of the new configuration, as nginx does with the sockets it inherits:
// the backlog is set again (nginx's 511 when backlog= is gone), and
// SO_REUSEPORT and so_keepalive when given; an option the new
// configuration leaves out keeps its value. A failure is logged, as
// nginx logs it, and the socket serves on.
func (rt *Runtime) reconfigureSocket(s *socket, o config.Listen) {
	if (o.IPv6Only == config.IPv6OnlyOff) != s.dualStack {
		// IPV6_V6ONLY cannot change on a bound socket; nginx keeps
		// the socket as it is too, without a word.
		rt.log.Warn(fmt.Sprintf("the ipv6only of %s is unchanged until limpet restarts", s.addr), slog.String("listen", s.addr))
	}
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
