//go:build !linux

package runtime

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// setOptions refuses what this system's build cannot set: limpet sets
// SO_REUSEPORT and the listen backlog on Linux only. (so_keepalive is
// set on each accepted connection here, so a reload does not change it
// on a socket it keeps.)
func setOptions(c syscall.RawConn, o config.Listen) error {
	if o.ReusePort {
		return errors.New("reuseport is not supported on this platform")
	}
	if o.Backlog != 0 {
		return errors.New("backlog is not supported on this platform")
	}
	return nil
}

// setAcceptKeepalive sets so_keepalive on each accepted connection,
// through Go's portable keep-alive settings (a negative time keeps the
// system's value).
func setAcceptKeepalive(lc *net.ListenConfig, ka *config.SoKeepalive) {
	if ka == nil || !ka.Enable {
		return
	}
	keep := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	lc.KeepAliveConfig = net.KeepAliveConfig{
		Enable:   true,
		Idle:     time.Duration(keep(int(ka.Idle))),
		Interval: time.Duration(keep(int(ka.Interval))),
		Count:    keep(ka.Count),
	}
}

// afterListen has nothing to do here: the system's backlog is kept.
func afterListen(ln *net.TCPListener, o config.Listen) error { return nil }
