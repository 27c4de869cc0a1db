package runtime

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/limpet-lb/limpet/internal/config"
)

// defaultBacklog is nginx's NGX_LISTEN_BACKLOG on Linux: the listen
// queue without backlog=. Go would ask for net.core.somaxconn.
const defaultBacklog = 511

// setOptions sets the options that must be on the socket before bind(2)
// (SO_REUSEPORT) and those accepted connections inherit from it
// (SO_KEEPALIVE and the TCP_KEEP* times), as nginx sets them on the
// listening socket rather than on each connection. It runs before bind
// when the socket opens, and again on the bound socket at a reload.
func setOptions(c syscall.RawConn, o config.Listen) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		s := int(fd)
		set := func(level, opt, v int, name string) {
			if serr == nil {
				if err := unix.SetsockoptInt(s, level, opt, v); err != nil {
					serr = os.NewSyscallError("setsockopt("+name+")", err)
				}
			}
		}
		if o.ReusePort {
			set(unix.SOL_SOCKET, unix.SO_REUSEPORT, 1, "SO_REUSEPORT")
		}
		ka := o.SoKeepalive
		if ka == nil {
			return
		}
		on := 0
		if ka.Enable {
			on = 1
		}
		set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, on, "SO_KEEPALIVE")
		// Zero keeps the system's value, as in nginx.
		if ka.Idle > 0 {
			set(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(ka.Idle.Seconds()), "TCP_KEEPIDLE")
		}
		if ka.Interval > 0 {
			set(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(ka.Interval.Seconds()), "TCP_KEEPINTVL")
		}
		if ka.Count > 0 {
			set(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, ka.Count, "TCP_KEEPCNT")
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// setAcceptKeepalive has nothing to do on Linux: accepted connections
// inherit the listening socket's keep-alive options (setOptions).
func setAcceptKeepalive(lc *net.ListenConfig, ka *config.SoKeepalive) {}

// afterListen sets the listen queue's length. Go has called listen(2)
// with net.core.somaxconn; Linux lets listen(2) be called again on a
// listening socket to change only its backlog.
func afterListen(ln *net.TCPListener, o config.Listen) error {
	backlog := o.Backlog
	if backlog == 0 {
		backlog = defaultBacklog
	}
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		if err := unix.Listen(int(fd), backlog); err != nil {
			lerr = os.NewSyscallError("listen", err)
		}
	}); err != nil {
		return err
	}
	return lerr
}
